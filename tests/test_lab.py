"""The residual learning lab: tiny runs, batch order, stopping, data sources, describe, the CLI and its plot."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from resnet.cifar import CifarResNet, cifar_resnet
from resnet.devices import default_device
from tests.conftest import ROOT
from tests.textures import write_imagefolder
from train import lab
from train.data import DataError
from train.lab import data as lab_data
from train.lab.plot import COLOURS, plot_curves, sample_grid
from train.lab.twins import TwinResNet

TINY = lab.LabConfig(depths=(8, 14), steps=6, width=4, image_size=16)
NAMES = ["plain-8", "residual-8", "plain-14", "residual-14"]


def record_training_inputs(calls: list) -> "torch.utils.hooks.RemovableHandle":
    """A global pre-hook noting (network, input batch) for every training-mode forward of a CIFAR net.

    A ``TwinResNet`` is a plain net and its residual twin run as one: its input is each one's.
    """

    def hook(module, inputs):
        if isinstance(module, CifarResNet) and module.training:
            calls.append((id(module), inputs[0].detach().clone()))
        if isinstance(module, TwinResNet) and module.training:
            calls.extend(((id(module), half), inputs[0].detach().clone()) for half in ("plain", "residual"))

    return torch.nn.modules.module.register_module_forward_pre_hook(hook)


@pytest.fixture(scope="module")
def tiny():
    """A tiny run with every forward input recorded, and the progress events it sent."""
    calls, events = [], []
    handle = record_training_inputs(calls)
    try:
        result = lab.run(TINY, on_progress=events.append)
    finally:
        handle.remove()
    return result, calls, events


def batches_by_network(calls: list) -> list[list[torch.Tensor]]:
    nets: dict[int, list] = {}
    for key, x in calls:
        nets.setdefault(key, []).append(x)
    return list(nets.values())


def test_a_tiny_run_gives_curves_and_final_errors_for_every_network(tiny):
    result, _, _ = tiny
    assert list(result.networks) == NAMES and not result.stopped
    for name, net in result.networks.items():
        assert [s for s, _ in net.train_error] == list(range(1, 7)) == [s for s, _ in net.loss]
        assert all(0 <= e <= 1 for _, e in net.train_error) and all(v > 0 for _, v in net.loss)
        assert 0 <= net.final_train_error <= 1 and 0 <= net.held_out_error <= 1
        assert net.steps_done == 6 and net.seconds > 0
        assert net.params == sum(p.numel() for p in result.models[name].parameters())
        assert net.plain == name.startswith("plain") and net.depth == int(name.split("-")[1])
    assert result.settings["device"] == str(default_device())
    # The default data: the handwritten digits shipped with the package, a fifth of each digit held out.
    assert result.settings["data"] == "UCI handwritten digits" and result.settings["classes"] == [str(d) for d in range(10)]
    assert result.settings["train_images"] + result.settings["held_out_images"] == 1797
    assert result.settings["held_out_images"] == pytest.approx(1797 / 5, abs=10)


def test_the_first_batch_is_batch_order_s_and_the_first_point_is_the_untrained_nets_error_on_it(tiny):
    result, calls, _ = tiny
    data = lab.load_data(None, image_size=16, seed=0)
    index = next(lab.batch_order(len(data.train_y), 64, seed=0))
    x, y = data.normalizer()(data.train_x[index]), data.train_y[index]
    assert torch.equal(batches_by_network(calls)[0][0], x)
    for name in ("plain-14", "residual-14"):  # twins start from the same weights, drawn from the seed
        untrained = cifar_resnet(14, width=4, plain=name.startswith("plain"), num_classes=10, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            error = (untrained(x).argmax(1) != y).float().mean().item()
        assert result.networks[name].train_error[0] == (1, pytest.approx(error))


def test_every_network_sees_the_same_batches_in_the_same_order(tiny):
    _, calls, _ = tiny
    nets = batches_by_network(calls)
    assert len(nets) == 4 and all(len(batches) == 6 for batches in nets)
    for batches in nets[1:]:
        assert all(torch.equal(a, b) for a, b in zip(nets[0], batches))
    assert not torch.equal(nets[0][0], nets[0][1])


def test_the_batch_order_follows_the_seed_and_nothing_else(tiny):
    result, calls, _ = tiny
    short = replace(TINY, depths=(8,), steps=3)  # the first three steps of the same run, for one depth
    again, other = [], []
    torch.manual_seed(123)  # the global generator must not matter
    handle = record_training_inputs(again)
    try:
        repeat = lab.run(short)
    finally:
        handle.remove()
    handle = record_training_inputs(other)
    try:
        lab.run(replace(short, seed=1))
    finally:
        handle.remove()
    first, again, other = batches_by_network(calls)[0], batches_by_network(again), batches_by_network(other)
    assert len(again) == len(other) == 2 and all(len(batches) == 3 for batches in again + other)
    assert all(torch.equal(a, b) for batches in again for a, b in zip(first, batches))
    assert not any(torch.equal(a, b) for a, b in zip(first, other[0]))
    for name in ("plain-8", "residual-8"):
        assert repeat.networks[name].train_error[:3] == result.networks[name].train_error[:3]


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_twins_trained_as_one_network_take_exactly_the_steps_they_take_one_by_one(shortcut):
    """In float64, where rounding cannot hide a difference, ``_Twins`` (one ``TwinResNet``, one optimiser) and two
    ``_Single`` trainers end three SGD steps on the same batches with the same weights, statistics and losses."""
    from train.lab.experiment import _Single, _Twins

    def pair() -> list[CifarResNet]:
        return [cifar_resnet(14, width=4, plain=p, shortcut=shortcut, generator=torch.Generator().manual_seed(0)).double() for p in (True, False)]

    def results() -> list[lab.NetworkResult]:
        return [lab.NetworkResult(name, 14, name.startswith("plain"), 0) for name in ("plain-14", "residual-14")]

    stacked = _Twins(*pair(), tuple(results()), lr=0.1)
    singles = [_Single(net, result, lr=0.1) for net, result in zip(pair(), results())]
    data = lab.load_data(None, image_size=16, seed=0)
    order = lab.batch_order(len(data.train_y), 64, seed=0)
    for step in range(3):
        index = next(order)
        x, y = data.normalizer()(data.train_x[index]).double(), data.train_y[index]
        for trainer in (stacked, *singles):
            trainer.step(x, y, lab.lr_at(step, steps=3, lr=0.1, depth=14))
    for window, single, net in zip(stacked.windows, singles, stacked.trained()):
        assert list(window.losses) == pytest.approx(list(single.windows[0].losses), rel=1e-12)
        assert list(window.errors) == list(single.windows[0].errors)
        expected = single.model.state_dict()
        for key, value in net.state_dict().items():
            torch.testing.assert_close(value, expected[key], rtol=1e-10, atol=1e-12, msg=lambda m: f"{window.result.name} {key}: {m}")


def test_a_stacked_run_gives_the_curves_of_the_one_by_one_run():
    """The same run through ``lab.run`` both ways, in float32: the first steps' curves agree to rounding."""
    config = replace(TINY, steps=3)  # later, float rounding grows through SGD at lr 0.1 in the plain nets like any rounding
    one_by_one, stacked = lab.run(replace(config, stacked=False)), lab.run(config)
    assert list(stacked.networks) == list(one_by_one.networks) == NAMES
    for name in NAMES:
        a, b = one_by_one.networks[name], stacked.networks[name]
        assert b.loss[0][1] == pytest.approx(a.loss[0][1], rel=1e-5)  # the untrained nets: one forward pass each
        assert [v for _, v in b.loss] == pytest.approx([v for _, v in a.loss], rel=1e-3)
        assert [v for _, v in b.train_error] == pytest.approx([v for _, v in a.train_error], abs=1 / 64)  # one image in a batch at most
        assert b.steps_done == a.steps_done == 3 and b.seconds > 0


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_a_channels_last_twin_gets_every_relu_gradient_channels_last(shortcut):
    """The twin's reason to be is speed: a ReLU's backward given a contiguous gradient for its channels-last output
    runs several times slower. Only the pooling's gradient, before the last ReLU, may come back contiguous."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class ReluGradients(TorchDispatchMode):
        contiguous = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten.threshold_backward.default and not args[0].is_contiguous(memory_format=torch.channels_last):
                ReluGradients.contiguous += 1
            return func(*args, **(kwargs or {}))

    nets = [cifar_resnet(20, width=4, plain=p, shortcut=shortcut) for p in (True, False)]
    twin = TwinResNet(*nets).to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    with ReluGradients():
        twin(x).sum().backward()
    assert ReluGradients.contiguous == 1


def test_a_twin_network_computes_both_nets_and_refuses_a_mismatched_pair():
    generator = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    plain = cifar_resnet(14, width=4, plain=True, shortcut="B", generator=generator())
    residual = cifar_resnet(14, width=4, shortcut="B", generator=torch.Generator().manual_seed(4))
    twin, x = TwinResNet(plain, residual), torch.randn(5, 3, 16, 16)
    with torch.no_grad():
        both = twin(x)
        torch.testing.assert_close(both[:, 0], plain(x))
        torch.testing.assert_close(both[:, 1], residual(x))
    assert sum(p.numel() for p in twin.parameters()) == sum(p.numel() for net in (plain, residual) for p in net.parameters())
    with pytest.raises(ValueError, match="same depth"):
        TwinResNet(plain, cifar_resnet(20, width=4, generator=generator()))


def test_batch_order_is_a_fresh_permutation_each_epoch():
    order = lab.batch_order(10, 3, seed=5)
    epochs = [torch.cat([next(order) for _ in range(3)]) for _ in range(2)]  # 10 // 3 = 3 batches an epoch
    assert all(len(set(e.tolist())) == 9 for e in epochs)
    assert not torch.equal(epochs[0], epochs[1])
    assert torch.equal(next(lab.batch_order(10, 3, seed=5)), epochs[0][:3])
    with pytest.raises(ValueError, match="got 11"):
        lab.batch_order(10, 11, seed=0)


def test_progress_events_are_plain_dicts_for_every_network_and_step(tiny):
    _, _, events = tiny
    assert len(events) == 4 * 6
    assert {e["network"] for e in events} == set(NAMES)
    assert all(set(e) == {"network", "step", "steps", "train_error", "loss"} and e["steps"] == 6 for e in events)
    json.dumps(events)  # plain values only
    assert [e["step"] for e in events if e["network"] == "plain-14"] == list(range(1, 7))


def test_should_stop_ends_the_run_between_steps_with_partial_curves():
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 3  # three steps, then stop

    events = []
    result = lab.run(replace(TINY, steps=400), should_stop=should_stop, on_progress=events.append)  # a point every 2 steps
    assert result.stopped and len(asked) == 4
    for net in result.networks.values():
        assert net.steps_done == 3 and [s for s, _ in net.train_error] == [2, 3]  # the last point: where it stopped
        assert net.final_train_error is None and net.held_out_error is None
    assert [e["step"] for e in events if e["network"] == "residual-8"] == [2, 3]
    assert lab.describe(result)[0] == ("measure", {"final": False, "steps": 3, "smoothing": lab.SMOOTHING})
    assert "the run was stopped" in lab.describe_text(result)


def test_schedule_is_the_papers_with_a_warm_up_for_110_layers():
    assert [lab.lr_at(s, steps=800, lr=0.1, depth=56) for s in (0, 399, 400, 599, 600, 799)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert [lab.lr_at(s, steps=800, lr=0.1, depth=110) for s in (0, 39, 40)] == pytest.approx([0.01, 0.01, 0.1])


def test_the_shipped_digits_load_offline_from_inside_the_package():
    assert lab_data.DIGITS_FILE.parent == Path(lab.__file__).parent  # package data: an installed copy has it
    with np.load(lab_data.DIGITS_FILE) as stored:
        images, labels = stored["images"], stored["labels"]
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and images.max() == 16  # UCI's counts, 0..16
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    data = lab.load_data("digits", image_size=16, seed=0)
    assert data.classes == [str(d) for d in range(10)] and data.source == "UCI handwritten digits"
    assert data.train_x.shape == (1438, 3, 16, 16) and data.held_x.shape == (359, 3, 16, 16) and data.train_x.dtype == torch.uint8
    assert torch.equal(data.train_x[:, 0], data.train_x[:, 2]) and data.train_x.max() == 255  # grey, full range
    assert torch.bincount(data.held_y).tolist() == [round(n / 5) for n in np.bincount(labels)]  # a fifth of each digit
    # The held-out digits are other images than the training ones, and the split follows the seed.
    trained = {bytes(x.numpy()) for x in data.train_x}
    assert not any(bytes(x.numpy()) in trained for x in data.held_x)
    assert torch.equal(lab.load_data(None, image_size=16, seed=0).train_x, data.train_x)
    assert not torch.equal(lab.load_data(None, image_size=16, seed=1).train_y, data.train_y)
    assert lab.load_data(None, image_size=32, seed=0).train_x.shape == (1438, 3, 32, 32)


def test_the_lab_never_imports_scikit_learn():
    sources = [p for folder in ("resnet", "train", "ui") for p in (ROOT / folder).rglob("*.py")] + [ROOT / "app.py"]
    assert not [p.name for p in sources if "sklearn" in p.read_text(encoding="utf-8")]
    code = ("import sys, train.lab; train.lab.run(train.lab.LabConfig(depths=(8,), steps=2, width=4)); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_the_sample_grid_shows_a_row_of_training_images_per_class():
    data = lab.load_data(None, image_size=16, seed=0)
    grid = sample_grid(data, per_class=4, cell=16)
    assert grid.mode == "RGB" and grid.height == 10 * (16 + 2)
    label_width = grid.width - 4 * (16 + 2)
    first_three = data.train_x[(data.train_y == 3).nonzero()[0, 0]].permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(grid)[3 * 18 : 3 * 18 + 16, label_width : label_width + 16], first_three)
    patches = sample_grid(lab.load_data("patches", image_size=16, seed=0), per_class=4, cell=16)
    assert patches.height == 5 * 18  # five photos, five rows


def test_photo_patches_are_a_fixed_set_disjoint_from_the_held_out_one():
    a, b = lab.load_data("patches", image_size=16, seed=0), lab.load_data("patches", image_size=16, seed=0)
    assert torch.equal(a.train_x, b.train_x) and a.train_x.dtype == torch.uint8
    assert a.train_x.shape == (1280, 3, 16, 16) and a.held_x.shape == (320, 3, 16, 16)
    assert torch.bincount(a.train_y).tolist() == [256] * 5 and torch.bincount(a.held_y).tolist() == [64] * 5
    train = {bytes(x.numpy()) for x in a.train_x}
    assert not any(bytes(x.numpy()) in train for x in a.held_x)
    normalized = a.normalizer()(a.train_x)
    assert torch.allclose(normalized.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)


def class_folders_and_zip(tmp: Path, per_class: int, size: int) -> tuple[Path, Path]:
    """Three texture classes of ``per_class`` PNGs as ``tmp/train/<class>/``, and the same as ``tmp/set.zip``."""
    root = write_imagefolder(tmp, train_per_class=per_class, val_per_class=0, size=size) / "train"
    archive = tmp / "set.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(root.rglob("*.png")):
            z.write(path, path.relative_to(root).as_posix())
    return root, archive


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return class_folders_and_zip(tmp_path_factory.mktemp("lab"), 5, 40)


def test_a_folder_and_its_zip_give_the_same_resized_images(folder):
    root, archive = folder
    from_folder = lab.load_data(root, image_size=16, seed=0)
    from_zip = lab.load_data(archive, image_size=16, seed=0)
    assert from_folder.classes == from_zip.classes == ["brick", "grass", "gravel"]
    assert len(from_folder.train_y) == 12 and len(from_folder.held_y) == 3  # a fifth of each class held out
    first = np.array(ImageOps.fit(Image.open(root / "brick" / "000.png").convert("RGB"), (16, 16), Image.Resampling.BICUBIC))
    all_images = torch.cat([from_folder.train_x, from_folder.held_x])
    assert any(torch.equal(x.permute(1, 2, 0), torch.from_numpy(first)) for x in all_images)
    checksums = lambda d: sorted(int(x.sum()) for x in torch.cat([d.train_x, d.held_x]))  # noqa: E731
    assert checksums(from_folder) == checksums(from_zip)


def test_cifar10_that_cannot_be_downloaded_says_what_to_do(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("CIFAR10_ROOT", str(tmp_path))
    with pytest.raises(DataError) as e:
        lab.run(TINY, data="cifar10")
    message = str(e.value)
    assert "CIFAR-10 could not be fetched" in message and "network is unreachable" in message
    assert lab.CIFAR10_URL in message and f"{tmp_path}/cifar-10-batches-py" in message and "CIFAR10_ROOT" in message


@pytest.mark.parametrize("kwargs, bad", [({"depths": (20, 21)}, "got 21"), ({"image_size": 4}, "image_size.*got 4"), ({"shortcut": "C"}, "got 'C'"), ({"steps": 0}, "steps.*got 0"), ({"depths": ()}, r"got \[\]"), ({"batch_size": 2000}, "1438 training images, fewer than one batch of 2000")])
def test_bad_settings_are_refused_by_name(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        lab.run(replace(TINY, **kwargs))


def fake_result(plain_deep: float, residual_deep: float) -> lab.LabResult:
    nets = {}
    for name, error in (("plain-20", 0.22), ("residual-20", 0.20), ("plain-56", plain_deep), ("residual-56", residual_deep)):
        kind, depth = name.split("-")
        nets[name] = lab.NetworkResult(name, int(depth), kind == "plain", 1, [(800, error + 0.05)], [(800, 1.0)], error, 0.3, 1.0, 800)
    return lab.LabResult(nets, {"depths": [20, 56], "smoothing": lab.SMOOTHING})


def test_describe_reports_degradation_and_the_residual_twin_with_the_papers_numbers():
    messages = lab.describe(fake_result(0.55, 0.16))
    codes = dict(messages)
    assert codes["plain_deeper_worse"] == {"shallow": 20, "deep": 56, "shallow_error": 0.22, "deep_error": 0.55, "difference": pytest.approx(0.33)}
    assert [p for c, p in messages if c == "residual_better"][1] == {"depth": 56, "plain_error": 0.55, "residual_error": 0.16, "difference": pytest.approx(0.39)}
    assert [p["test_error_percent"] for c, p in messages if c == "paper_resnet"] == [8.75, 6.97]
    assert "long_training" not in codes and codes["measure"]["final"] is True  # residual-56 already below residual-20
    text = lab.describe_text(fake_result(0.55, 0.16))
    assert "plain-56 ends with a higher training error than plain-20 (55.0% vs 22.0%, +33.0%)" in text
    assert "6.97%" in text and "0.85M" in text


def test_describe_says_when_the_phenomenon_did_not_show():
    codes = [c for c, _ in lab.describe(fake_result(0.10, 0.30))]
    assert "plain_deeper_not_worse" in codes and "residual_not_better" in codes and "plain_deeper_worse" not in codes
    assert "long_training" in codes  # residual-56 above residual-20: it overtakes only after long training
    assert "No degradation this time" in lab.describe_text(fake_result(0.10, 0.30))


def colours_in(image: Image.Image) -> set:
    return {c for _, c in image.getcolors(maxcolors=1 << 20)}


def test_the_plot_has_a_panel_each_for_plain_and_residual_nets_with_a_line_per_depth():
    image = plot_curves(fake_result(0.55, 0.16))
    left, right = image.crop((0, 0, 500, 400)), image.crop((500, 0, 1000, 400))
    for panel in (left, right):
        assert {COLOURS[0], COLOURS[1]} <= colours_in(panel)
        assert COLOURS[2] not in colours_in(panel)


def test_the_cli_writes_json_with_the_fields_of_lab_result_and_a_png(tmp_path):
    out, plot = tmp_path / "lab.json", tmp_path / "lab.png"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    args = ["--depths", "8", "14", "--steps", "4", "--width", "4", "--image-size", "16", "--out", str(out), "--plot", str(plot)]
    proc = subprocess.run([sys.executable, "-m", "train.lab", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "plain-14" in proc.stderr and "4/4" in proc.stderr  # one tqdm bar per network
    assert "plain-14" in proc.stdout and "Fig. 6" in proc.stdout
    saved = json.loads(out.read_text())
    assert set(saved) == {f.name for f in fields(lab.LabResult)} - {"models"}
    assert list(saved["networks"]) == NAMES and saved["settings"]["steps"] == 4 and saved["stopped"] is False
    assert set(saved["networks"]["residual-8"]) == {f.name for f in fields(lab.NetworkResult)}
    assert [s for s, _ in saved["networks"]["residual-8"]["train_error"]] == [1, 2, 3, 4]
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size == (1000, 400)
        assert {COLOURS[0], COLOURS[1]} <= colours_in(image.convert("RGB"))


def test_the_cli_reports_bad_data_as_an_error(tmp_path, capsys):
    assert lab.main(["--data", str(tmp_path / "missing"), "--steps", "1", "--no-progress"]) == 2
    assert "no folder at" in capsys.readouterr().err


def test_the_lab_imports_no_gradio():
    code = "import sys, resnet.cifar, train.lab, train.lab.plot; print(sorted(m for m in sys.modules if m.split('.')[0] in ('gradio', 'app', 'ui')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
