"""The paper's CIFAR-10 nets: Table 6's parameter counts, shortcuts A and B, plain twins, shapes and summaries."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import resnet
from resnet.cifar import CifarResNet, PadShortcut, cifar_resnet

# He et al. 2016, Table 6: parameters of the option-A ResNets at the paper's width.
PAPER_PARAMS = {20: "0.27", 32: "0.46", 44: "0.66", 56: "0.85", 110: "1.7"}


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("depth", list(PAPER_PARAMS))
def test_option_a_parameter_counts_match_the_papers_table_6(depth):
    assert f"{count(resnet.cifar.cifar_resnet(depth)) / 1e6:.2g}" == PAPER_PARAMS[depth]


def test_the_1202_layer_net_has_the_papers_19_4_million_parameters():
    with torch.device("meta"):  # only the count is wanted: no memory, no initialisation
        model = CifarResNet(200)
    assert model.depth == 1202
    assert f"{count(model) / 1e6:.3g}" == "19.4"


@pytest.mark.parametrize("depth", [20, 56])
def test_depth_counts_weighted_layers_and_their_filters_are_16_32_64(depth):
    model = cifar_resnet(depth)
    convs3 = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs3) + len(linears) == depth
    assert sorted({m.out_channels for m in convs3}) == [16, 32, 64]
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)


@pytest.mark.parametrize("width", [4, 16])
def test_plain_twin_has_the_same_layers_and_count_as_option_a_and_no_shortcuts(width):
    residual, plain = cifar_resnet(20, width=width), cifar_resnet(20, width=width, plain=True)
    assert count(plain) == count(residual)
    assert [(k, v.shape) for k, v in plain.state_dict().items()] == [(k, v.shape) for k, v in residual.state_dict().items()]
    assert all(block.shortcut is None and not block.residual for stage in (plain.layer1, plain.layer2, plain.layer3) for block in stage)
    pads = [m for m in residual.modules() if isinstance(m, PadShortcut)]
    assert [(p.planes, p.stride) for p in pads] == [(2 * width, 2), (4 * width, 2)]  # only where the shape changes
    assert all(count(p) == 0 for p in pads)


@pytest.mark.parametrize("width", [8, 16])
def test_option_b_adds_exactly_the_two_projections(width):
    a, b = cifar_resnet(32, width=width), cifar_resnet(32, width=width, shortcut="B")
    # 1x1 conv (in x out weights) + BatchNorm (scale and shift) at 16->32 and 32->64 filters (for width 16).
    projections = (width * 2 * width + 2 * 2 * width) + (2 * width * 4 * width + 2 * 4 * width)
    assert count(b) - count(a) == projections
    assert count(cifar_resnet(32, width=width, shortcut="B", plain=True)) == count(a)
    assert [name for name, m in b.named_modules() if name.endswith("shortcut")] == ["layer2.0.shortcut", "layer3.0.shortcut"]
    assert isinstance(b.layer2[0].shortcut[0], nn.Conv2d) and b.layer2[0].shortcut[0].stride == (2, 2)


def test_option_a_shortcut_subsamples_and_pads_with_zeros():
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    out = PadShortcut(8, 2)(x)
    assert out.shape == (2, 8, 4, 4)
    assert torch.equal(out[:, :4], x[:, :, ::2, ::2])
    assert not out[:, 4:].any()


@pytest.mark.parametrize("plain", [False, True])
def test_a_block_adds_the_shortcut_to_bn2s_output_before_the_last_relu(plain):
    model = cifar_resnet(20, width=4, plain=plain, generator=torch.Generator().manual_seed(0)).eval()
    block = model.layer2[0]  # the strided block, with a zero-padding shortcut
    seen = {}
    handles = [block.bn2.register_forward_hook(lambda m, i, o: seen.__setitem__("branch", o.clone())),
               block.register_forward_hook(lambda m, i, o: seen.update(x=i[0], out=o))]
    try:
        with torch.no_grad():
            model(torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    finally:
        for h in handles:
            h.remove()
    shortcut = 0 if plain else F.pad(seen["x"][:, :, ::2, ::2], (0, 0, 0, 0, 0, 4))
    assert torch.allclose(seen["out"], torch.relu(seen["branch"] + shortcut))


@pytest.mark.parametrize("size, shortcut", [(32, "A"), (16, "A"), (16, "B")])
def test_output_and_feature_shapes(size, shortcut):
    model = cifar_resnet(20, num_classes=7, shortcut=shortcut, generator=torch.Generator().manual_seed(0)).eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feats = model.forward_features(x)
        pooled = model.forward_head(feats, pre_logits=True)
        logits = model.forward_head(feats)
        assert torch.allclose(model(x), logits)
        assert torch.allclose(pooled, feats.mean(dim=(2, 3)), atol=1e-6)
        assert torch.allclose(model.fc(pooled), logits)
    assert feats.shape == (2, 64, size // 4, size // 4)
    assert pooled.shape == (2, 64) and logits.shape == (2, 7)


def test_summarize_groups_stages_and_blocks_and_totals_the_parameters():
    model = cifar_resnet(20, width=8, shortcut="B")
    full = resnet.summarize(model, (1, 3, 32, 32))
    assert full.total_params == count(model)
    assert "layer2.0.shortcut.0" in [r.name for r in full.rows]
    stages = resnet.summarize(model, (1, 3, 32, 32), depth=1)
    assert [r.name for r in stages.rows] == ["conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "fc"]
    assert [r.output_shape for r in stages.rows if r.name.startswith("layer")] == [(1, 8, 32, 32), (1, 16, 16, 16), (1, 32, 8, 8)]
    assert sum(r.params for r in stages.rows) == count(model)
    blocks = [r.name for r in resnet.summarize(model, (1, 3, 32, 32), depth=2).rows if r.name.startswith("layer")]
    assert blocks == [f"layer{s}.{b}" for s in (1, 2, 3) for b in range(3)]


def test_generator_makes_weights_repeatable_and_leaves_the_global_generator_alone():
    state = torch.get_rng_state()
    a = cifar_resnet(20, width=4, generator=torch.Generator().manual_seed(3))
    b = cifar_resnet(20, width=4, generator=torch.Generator().manual_seed(3))
    c = cifar_resnet(20, width=4, generator=torch.Generator().manual_seed(4))
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    # Twins drawn from equal generators start from equal weights (option A: the same modules in the same order).
    p = cifar_resnet(20, width=4, plain=True, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), p.state_dict().values()))


@pytest.mark.parametrize("depth", [0, 14.5, 21, 22, 2])
def test_a_depth_that_is_not_6n_plus_2_is_refused_by_name(depth):
    with pytest.raises(ValueError, match=f"6n\\+2.*got {depth}"):
        cifar_resnet(depth)


def test_bad_shortcut_and_width_are_refused_by_name():
    with pytest.raises(ValueError, match="'C'"):
        cifar_resnet(20, shortcut="C")
    with pytest.raises(ValueError, match="0"):
        cifar_resnet(20, width=0)
    with pytest.raises(ValueError, match=r"\(2, 1, 32, 32\)"):
        cifar_resnet(20)(torch.zeros(2, 1, 32, 32))
