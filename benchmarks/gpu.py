"""Training and inference on one GPU, measured side by side in one run; writes docs/PERFORMANCE-GPU.md.

    python -m benchmarks.gpu                                        # on a CUDA GPU: at most 8 minutes
    python -m benchmarks.gpu --tiny --out /tmp/PERFORMANCE-GPU.md   # every section with tiny sizes, on the CPU

It writes a Tiny-ImageNet-shaped folder of synthetic JPEGs (200 classes of 64 px images,
train/<wnid>/images/*.JPEG, val/images + val/val_annotations.txt, wnids.txt) and a folder of
larger JPEGs, on local disk, and measures:
  (a) the tutorial's loop as written: torchvision ImageFolder + Resize(224) + ToTensor + Normalize,
      DataLoader(batch 64, shuffle, num_workers=0), torchvision resnet18, Adam 1e-3, fp32, NCHW;
  (b) ``python -m train --preset seed-tiny-imagenet`` on our device pipeline: the same model, input,
      optimiser and batch, with bf16 autocast, channels-last, fused Adam and the data on the device;
  (c) ``python -m train --preset tiny-imagenet``, and (c') the same with ``--compile``;
  from (a) and (b) the wall time of the tutorial's 15 epochs on 100,000 images;
ResNet-50 training at 224 px, model only (batches already on the device) and through the JPEG
pipeline, in images/s and TFLOP/s (3 x 2 x MACs per image) as a share of the bf16 matrix-product
peak measured in the same run; ResNet-50 inference, batch-1 latency and batch-256 throughput,
through resnet.Classifier against torchvision eager fp32 and torchvision with bf16 autocast and
channels-last (with --tiny, ResNet-18 in its place). Training rates come from fit's epoch times
after the first epoch (training plus the evaluation of a held-out set of one image per class).
The weights are seeded random ones.
"""

from __future__ import annotations

import argparse
import datetime
import math
import multiprocessing
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

import resnet
from resnet.devices import autocast_dtype, default_device
from resnet.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from train.__main__ import parse_args, run
from resnet.checkpoints.config import ModelConfig

TUTORIAL_EPOCHS, TUTORIAL_IMAGES = 15, 100_000


def _write_jpeg(job: tuple[str, int, int, int, int]) -> None:
    """One smooth random picture (a coloured 4x4 grid, enlarged, with grain), tinted by its class."""
    path, width, height, label, seed = job
    rng = np.random.default_rng(seed)
    tint = np.random.default_rng(label).uniform(40, 215, 3)
    grid = np.clip(tint + rng.normal(0, 40, (4, 4, 3)), 0, 255).astype(np.uint8)
    picture = np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    picture = np.clip(picture + rng.normal(0, 6, picture.shape), 0, 255).astype(np.uint8)
    Image.fromarray(picture).save(path, "JPEG", quality=90)


def _write_all(jobs: list[tuple[str, int, int, int, int]]) -> None:
    with multiprocessing.get_context("fork").Pool() as pool:
        pool.map(_write_jpeg, jobs, chunksize=64)


def make_tiny_imagenet(root: Path, *, classes: int = 200, per_class: int = 128, val_per_class: int = 1, size: int = 64) -> Path:
    """A Tiny ImageNet layout of synthetic JPEGs under ``root`` (``train.data.tiny_imagenet`` reads it); returns ``root``."""
    wnids = [f"n{10_000_000 + 7919 * i:08d}" for i in range(classes)]
    (root / "val" / "images").mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    paths, lines = [], []
    for label, wnid in enumerate(wnids):
        folder = root / "train" / wnid / "images"
        folder.mkdir(parents=True, exist_ok=True)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
        paths += [(folder / f"{wnid}_{i}.JPEG", label) for i in range(per_class)]
        for i in range(val_per_class):
            name = f"val_{label * val_per_class + i}.JPEG"
            paths.append((root / "val" / "images" / name, label))
            lines.append(f"{name}\t{wnid}\t0\t0\t{size - 1}\t{size - 1}")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    _write_all([(str(path), size, size, label, seed) for seed, (path, label) in enumerate(paths)])
    return root


def make_image_folder(root: Path, *, classes: int, per_class: int, width: int, height: int) -> Path:
    """root/train/<class>/*.jpg (``per_class`` each) and root/val/<class>/0.jpg of ``width`` x ``height`` synthetic JPEGs."""
    paths = []
    for label in range(classes):
        for split, count in (("train", per_class), ("val", 1)):
            folder = root / split / f"class{label:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            paths += [(folder / f"{i}.jpg", label) for i in range(count)]
    _write_all([(str(path), width, height, label, seed) for seed, (path, label) in enumerate(paths)])
    return root


def num(value: float) -> str:
    """At least three significant figures, in plain digits with thousands separators: tiny --tiny rates never read 0."""
    if value >= 100:
        return f"{value:,.0f}"
    if value <= 0:
        return f"{value:g}"
    return f"{value:.{2 - math.floor(math.log10(value))}f}"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], Any], device: torch.device, *, repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` on ``device``, waiting for the device after each call."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_tflops(device: torch.device, n: int) -> float:
    """Measured bf16 TFLOP/s of an n x n x n matrix product on random data."""
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=generator).to(device, torch.bfloat16) for _ in range(2))
    return 2 * n**3 / median_seconds(lambda: a @ b, device, repeats=10, warmup=3) / 1e12


def torchvision_twin(arch: str, num_classes: int, seed: int = 0) -> torch.nn.Module:
    """``torchvision.models.<arch>`` holding our seeded weights (built on the meta device: no draw from torch's global generator)."""
    import torchvision

    ours = resnet.build(arch, num_classes=num_classes, generator=torch.Generator().manual_seed(seed))
    with torch.device("meta"):
        model = getattr(torchvision.models, arch)(num_classes=num_classes)
    model.load_state_dict(ours.state_dict(), assign=True)
    return model


def tutorial_loop(data: Path, device: torch.device, *, steps: int, size: int, batch: int, warmup: int) -> float:
    """Images/s of the tutorial's training loop, as written, over ``steps`` steps after ``warmup`` of them."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.Resize(size), transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    loader = DataLoader(datasets.ImageFolder(str(data / "train"), transform=transform), batch_size=batch, shuffle=True, num_workers=0,
                        generator=torch.Generator().manual_seed(0))
    model = torchvision_twin("resnet18", len(loader.dataset.classes)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = torch.nn.CrossEntropyLoss()
    running_loss, seen, start = 0.0, 0, 0.0
    for step, (x, y) in enumerate(loader):
        if step == warmup:  # cuDNN has chosen its kernels, the allocator has its blocks
            _sync(device)
            start, seen = time.perf_counter(), 0
        if step == steps + warmup:
            break
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        seen += len(y)
    _sync(device)
    if not start:
        raise ValueError(f"{data} has too few images for {warmup} warm-up steps of {batch}")
    return seen / (time.perf_counter() - start)


def pipeline_rate(argv: Sequence[str], device: torch.device) -> float:
    """Training images/s of ``python -m train argv``: images over fit's epoch seconds, from the second epoch on."""
    args = parse_args([*argv, "--no-progress", "--device", str(device)])
    records: list[dict[str, Any]] = []
    run(args, device=device, on_epoch=[records.append])
    later = records[1:] or records
    train_images = sum(1 for path in (Path(args.data) / "train").rglob("*") if path.suffix.lower() in (".jpeg", ".jpg"))
    return train_images * len(later) / sum(r["seconds"] for r in later)


def model_only(arch: str, device: torch.device, *, batch: int, size: int, steps: int, warmup: int) -> float:
    """Images/s of ``arch`` training steps (bf16 autocast, channels-last, fused SGD) on batches already on the device."""
    model = resnet.build(arch, generator=torch.Generator().manual_seed(0)).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, fused=device.type == "cuda")
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, size, size, generator=generator).to(device, memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), generator=generator).to(device)
    dtype = autocast_dtype(device)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return batch / median_seconds(step, device, repeats=steps, warmup=warmup)


def inference(arch: str, device: torch.device, *, batch: int, size: int, repeats: int, latency_repeats: int, warmup: int) -> dict[str, tuple[float, float]]:
    """``arch``'s (batch-1 ms, batch-``batch`` images/s) for Classifier and two torchvision baselines, inputs on the device."""
    model = resnet.build(arch, generator=torch.Generator().manual_seed(0)).eval()
    preprocessing = Preprocessing(crop_size=size, resize_size=size)
    classifier = resnet.Classifier(model, ModelConfig(arch, resnet.checkpoints.config.imagenet_labels(), preprocessing), device=device)
    eager = torchvision_twin(arch, 1000).to(device).eval()
    fast = torchvision_twin(arch, 1000).to(device, memory_format=torch.channels_last).eval()
    dtype = autocast_dtype(device) or torch.float32

    def autocast_cl(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return fast(x.contiguous(memory_format=torch.channels_last))

    contenders = {"resnet.Classifier (fast path)": classifier.logits, "torchvision eager fp32": eager, f"torchvision {str(dtype)[6:]} autocast + channels-last": autocast_cl}
    generator = torch.Generator().manual_seed(2)
    one, many = (torch.randn(n, 3, size, size, generator=generator).to(device) for n in (1, batch))
    results = {}
    with torch.inference_mode():
        for name, fn in contenders.items():
            latency = median_seconds(lambda: fn(one), device, repeats=latency_repeats, warmup=warmup)
            results[name] = (1000 * latency, batch / median_seconds(lambda: fn(many), device, repeats=repeats, warmup=warmup))
    return results


def _environment(device: torch.device) -> list[str]:
    import torchvision

    lines = [f"- torch {torch.__version__}, torchvision {torchvision.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"]
    if device.type == "cuda":
        try:
            driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError) as e:
            driver = f"unknown ({e})"
        lines.insert(0, f"- GPU: {torch.cuda.get_device_name(device)}, driver {driver or 'unknown'}, {torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB")
    else:
        lines.insert(0, f"- no GPU: a --tiny run on the {device}; its numbers show only that every section runs")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    """Measure everything once and write the Markdown report to ``--out`` (also printed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE-GPU.md", help="the Markdown file to write")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes on the CPU: proves every section runs, in seconds")
    parser.add_argument("--per-class", type=int, default=128, help="training images per class of the Tiny-ImageNet-shaped set (default 128)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the synthetic data and runs (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.per_class < 2:
        parser.error(f"--per-class must be at least 2 (a warm-up epoch and a measured one need batches), got {args.per_class}")
    started = time.perf_counter()
    device = torch.device("cpu") if args.tiny else default_device()
    if device.type != "cuda" and not args.tiny:
        parser.error(f"no CUDA device here ({device}); use --tiny to check the script on the CPU")
    s = _sizes(args.tiny, args.per_class)
    work = Path(tempfile.mkdtemp(prefix="resnet-gpu-bench-", dir=args.work))
    try:
        sections = _measure(work, device, s)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    header = [
        "# GPU performance", "",
        f"Produced by `python -m benchmarks.gpu{' --tiny' if args.tiny else ''}` on {datetime.date.today().isoformat()}, "
        f"in {time.perf_counter() - started:.0f} s; every number is measured in that one run.", "",
        *_environment(device),
        f"- data: synthetic JPEGs: {s['classes']} classes x {s['per_class']} training images of {s['side']} px (Tiny ImageNet's shape), "
        f"and {s['large_classes']} x {s['large_per_class']} of {s['large'][0]}x{s['large'][1]} px for the {s['arch']} pipeline", "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header + sections) + "\n", encoding="utf-8")
    print("\n".join(header + sections))


def _sizes(tiny: bool, per_class: int) -> dict[str, Any]:
    if tiny:
        # ResNet-18 stands in for ResNet-50: the same code paths, at a cost a small loaded CPU can pay in seconds.
        return {"classes": 4, "per_class": 2, "side": 32, "input": 32, "batch": 4, "steps": 2, "epochs": 1, "arch": "resnet18", "big_batch": 2,
                "infer_batch": 4, "large": (40, 36), "large_classes": 2, "large_per_class": 2, "matmul": 256, "repeats": 1, "latency_repeats": 2, "warmup": 1}
    return {"classes": 200, "per_class": per_class, "side": 64, "input": 224, "batch": 64, "steps": 40, "epochs": 3, "arch": "resnet50", "big_batch": 256,
            "infer_batch": 256, "large": (400, 320), "large_classes": 100, "large_per_class": 128, "matmul": 8192, "repeats": 10, "latency_repeats": 50, "warmup": 3}


def _measure(work: Path, device: torch.device, s: dict[str, Any]) -> list[str]:
    started = time.perf_counter()

    def timed(label: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, with a progress line: a stopped run still shows how far it got."""
        value = fn()
        print(f"[{time.perf_counter() - started:5.0f} s] {label}: {value if not isinstance(value, float) else f'{value:,.1f}'}", flush=True)
        return value

    tiny = timed("Tiny-ImageNet-shaped set", lambda: make_tiny_imagenet(work / "tiny", classes=s["classes"], per_class=s["per_class"], size=s["side"]))
    large = timed("larger JPEGs", lambda: make_image_folder(work / "large", classes=s["large_classes"], per_class=s["large_per_class"], width=s["large"][0], height=s["large"][1]))
    side, size, epochs, arch = s["side"], s["input"], str(s["epochs"]), s["arch"]
    small = [] if side == 64 else ["--input-size", str(size), "--resize-size", str(size), "--decode-size", str(side)]
    on_device = ["--pipeline", "device", "--data-on-device", "on" if device.type != "cuda" else "auto"]
    common = ["--data", str(tiny), "--epochs", epochs]
    peak = timed("bf16 matmul TFLOP/s", lambda: matmul_tflops(device, s["matmul"]))
    rates = {
        "a": timed("(a) tutorial loop, images/s", lambda: tutorial_loop(tiny, device, steps=s["steps"], size=size, batch=s["batch"], warmup=s["warmup"])),
        "b": timed("(b) our pipeline at the tutorial's settings, images/s", lambda: pipeline_rate(
            ["--preset", "seed-tiny-imagenet", *common, "--out", str(work / "b"), "--input-size", str(size), "--resize-size", str(size), "--decode-size", str(side),
             "--amp", "auto", "--channels-last", "--workers", "-1", "--batch-size", str(s["batch"]), *on_device], device)),
        "c": timed("(c) tiny-imagenet preset, images/s", lambda: pipeline_rate(["--preset", "tiny-imagenet", *common, "--out", str(work / "c"), *small, *on_device], device)),
    }
    compile_row = "| (c') tiny-imagenet preset + `--compile` | skipped with --tiny: compiling takes minutes on a small CPU | | |"
    if device.type == "cuda":
        compiled = timed("(c') with --compile, images/s", lambda: pipeline_rate(["--preset", "tiny-imagenet", *common, "--out", str(work / "c2"), "--compile", *on_device], device))
        compile_row = f"| (c') tiny-imagenet preset + `--compile` | as (c), the training steps through torch.compile | {num(compiled)} | {compiled / rates['a']:.1f}x |"
    macs = resnet.summarize(resnet.build(arch, generator=torch.Generator().manual_seed(0)), input_size=(1, 3, size, size)).total_macs
    train_flops = 3 * 2 * macs  # forward, and a backward of about twice its cost
    big = {
        "model only (batches already on the device)": timed(f"{arch} model only, images/s", lambda: model_only(arch, device, batch=s["big_batch"], size=size, steps=s["steps"], warmup=s["warmup"])),
        "through the JPEG pipeline (`python -m train`, device pipeline, loader workers)": timed(f"{arch} JPEG pipeline, images/s", lambda: pipeline_rate(
            ["--data", str(large), "--out", str(work / "big"), "--arch", arch, "--epochs", epochs, "--batch-size", str(s["big_batch"]), "--input-size", str(size),
             "--pipeline", "device", "--data-on-device", "off", "--workers", "-1"], device)),
    }
    infer = timed(f"{arch} inference", lambda: inference(arch, device, batch=s["infer_batch"], size=size, repeats=s["repeats"], latency_repeats=s["latency_repeats"], warmup=s["warmup"]))
    sections = [
        "## Tiny ImageNet: the tutorial's loop against our pipeline", "",
        f"ResNet-18, {size} px, training images/s (after warm-up; (b) and (c) from epoch 2 on, where there is one).", "",
        "| run | settings | images/s | vs (a) |", "|---|---|---:|---:|",
        f"| (a) the tutorial as written | fp32, NCHW, num_workers=0, Resize({size}) on the CPU, Adam, batch {s['batch']} | {num(rates['a'])} | 1.0x |",
        f"| (b) our pipeline, tutorial settings | `--preset seed-tiny-imagenet` on the device pipeline: bf16, channels-last, fused Adam, data on the device | {num(rates['b'])} | {rates['b'] / rates['a']:.1f}x |",
        f"| (c) tiny-imagenet preset | `--preset tiny-imagenet`: SGD, batch 256, {'128' if side == 64 else size} px on the device | {num(rates['c'])} | {rates['c'] / rates['a']:.1f}x |",
        compile_row, "",
        f"## The tutorial's {TUTORIAL_EPOCHS} epochs on {TUTORIAL_IMAGES:,} images", "",
        "Training passes only, from the rates above.", "",
        "| run | wall time |", "|---|---:|",
        *(f"| ({k}) | {num(TUTORIAL_EPOCHS * TUTORIAL_IMAGES / rates[k] / 60)} min |" for k in ("a", "b")), "",
        f"## {arch} training at {size} px", "",
        f"bf16 matrix-product peak measured in this run ({s['matmul']}^3, random data): {num(peak)} TFLOP/s. "
        f"Training costs about 3 x 2 x {macs / 1e9:.2f} GMACs = {train_flops / 1e9:.1f} GFLOP per image.", "",
        "| input | images/s | TFLOP/s | share of peak |", "|---|---:|---:|---:|",
        *(f"| {name} | {num(rate)} | {num(rate * train_flops / 1e12)} | {num(100 * rate * train_flops / 1e12 / peak)}% |" for name, rate in big.items()), "",
        f"## {arch} inference at {size} px", "",
        "Inputs already on the device; median of repeated calls.", "",
        f"| model | batch 1 (ms) | batch {s['infer_batch']} (images/s) |", "|---|---:|---:|",
        *(f"| {name} | {num(ms)} | {num(rate)} |" for name, (ms, rate) in infer.items()),
    ]
    return sections


if __name__ == "__main__":
    main()
