"""The GPU training path, device-generic: run here on the CPU, on CUDA with RESNET_TEST_DEVICE=cuda.

Tests that take the ``device`` fixture run wherever RESNET_TEST_DEVICE points (default cpu), so
the device pipeline cannot rot on machines without a GPU; ``@pytest.mark.gpu`` tests check what
only CUDA has (fused optimisers, free-memory checks, compiled kernels) and are skipped elsewhere.
"""

import inspect
import json
import os
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

import resnet
import train
from benchmarks.gpu import make_tiny_imagenet
from resnet.devices import autocast_dtype, fast_dtype
from resnet.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, eval_transform
from tests.conftest import ROOT
from tests.hubcache import randomize_norms
from tests.textures import patches
from train import lab
from train.__main__ import main as train_main, parse_args
from train.augment import AugmentedSubset, RandomCropFlip
from train.data import BatchOrder, TransformedSubset, Uint8Image, auto_workers, decode_to_tensors, in_memory, make_loader
from train.config import TrainConfig
from train.device_augment import BatchAugment, DeviceTransforms
from train.pipeline import DeviceTensorSet, PipelineConfig, data_fits, prepare_inputs
from train.loop import Checkpoints, FitOptions, Hooks, fit
from train.schedule import make_optimizer
from train.presets import PRESETS
from resnet.checkpoints.config import ModelConfig

RAW = {"mean": (0.0, 0.0, 0.0), "std": (1 / 255, 1 / 255, 1 / 255)}  # "normalising" with these leaves pixel values as they are
TOLERANCE = {torch.bfloat16: 2e-2, torch.float16: 3e-3}  # relative error of logits computed in that precision


def fp32_tolerance(device: torch.device) -> float:
    # CUDA convolutions run in TF32 by default (cuDNN's allow_tf32): about 1e-3 relative, not fp32's 1e-6.
    return 3e-3 if device.type == "cuda" else 1e-5


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.double() - ref.double()).norm() / ref.double().norm())


def random_pixels(shape: tuple[int, ...], device: torch.device, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)).to(device)


def texture_set(device: torch.device, per_class: int = 4, size: int = 32) -> DeviceTensorSet:
    """Two texture classes as a DeviceTensorSet of uint8 ``size`` px patches, decoded through the real decoder."""
    data = in_memory({k: v for k, v in patches("train", per_class, size=size).items() if k != "gravel"}, max_images=64)
    images, targets = decode_to_tensors(TransformedSubset(data, range(len(data)), Uint8Image()), batch_size=3)
    return DeviceTensorSet(images.to(device), targets.to(device), classes=data.classes)


def transforms_for(size: int, mode: str = "random-resized-crop") -> DeviceTransforms:
    common = {"size": size, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    return DeviceTransforms(train=BatchAugment(mode, scale=(0.5, 1.0), **common), eval=BatchAugment("none", **common))


@pytest.fixture
def deterministic():
    """cuDNN's deterministic kernels for the test (a no-op on the CPU); the previous settings come back after it."""
    before = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before


# --- augmentation on the device ---------------------------------------------------------------


def test_random_resized_crop_resamples_the_box_torchvision_would_crop(device):
    from torchvision.transforms.v2 import functional as F

    images = random_pixels((6, 3, 48, 40), device)
    augment = BatchAugment("random-resized-crop", size=24, **RAW)
    out = augment(images, torch.Generator(device=device).manual_seed(3))
    replay = torch.Generator(device=device).manual_seed(3)  # the same draws, in the same order: boxes, then flips
    top, left, height, width = augment.boxes(6, 48, 40, replay)
    flips = torch.rand(6, generator=replay, device=device) < 0.5
    assert 0 < int(flips.sum()) < 6 and len(set(width.tolist())) > 1
    for i in range(6):
        box = [int(v) for v in (top[i], left[i], height[i], width[i])]
        expected = F.resized_crop(images[i].float(), *box, [24, 24], antialias=False)
        expected = expected.flip(-1) if flips[i] else expected
        # Inside, both sample the same points; at the edge torchvision clamps to the box, we read on past it.
        assert torch.allclose(out[i, :, 2:-2, 2:-2], expected[:, 2:-2, 2:-2], atol=1e-3), i


def test_crop_boxes_stay_inside_follow_the_ranges_and_the_generator():
    augment = BatchAugment("random-resized-crop", size=8, **RAW)
    top, left, h, w = augment.boxes(4000, 64, 48, torch.Generator().manual_seed(0))
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 64).all() and (left + w <= 48).all()
    share = h * w / (64 * 48)
    assert share.min() >= 0.07 and share.max() <= 1 and share.min() < 0.12 and share.max() > 0.9
    assert ((w + 0.5) / (h - 0.5) >= 3 / 4).all() and ((w - 0.5) / (h + 0.5) <= 4 / 3).all()  # the ratio range, up to rounding
    again = augment.boxes(4000, 64, 48, torch.Generator().manual_seed(0))
    other = augment.boxes(4000, 64, 48, torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip((top, left, h, w), again)) and not torch.equal(top, other[0])
    # Strips no crop of the whole area fits in: torchvision's fallback, the widest centred box within the ratio range,
    # as the CPU pipeline's RandomCropFlip computes it.
    whole = BatchAugment("random-resized-crop", size=8, scale=(1.0, 1.0), **RAW)
    assert [set(v.tolist()) for v in whole.boxes(50, 4, 64, torch.Generator().manual_seed(0))] == [{0.0}, {29.0}, {4.0}, {5.0}]
    cpu = RandomCropFlip(Preprocessing(), scale=(1.0, 1.0))
    for width, height in ((64, 4), (4, 64), (100, 7), (7, 100), (33, 2)):
        expected = cpu.box(width, height, torch.Generator().manual_seed(0))
        assert tuple(int(v[0]) for v in whole.boxes(1, height, width, torch.Generator().manual_seed(0))) == expected


def test_random_crop_copies_a_window_of_the_zero_padded_image_exactly(device):
    images = random_pixels((24, 3, 12, 12), device, seed=1)
    out = BatchAugment("random-crop", size=12, padding=3, **RAW)(images, torch.Generator(device=device).manual_seed(0))
    padded = nn.functional.pad(images, (3, 3, 3, 3)).float()
    found = []
    for i in range(24):
        matches = [(dy, dx, flip) for dy in range(7) for dx in range(7) for flip in (False, True)
                   if torch.equal(out[i], (lambda w: w.flip(-1) if flip else w)(padded[i, :, dy : dy + 12, dx : dx + 12]))]
        assert matches, f"image {i} is not a window of its padded original"
        found.append(matches[0])
    assert len({(dy, dx) for dy, dx, _ in found}) > 5 and {flip for *_, flip in found} == {False, True}


def test_no_augmentation_is_the_tutorials_resize_totensor_normalize(device):
    from torchvision import transforms

    photos = patches("train", 3, size=64)["brick"]
    tutorial = transforms.Compose([transforms.Resize(224), transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    expected = torch.stack([tutorial(p) for p in photos])
    # The CPU pipeline's no-augmentation view (what --preset seed-tiny-imagenet trains on) is the tutorial's, bit for bit.
    ours = eval_transform(Preprocessing(crop_size=224, resize_size=224))
    assert all(torch.equal(ours(p), e) for p, e in zip(photos, expected))
    # On the device: resized in floats, not in Pillow's 8-bit fixed point, so within a step of 1/255 of the range.
    uint8 = torch.stack([Uint8Image()(p) for p in photos]).to(device)
    out = BatchAugment("none", size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)(uint8).cpu()
    assert (out - expected).abs().max() < 0.03 and (out - expected).abs().mean() < 0.005


def test_augmentation_refuses_what_it_cannot_use(device):
    augment = BatchAugment("random-resized-crop", size=8, **RAW)
    with pytest.raises(ValueError, match="float32"):
        augment(torch.zeros(2, 3, 8, 8, device=device), torch.Generator(device=device))
    with pytest.raises(ValueError, match="needs a generator"):
        augment(torch.zeros(2, 3, 8, 8, dtype=torch.uint8, device=device))
    with pytest.raises(ValueError, match="'blur'"):
        BatchAugment("blur", size=8, **RAW)
    with pytest.raises(ValueError, match="does not fit"):
        BatchAugment("random-crop", size=20, padding=2, **RAW)(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.Generator())


# --- data on the device -----------------------------------------------------------------------


def test_device_set_batches_follow_seed_and_epoch_and_share_equally_between_ranks(device):
    data = DeviceTensorSet(torch.zeros(10, 3, 2, 2, dtype=torch.uint8, device=device), torch.arange(10, device=device))
    order = lambda **kw: torch.cat([y for _, y in data.batches(3, shuffle=True, order=BatchOrder(seed=4, **kw))]).tolist()  # noqa: E731
    assert sorted(order(epoch=0)) == list(range(10)) and order(epoch=0) == order(epoch=0) != order(epoch=1)
    shares = [order(epoch=0, rank=r, world_size=3) for r in range(3)]
    assert [len(s) for s in shares] == [3, 3, 3] and len(set(sum(shares, []))) == 9
    assert [y.tolist() for _, y in data.batches(4, shuffle=False)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert data.nbytes == 10 * 3 * 2 * 2


def test_prepare_inputs_chooses_the_pipeline_and_holds_decoded_sets_where_told(tmp_path, device):
    root = make_tiny_imagenet(tmp_path, classes=3, per_class=2, val_per_class=2, size=40)
    p = Preprocessing(crop_size=32, resize_size=36)

    def inputs(**options):
        train_set, val_set = train.data.tiny_imagenet(root, "train"), train.data.tiny_imagenet(root, "val")
        views = TransformedSubset(train_set, range(6)), TransformedSubset(val_set, range(6))
        return prepare_inputs(*views, p, PipelineConfig(**options), device=device, seed=0), val_set

    cpu, _ = inputs(pipeline="cpu")
    assert isinstance(cpu.train, AugmentedSubset) and cpu.transforms is None
    assert inputs(pipeline="cpu", augment="none")[0].train[0][0].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="random-crop"):
        inputs(pipeline="cpu", augment="random-crop")
    loaded, _ = inputs(pipeline="device", data_on_device="off")
    assert loaded.train[0][0].dtype == torch.uint8 and loaded.train[0][0].shape == (3, 36, 36) and not isinstance(loaded.train, DeviceTensorSet)
    held, val_set = inputs(pipeline="device", data_on_device="on", decode_size=40)
    assert isinstance(held.train, DeviceTensorSet) and held.train.images.shape == (6, 3, 40, 40) and held.train.images.device.type == device.type
    # Held-out images on the device are, once normalised there, what the checkpoint's eval transform makes of them.
    evaluated = held.transforms.eval(held.val.images).cpu()
    expected = torch.stack([eval_transform(p)(val_set[i][0]) for i in range(6)])
    assert torch.allclose(evaluated, expected, atol=1e-5)
    if device.type != "cuda":
        assert not data_fits(1, device) and not isinstance(inputs(pipeline="device")[0].train, DeviceTensorSet)  # auto: off without CUDA


# --- training on the device ------------------------------------------------------------------


def test_logits_on_the_device_match_fp32_within_the_precision_used(device):
    model = randomize_norms(resnet.build("resnet18", num_classes=10, generator=torch.Generator().manual_seed(0))).eval()
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = model(x)
        dtype = autocast_dtype(device)  # what fit trains and evaluates in with amp="auto"
        on_device = model.to(device, memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = on_device(x.to(device).contiguous(memory_format=torch.channels_last)).float().cpu()
    assert relative_error(out, reference) < TOLERANCE.get(dtype, fp32_tolerance(device))
    config = ModelConfig("resnet18", tuple("abcdefghij"), Preprocessing(crop_size=64, resize_size=64))
    classifier = resnet.Classifier(model.to("cpu", memory_format=torch.contiguous_format), config, device=device)
    assert relative_error(classifier.logits(x), reference) < TOLERANCE.get(fast_dtype(device), fp32_tolerance(device))


def test_training_steps_on_the_device_lower_the_loss(device):
    data = texture_set(device, per_class=4)
    model = resnet.build("resnet18", num_classes=2, generator=torch.Generator().manual_seed(0)).to(device)
    config = TrainConfig(epochs=5, batch_size=8, lr=0.05, schedule="constant", warmup_epochs=0, label_smoothing=0.0, amp="auto")
    result = fit(model, data, None, config, num_classes=2, options=FitOptions(device=device, transforms=transforms_for(32, "none")))
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < 0.7 * losses[0], losses  # one batch, seen five times: each step fits it better
    assert next(model.parameters()).device.type == device.type


def test_a_checkpoint_written_on_the_device_loads_on_the_cpu_with_the_same_logits(device, tmp_path):
    data = texture_set(device)
    model = resnet.build("resnet18", num_classes=2, generator=torch.Generator().manual_seed(0)).to(device)
    config = TrainConfig(epochs=1, batch_size=4, lr=0.02, amp="auto")
    model_config = ModelConfig("resnet18", tuple(data.classes), Preprocessing(crop_size=32, resize_size=32))
    fit(model, data, data, config, num_classes=2, options=FitOptions(device=device, transforms=transforms_for(32)), checkpoints=Checkpoints(tmp_path, model_config))
    loaded = resnet.Classifier.from_pretrained(tmp_path, device="cpu", fast=False)
    saved = model.state_dict()
    assert all(torch.equal(v, saved[k].cpu()) for k, v in loaded.model.state_dict().items())
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        on_device = model.eval()(x.to(device)).cpu()
    assert relative_error(loaded.logits(x), on_device) < fp32_tolerance(device)


def test_resume_on_the_device_repeats_the_uninterrupted_run(device, tmp_path, deterministic):
    data, held = texture_set(device), texture_set(device, per_class=2)

    def run(out, init=0, resume=False, should_stop=None):
        model = resnet.build("resnet18", num_classes=2, generator=torch.Generator().manual_seed(init)).to(device)
        config = TrainConfig(epochs=2, batch_size=4, lr=0.02, seed=3, amp="auto")
        model_config = ModelConfig("resnet18", tuple(data.classes), Preprocessing(crop_size=32, resize_size=32))
        options, saved = FitOptions(device=device, transforms=transforms_for(32)), Checkpoints(out, model_config, resume=resume)
        result = fit(model, data, held, config, num_classes=2, options=options, checkpoints=saved, hooks=Hooks(should_stop=should_stop))
        return result, model

    whole, whole_model = run(tmp_path / "whole")
    asked = []
    part, _ = run(tmp_path / "part", should_stop=lambda: asked.append(1) or len(asked) > 3)  # stops in epoch 2, after its first step
    assert part.stopped and len(part.history) == 1
    resumed, resumed_model = run(tmp_path / "part", resume=True, init=1)
    timeless = lambda history: [{k: v for k, v in r.items() if k != "seconds"} for r in history]  # noqa: E731
    assert timeless(resumed.history) == timeless(whole.history)
    assert all(torch.equal(a, b) for a, b in zip(resumed_model.state_dict().values(), whole_model.state_dict().values()))


def test_compile_runs_the_training_steps_through_torch_compile_and_saves_plain_keys(tmp_path, monkeypatch):
    calls = []

    class Compiled(nn.Module):  # stands in for torch.compile's wrapper (whose own compiling takes minutes here)
        def __init__(self, model: nn.Module):
            super().__init__()
            self._orig_mod = model

        def forward(self, x):
            calls.append(len(x))
            return self._orig_mod(x)

    monkeypatch.setattr(torch, "compile", lambda model, **options: Compiled(model))
    data = torch.utils.data.TensorDataset(torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 2)
    model = nn.Linear(4, 2)
    config = TrainConfig(epochs=1, batch_size=4, lr=0.1, channels_last=False, amp="off")
    fit(model, data, data, config, num_classes=2, options=FitOptions(compile=True), checkpoints=Checkpoints(tmp_path, ModelConfig("resnet18", ("a", "b"))))
    assert calls == [4, 4]  # both training steps; evaluation runs the network itself
    from safetensors.torch import load_file

    assert sorted(load_file(tmp_path / "model.safetensors")) == ["bias", "weight"]


def test_finetune_and_the_lab_run_on_the_device(device):
    result = train.finetune("resnet18", patches("train", 4, size=48), strategy="full", epochs=1, device=device)
    assert result.classifier.device.type == device.type and len(result.classifier.predict(patches("val", 1, size=48)["brick"][0])) == 3
    lab_run = lab.run(lab.LabConfig(depths=(8,), steps=2, width=4, image_size=16, batch_size=8), device=device)
    assert all(0 <= net.final_train_error <= 1 for net in lab_run.networks.values())
    assert all(next(m.parameters()).device.type == device.type for m in lab_run.models.values())


# --- the command line and its presets ---------------------------------------------------------


def test_presets_set_their_values_and_explicit_flags_win():
    for preset in PRESETS.values():
        args = vars(parse_args(["--preset", preset.name, "--data", "d", "--out", "o"]))
        assert {k: args[k] for k in preset.values} == dict(preset.values), preset.name  # every key is a real flag, and set
    seed = vars(parse_args(["--data", "d", "--preset", "seed-tiny-imagenet", "--out", "o", "--epochs", "2", "--channels-last", "--lr", "0.01"]))
    assert (seed["epochs"], seed["channels_last"], seed["lr"], seed["optimizer"], seed["batch_size"]) == (2, True, 0.01, "adam", 64)
    assert (seed["input_size"], seed["resize_size"], seed["augment"], seed["amp"], seed["workers"]) == (224, 224, "none", "off", 0)
    plain = vars(parse_args(["--data", "d", "--out", "o"]))
    assert (plain["optimizer"], plain["epochs"], plain["pipeline"]) == ("sgd", 10, "auto")


def test_seed_preset_trains_the_tutorial_recipe(tmp_path, capsys):
    root = make_tiny_imagenet(tmp_path / "data", classes=3, per_class=4, size=32)
    args = ["--preset", "seed-tiny-imagenet", "--data", str(root), "--out", str(tmp_path / "out"), "--epochs", "1",
            "--input-size", "32", "--resize-size", "32", "--no-progress", "--device", "cpu"]
    assert train_main(args) == 0
    assert "12 training / 3 held-out images" in capsys.readouterr().out
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    training = config["training"]  # the settings, and the last epoch's numbers (its "lr" is the scheduled one: constant here)
    assert (training["optimizer"], training["lr"], training["batch_size"], training["weight_decay"], training["label_smoothing"]) == ("adam", 0.001, 64, 0.0, 0.0)
    assert (training["amp"], training["channels_last"], training["workers"], training["schedule"]) == ("off", False, 0, "constant")
    assert (config["crop_size"], config["resize_size"], config["mean"], config["std"]) == (32, 32, list(IMAGENET_MEAN), list(IMAGENET_STD))


def test_tiny_imagenet_preset_trains_on_the_device_pipeline_and_its_model_loads_on_the_cpu(tmp_path, capsys, device):
    root = make_tiny_imagenet(tmp_path / "data", classes=3, per_class=4, size=32)
    args = ["--preset", "tiny-imagenet", "--data", str(root), "--out", str(tmp_path / "out"), "--epochs", "1", "--input-size", "32",
            "--resize-size", "32", "--decode-size", "32", "--batch-size", "4", "--workers", "0", "--pipeline", "device",
            "--data-on-device", "on", "--no-progress", "--device", str(device)]
    assert train_main(args) == 0
    assert f"device pipeline: data on {device}" in capsys.readouterr().out
    clf = resnet.Classifier.from_pretrained(tmp_path / "out", device="cpu")
    settings = torch.load(tmp_path / "out" / "checkpoints" / "epoch-0001" / "state.pt", weights_only=True)["train_config"]
    assert (settings["optimizer"], settings["lr"], settings["label_smoothing"], settings["warmup_epochs"]) == ("sgd", 0.2, 0.1, 2.0)
    assert len(clf.predict(root / "val" / "images" / "val_0.JPEG")) == 3


def test_bad_pipeline_settings_are_refused_naming_the_value():
    for options, bad in (({"pipeline": "gpu"}, "'gpu'"), ({"data_on_device": "yes"}, "'yes'"), ({"min_crop_scale": 0.0}, "0.0"), ({"decode_size": 0}, "0")):
        with pytest.raises(ValueError, match=bad):
            PipelineConfig(**options)
    with pytest.raises(ValueError, match="-2"):
        TrainConfig(workers=-2)
    with pytest.raises(ValueError, match="'lamb'"):
        TrainConfig(optimizer="lamb")


def test_minus_one_workers_is_one_per_cpu_less_one():
    data = torch.utils.data.TensorDataset(torch.zeros(4, 1), torch.zeros(4))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert make_loader(data, 2, shuffle=False, workers=-1).num_workers == auto_workers() == max(1, min(cpus - 1, 32))
    with pytest.raises(ValueError, match="-3"):
        make_loader(data, 2, shuffle=False, workers=-3)


def test_the_optimiser_is_fused_on_a_cpu_and_takes_the_steps_of_the_unfused_one():
    for kind in ("sgd", "adamw", "adam"):
        torch.manual_seed(0)
        model, twin = nn.Linear(3, 2), nn.Linear(3, 2)
        twin.load_state_dict(model.state_dict())
        fused = make_optimizer(model, TrainConfig(optimizer=kind), None)
        assert fused.defaults["fused"] and type(fused).__name__.lower() == kind
        accepted = inspect.signature(type(fused)).parameters
        settings = {key: value for key, value in fused.defaults.items() if key in accepted and key not in ("fused", "foreach")}
        unfused = type(fused)(twin.parameters(), **settings, foreach=False)
        for _ in range(3):
            x = torch.randn(4, 3)
            for net, optimizer in ((model, fused), (twin, unfused)):
                optimizer.zero_grad()
                net(x).square().sum().backward()
                optimizer.step()
        torch.testing.assert_close(model.state_dict(), twin.state_dict())
    # Where torch has no fused kernel for every parameter, the plain loop.
    assert not make_optimizer(nn.Linear(3, 2, device="meta"), TrainConfig(optimizer="adamw"), None).defaults["fused"]


# --- only on CUDA ------------------------------------------------------------------------------


@pytest.mark.gpu
def test_cuda_fuses_the_optimiser_and_keeps_a_set_that_fits():
    model = nn.Linear(3, 2).cuda()
    assert all(make_optimizer(model, TrainConfig(optimizer=kind), None).defaults["fused"] for kind in ("sgd", "adamw", "adam"))
    cuda = torch.device("cuda")
    assert data_fits(2**20, cuda) and not data_fits(10**15, cuda)
    loader = make_loader(torch.utils.data.TensorDataset(torch.zeros(4, 1), torch.zeros(4)), 2, shuffle=False, device=cuda)
    assert loader.pin_memory  # so that the loop's non-blocking copies really overlap


@pytest.mark.gpu
@pytest.mark.slow
def test_torch_compile_trains_on_cuda_and_the_checkpoint_loads(tmp_path):
    cuda = torch.device("cuda")
    data = texture_set(cuda)
    model = resnet.build("resnet18", num_classes=2, generator=torch.Generator().manual_seed(0)).to(cuda)
    config = TrainConfig(epochs=2, batch_size=4, lr=0.02, amp="auto")
    model_config = ModelConfig("resnet18", tuple(data.classes), Preprocessing(crop_size=32, resize_size=32))
    options = FitOptions(device=cuda, transforms=transforms_for(32), compile=True)
    result = fit(model, data, None, config, num_classes=2, options=options, checkpoints=Checkpoints(tmp_path, model_config))
    assert all(r["train_loss"] == r["train_loss"] for r in result.history)  # no NaN
    assert resnet.Classifier.from_pretrained(tmp_path, device="cpu").labels == list(data.classes)


# --- the benchmark ------------------------------------------------------------------------------


@pytest.mark.slow
def test_gpu_benchmark_runs_every_section_with_tiny_sizes(tmp_path):
    out = tmp_path / "PERFORMANCE-GPU.md"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--tiny", "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    for needed in ("# GPU performance", "torch ", "## Tiny ImageNet: the tutorial's loop against our pipeline", "(a) the tutorial as written",
                   "(b) our pipeline, tutorial settings", "(c) tiny-imagenet preset", "(c') tiny-imagenet preset + `--compile`",
                   "## The tutorial's 15 epochs on 100,000 images", "training at 32 px", "bf16 matrix-product peak", "model only",
                   "through the JPEG pipeline", "share of peak", "inference at 32 px", "resnet.Classifier (fast path)",
                   "torchvision eager fp32", "autocast + channels-last"):
        assert needed in text, needed
    rates = [float(n.replace(",", "")) for n in re.findall(r"\| ([\d,]+\.?\d*)%?(?= \|)", text)]
    assert len(rates) == 15 and all(r > 0 for r in rates), text  # every measured cell holds a positive number
