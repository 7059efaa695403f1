"""Inside the network: stage outputs and layer responses equal torchvision's with the same weights; hooks never stay behind; the pictures show what they claim."""

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

import resnet
from resnet.anatomy.inspect import (
    describe_responses,
    layer_responses,
    never_trained,
    plain_twin,
    stage_outputs,
    top_channels,
)
from resnet.anatomy.views import feature_grid, filter_tiles, response_plot
from resnet.cifar import cifar_resnet
from resnet.model import ResNet
from resnet.transforms import load_image
from tests.hubcache import randomize_norms

SVG = "{http://www.w3.org/2000/svg}"


def seeded(arch: str, **kwargs) -> ResNet:
    """Our network with seeded weights and informative BatchNorm statistics."""
    return randomize_norms(resnet.build(arch, generator=torch.Generator().manual_seed(0), **kwargs), seed=1)


def torchvision_twin(model: nn.Module, arch: str) -> nn.Module:
    """``torchvision.models.<arch>`` holding ``model``'s weights (built on the meta device: no global draws), in eval mode."""
    with torch.device("meta"):
        tv = getattr(torchvision.models, arch)()
    tv = tv.to_empty(device="cpu")
    tv.load_state_dict(model.state_dict(), strict=True)
    return tv.eval()


def batch(size: int = 64, n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(2))


def no_hooks(model: nn.Module) -> bool:
    return not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_stage_outputs_equal_torchvisions_feature_extractor_exactly(arch):
    ours = seeded(arch).train()
    running = {k: v.clone() for k, v in ours.state_dict().items()}
    extractor = create_feature_extractor(torchvision_twin(ours, arch), {"maxpool": "stem", **{f"layer{i}": f"layer{i}" for i in range(1, 5)}})
    x = batch()
    with torch.no_grad():
        expected = extractor(x)
    got = stage_outputs(ours, x)
    assert list(got) == ["stem", "layer1", "layer2", "layer3", "layer4"]
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    # Measured in eval mode and handed back in training mode, with no BatchNorm statistic updated.
    assert ours.training and no_hooks(ours)
    assert all(torch.equal(v, running[k]) for k, v in ours.state_dict().items())


def test_stage_outputs_of_a_cifar_net_are_its_stem_and_three_stages():
    model = cifar_resnet(20, generator=torch.Generator().manual_seed(0)).eval()
    randomize_norms(model, seed=1)
    x = batch(32)
    got = stage_outputs(model, x)
    with torch.no_grad():
        stem = model.relu(model.bn1(model.conv1(x)))
        layer1 = model.layer1(stem)
        layer2 = model.layer2(layer1)
        layer3 = model.layer3(layer2)
    assert list(got) == ["stem", "layer1", "layer2", "layer3"]
    for key, value in {"stem": stem, "layer1": layer1, "layer2": layer2, "layer3": layer3}.items():
        assert torch.equal(got[key], value), key
    assert got["layer3"].shape == (2, 64, 8, 8)


def hand_placed_responses(tv: nn.Module, x: torch.Tensor) -> list[tuple[str, float]]:
    """Std of the BatchNorm output after each 3x3 conv, from hooks placed here on torchvision's blocks."""
    seen = []
    handles = []
    for name, m in tv.named_modules():
        pairs = {"conv1": m.bn1, "conv2": m.bn2} if isinstance(m, torchvision.models.resnet.BasicBlock) else {}
        if isinstance(m, torchvision.models.resnet.Bottleneck):
            pairs = {"conv2": m.bn2}
        for conv, bn in pairs.items():
            handles.append(bn.register_forward_hook(lambda mod, i, o, n=f"{name}.{conv}": seen.append((n, o.std().item()))))
    with torch.no_grad():
        tv(x)
    for h in handles:
        h.remove()
    return seen


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_layer_responses_equal_hooks_placed_by_hand_on_torchvision(arch):
    ours = seeded(arch)
    x = batch()
    expected = hand_placed_responses(torchvision_twin(ours, arch), x)
    got = layer_responses(ours, x)
    assert [n for n, _ in got] == [n for n, _ in expected]
    assert len(got) == 16  # resnet18: 8 blocks x two 3x3 convs; resnet50: 16 blocks x one
    for (name, value), (_, reference) in zip(got, expected):
        assert value == pytest.approx(reference, abs=1e-5), name
    assert ours.training and no_hooks(ours)


def test_layer_responses_of_a_cifar_net_start_at_its_3x3_stem():
    model = cifar_resnet(20, generator=torch.Generator().manual_seed(0))
    names = [n for n, _ in layer_responses(model, batch(32))]
    assert len(names) == 19 and names[:3] == ["conv1", "layer1.0.conv1", "layer1.0.conv2"] and names[-1] == "layer3.2.conv2"


@pytest.mark.parametrize("measure", [stage_outputs, layer_responses])
def test_hooks_are_removed_and_modes_restored_when_the_forward_pass_fails(measure, monkeypatch):
    model = resnet.build("resnet18", generator=torch.Generator().manual_seed(0)).train()
    model.layer3.eval()
    modes = [m.training for m in model.modules()]
    with pytest.raises(ValueError, match="too small"):
        measure(model, torch.zeros(1, 3, 8, 8))
    assert no_hooks(model) and [m.training for m in model.modules()] == modes

    def broken(x):  # fails halfway, after the stem's and layer1's hooks have run
        raise RuntimeError("layer2 failed")

    monkeypatch.setattr(model.layer2, "forward", broken)
    with pytest.raises(RuntimeError, match="layer2 failed"):
        measure(model, batch())
    assert no_hooks(model) and [m.training for m in model.modules()] == modes
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        measure(model, torch.zeros(3, 64, 64))


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_plain_twin_has_no_shortcuts_and_the_same_weights_everywhere_else(arch):
    model = seeded(arch).eval()
    before = torch.get_rng_state()
    twin = plain_twin(model)
    assert torch.equal(torch.get_rng_state(), before)  # built on the meta device: nothing drawn
    assert not twin.training and twin.plain
    assert not any(name.endswith("downsample") and m is not None for name, m in twin.named_modules())
    assert all(b.downsample is None and not b.residual for s in (twin.layer1, twin.layer2, twin.layer3, twin.layer4) for b in s)
    ours, theirs = model.state_dict(), twin.state_dict()
    with torch.device("meta"):  # only the names are needed
        assert list(theirs) == list(resnet.build(arch, plain=True).state_dict())
    assert set(ours) - set(theirs) == {k for k in ours if ".downsample." in k} != set()
    assert all(torch.equal(v, ours[k]) for k, v in theirs.items())
    # Same layers, no additions: the responses line up layer by layer and differ.
    x = batch()
    residual, plain = layer_responses(model, x), layer_responses(twin, x)
    assert [n for n, _ in residual] == [n for n, _ in plain] and residual != plain


def test_plain_twin_of_a_cifar_net_and_of_other_classes():
    model = cifar_resnet(20, shortcut="B", generator=torch.Generator().manual_seed(0))
    twin = plain_twin(model)
    assert twin.plain and all(b.shortcut is None for s in (twin.layer1, twin.layer2, twin.layer3) for b in s)
    assert set(model.state_dict()) - set(twin.state_dict()) == {k for k in model.state_dict() if ".shortcut." in k}
    with pytest.raises(TypeError, match="Linear"):
        plain_twin(nn.Linear(2, 2))


def test_feature_grid_shows_the_channels_with_the_highest_mean_each_at_its_own_place():
    # Channel c: a constant base[c] plus one hot pixel at spot[c]; the means rank 4, 1, 5, 3, 0, 2.
    base = [0.0, 0.5, -1.0, 0.1, 0.9, 0.3]
    spot = [(0, 0), (1, 2), (3, 3), (2, 1), (3, 0), (0, 3)]
    fmap = torch.tensor(base)[:, None, None].repeat(1, 4, 4)
    for c, (r, q) in enumerate(spot):
        fmap[c, r, q] += 1.0
    assert top_channels(fmap, 3) == [4, 1, 5]
    grid = feature_grid(fmap, top=3, size=32, columns=2, labels=False)
    assert grid.size == (2 * 32 + 2, 2 * 32 + 2)
    pixels = np.asarray(grid).astype(int)
    for i, channel in enumerate([4, 1, 5]):
        tile = pixels[(i // 2) * 34 : (i // 2) * 34 + 32, (i % 2) * 34 : (i % 2) * 34 + 32].sum(axis=2)
        r, q = np.unravel_index(tile.argmax(), tile.shape)
        assert (r // 8, q // 8) == spot[channel], channel  # 4x4 map upsampled 8 times: the hot pixel's square
    assert (pixels[34:, 34:] == 255).all()  # the fourth place is empty
    labelled = np.asarray(feature_grid(fmap, top=3, size=32, columns=2)).astype(int)
    changed = np.argwhere((labelled != pixels).any(axis=2))
    assert len(changed) and (changed % 34 < 20).all()  # captions only in each tile's top-left corner
    assert feature_grid(fmap, size=(20, 30)).size == (4 * 30 + 3 * 2, 2 * 20 + 2)  # top 16 of 6: all, in 2 rows
    with pytest.raises(ValueError, match=r"\(1, 6, 4, 4\)"):
        feature_grid(fmap[None])


def test_filter_tiles_shows_each_of_the_64_filters_scaled_to_its_own_range():
    weight = resnet.build("resnet18", generator=torch.Generator().manual_seed(0)).conv1.weight
    image = filter_tiles(weight, scale=4)
    assert image.size == (8 * 28 + 7 * 2, 8 * 28 + 7 * 2)
    pixels = np.asarray(image).astype(int)
    for k in range(64):
        y, x = (k // 8) * 30, (k % 8) * 30
        tile = pixels[y : y + 28 : 4, x : x + 28 : 4]
        w = weight[k].detach().permute(1, 2, 0).numpy()
        expected = np.round((w - w.min()) / (w.max() - w.min()) * 255)
        assert np.abs(tile - expected).max() <= 1, k
        assert (pixels[y : y + 28, x : x + 28] == np.repeat(np.repeat(tile, 4, 0), 4, 1)).all()
    assert (pixels[28:30] == 255).all() and (pixels[:, 28:30] == 255).all()  # the gaps
    cifar = filter_tiles(cifar_resnet(20, generator=torch.Generator().manual_seed(0)).conv1.weight)
    assert cifar.size == (8 * 12 + 7 * 2, 2 * 12 + 2)  # 16 filters of 3x3
    with pytest.raises(ValueError, match=r"\(64, 1, 7, 7\)"):
        filter_tiles(weight[:, :1])


def test_response_plot_is_an_offline_svg_with_one_point_per_layer():
    residual = [(f"l{i}", 0.5 + 0.01 * i) for i in range(10)]
    plain = [(f"l{i}", 1.0 + 0.1 * i) for i in range(10)]
    svg = response_plot(residual, plain, legend=("ResNet", "<plain>"))
    root = ET.fromstring(svg)
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "") and "<script" not in svg
    lines = {e.get("class"): e for e in root.iter(SVG + "polyline")}
    points = {k: [tuple(map(float, p.split(","))) for p in e.get("points").split()] for k, e in lines.items()}
    assert set(points) == {"series residual", "series plain"} and all(len(p) == 10 for p in points.values())
    for (xr, yr), (xp, yp), (_, r), (_, p) in zip(points["series residual"], points["series plain"], residual, plain):
        assert xr == xp and yr > yp  # the residual net's smaller std sits lower
    assert [x for x, _ in points["series plain"]] == sorted(x for x, _ in points["series plain"])
    assert "<plain>" in "".join(root.itertext())
    with pytest.raises(ValueError, match="same layers"):
        response_plot(residual, plain[:-1])


def test_describe_responses_says_which_net_responds_less():
    plain = [(f"l{i}", 1.0) for i in range(5)]
    code, params = describe_responses([(n, 0.6) for n, _ in plain], plain)
    assert code == "responses_smaller" and params == {"share": 1.0, "median_ratio": pytest.approx(0.6), "layers": 5}
    assert describe_responses([(n, 2.0) for n, _ in plain], plain)[0] == "responses_larger"
    mixed = [("l0", 0.5), ("l1", 0.5), ("l2", 2.0), ("l3", 2.0), ("l4", 1.0)]
    assert describe_responses(mixed, plain) == ("responses_mixed", {"share": 0.4, "median_ratio": 1.0, "layers": 5})
    assert math.isinf(describe_responses([("a", 1.0)], [("a", 0.0)])[1]["median_ratio"])
    with pytest.raises(ValueError, match="same layers"):
        describe_responses(plain, [("x", 1.0)] * 5)


def test_a_photo_through_a_net_and_its_plain_twin(photos_dir):
    from resnet.transforms import Preprocessing, eval_transform

    model = seeded("resnet18").eval()
    x = eval_transform(Preprocessing(crop_size=64, resize_size=72))(load_image(photos_dir / "chelsea.png"))[None]
    residual, plain = layer_responses(model, x), layer_responses(plain_twin(model), x)
    code, params = describe_responses(residual, plain)
    assert code in {"responses_smaller", "responses_larger", "responses_mixed"} and params["layers"] == 16
    grid = feature_grid(stage_outputs(model, x)["layer1"][0], top=8, size=64)
    assert grid.size == (4 * 64 + 3 * 2, 2 * 64 + 2)
    assert ET.fromstring(response_plot(residual, plain)).tag == SVG + "svg"


def test_never_trained_tells_weights_straight_from_their_initialisation_from_trained_ones():
    fresh = resnet.build("resnet18", generator=torch.Generator().manual_seed(0))
    assert never_trained(fresh) and never_trained(cifar_resnet(20, generator=torch.Generator().manual_seed(0)))
    fresh.train()(batch())  # one training-mode batch moves every running statistic
    assert not never_trained(fresh)
    assert not never_trained(seeded("resnet18"))  # as the test checkpoints: statistics set by hand
    almost = resnet.build("resnet18", generator=torch.Generator().manual_seed(0))
    almost.layer4[1].bn2.running_var[7] = 0.5  # a single moved statistic is enough
    assert not never_trained(almost)
    assert not never_trained(nn.Linear(2, 2))  # no BatchNorm: nothing to tell by

