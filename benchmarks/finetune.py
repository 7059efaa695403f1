"""Fine-tune "head" strategy: cached features vs a plain loop that re-runs the frozen backbone every epoch.

Both runs use the same data (texture patches cut from examples/textures: top halves for
training, bottom halves held out), the same backbone, the same seed and 10 epochs.

    python -m benchmarks.finetune                                # resnet18, random initialisation (offline)
    python -m benchmarks.finetune --source timm/resnet50.a1_in1k # a cached or downloadable checkpoint
    python -m benchmarks.finetune --scratch                      # "full" from a random start: fp32 vs default precision, three seeds
    python -m benchmarks.finetune --scratch --arch resnet50 --per-class 34   # the app's ResNet-50 "Everything"

``--scratch`` trains a random resnet18 with the scratch recipe's defaults (``train.presets.SCRATCH``)
on 72 patches (24 per texture, top halves of the photos) and scores it on 90 patches from the
bottom halves, for seeds 0, 1 and 2, once in fp32 (``amp="off"``) and once on the default path
(``amp="auto"``: bf16 autocast and channels-last on a CPU with AMX or AVX512-BF16), alternating:
held-out accuracy, wall time, achieved GFLOP/s and its share of the matmul and convolution peaks of
its precision measured in the same run (``benchmarks.peaks``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Optional

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

import train
from benchmarks.peaks import peaks
from benchmarks.report import cpu_bf16_features
from resnet import build, summarize
from resnet.devices import cpu_model
from train.loop import amp_dtype
from train.data import random_patches
from train.presets import SCRATCH_PREPROCESSING, finetune_defaults


def texture_samples(per_class: int, size: int = 96) -> dict[str, list[Image.Image]]:
    samples = {}
    for path in sorted((ROOT / "examples" / "textures").glob("*.png")):
        photo = Image.open(path).convert("RGB")
        samples[path.stem] = random_patches(photo, size, per_class, seed=0)
    return samples


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (imports included), from /proc on Linux."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peaks_line(peak: dict[str, dict[str, float]]) -> str:
    return ", ".join(f"{name} matmul {p['matmul']:.0f} / convolution {p['conv']:.0f} GFLOP/s" for name, p in peak.items())


def scratch(arch: str = "resnet18", per_class: int = 24, seeds: tuple[int, ...] = (0, 1, 2), epochs: Optional[int] = None) -> None:
    """fp32 (``amp="off"``) against the default path (``amp="auto"``) of ``finetune(arch, strategy="full")`` with its defaults, per seed.

    The two paths alternate (fp32, auto, fp32, auto, ...) so that other work on a shared machine slows both alike.
    """
    from tests.textures import patches

    train_set, held_out = patches("train", per_class, size=96), patches("val", 30, size=96, seed=1)
    images = sum(map(len, train_set.values()))
    epochs = epochs or finetune_defaults(arch, "full")["epochs"]
    size = SCRATCH_PREPROCESSING.crop_size
    macs = summarize(build(arch, num_classes=len(train_set)), (1, 3, size, size)).total_macs
    flops = 3 * 2 * macs * images * epochs  # forward, then backward at about twice the forward, 2 FLOP a MAC
    auto = amp_dtype("auto", torch.device("cpu"))
    # bf16's peaks only where the run uses bf16: on a CPU without fast bf16 (or oneDNN capped below it) they come
    # from reference kernels and take many minutes.
    precisions = {"fp32": torch.float32, **({"bf16": torch.bfloat16} if auto == torch.bfloat16 else {})}
    peak = {name: peaks(dtype) for name, dtype in precisions.items()}
    print(f"# From scratch, fp32 vs default precision: {arch}, {images} training / 90 held-out texture patches, {epochs} epochs at "
          f"{size} px, {cpu_model()} ({cpu_bf16_features()}), {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"# amp='auto' trains in {auto or torch.float32} here; {flops / 1e12:.2f} TFLOP of training a run ({macs / 1e6:.0f} M MACs an image)")
    print(f"# peaks at the start: {_peaks_line(peak)}; 1-min load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print()
    # Wall time is what a user waits; CPU time (all threads) and the load at the start show whether other work shared the cores.
    print("| seed | path | held-out top-1 | wall seconds | CPU seconds | GFLOP/s | share of its matmul peak | share of its convolution peak | 1-min load at start |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    rows: dict[str, list[tuple[float, float]]] = {"off": [], "auto": []}
    for seed in seeds:
        for amp in rows:
            load, start, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
            result = train.finetune(arch, train_set, strategy="full", epochs=epochs, options=train.FinetuneOptions(held_out=0, seed=seed, amp=amp))  # all training images; scored below
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            tops = {name: result.classifier.predict_batch(images, top_k=1) for name, images in held_out.items()}
            right = sum(top[0][0] == name for name, answers in tops.items() for top in answers)
            rows[amp].append((right / sum(map(len, held_out.values())), seconds))
            own = peak["bf16" if amp == "auto" and auto == torch.bfloat16 else "fp32"]
            rate = flops / seconds / 1e9
            print(f"| {seed} | {'fp32 (amp=off)' if amp == 'off' else f'amp=auto ({auto or torch.float32})'} | {rows[amp][-1][0]:.3f} | {seconds:.1f} | {cpu:.1f} "
                  f"| {rate:.0f} | {rate / own['matmul']:.0%} | {rate / own['conv']:.0%} | {load:.1f} |", flush=True)  # as it comes: runs are long
    print()
    print(f"peaks at the end: {_peaks_line({name: peaks(dtype) for name, dtype in precisions.items()})}; 1-min load {os.getloadavg()[0]:.1f}")
    for amp, values in rows.items():
        tops, walls = [r[0] for r in values], [r[1] for r in values]
        print(f"amp={amp}: held-out top-1 mean {statistics.mean(tops):.3f} (min {min(tops):.3f}, max {max(tops):.3f}); "
              f"wall seconds mean {statistics.mean(walls):.1f} (min {min(walls):.1f}, max {max(walls):.1f})")
    mean_wall = {amp: statistics.mean(r[1] for r in values) for amp, values in rows.items()}
    mean_top1 = {amp: statistics.mean(r[0] for r in values) for amp, values in rows.items()}
    print(f"wall time auto / fp32: {mean_wall['auto'] / mean_wall['off']:.2f}x; held-out top-1 auto - fp32: {100 * (mean_top1['auto'] - mean_top1['off']):+.1f} points")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="resnet18", help="backbone: an architecture name (random init) or a checkpoint")
    parser.add_argument("--images", type=int, default=102, help="images in all, split evenly over the three classes (default 102: 34 a class)")
    parser.add_argument("--epochs", type=int, default=None, help="default: 10; with --scratch, the recipe's")
    parser.add_argument("--scratch", action="store_true", help="instead: the from-scratch recipe, fp32 vs the default precision, three seeds")
    parser.add_argument("--arch", default="resnet18", help="--scratch: the architecture (resnet50: the app's ResNet-50 'Everything')")
    parser.add_argument("--per-class", type=int, default=24, help="--scratch: training patches per texture (34: about 100 images)")
    parser.add_argument("--seeds", type=int, default=3, help="--scratch: seeds 0, 1, ... (each trains fp32 then the default path)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    import torchvision.transforms.v2  # noqa: F401  fine-tuning imports torchvision on first use (about a second): not timed here

    if args.scratch:
        scratch(args.arch, args.per_class, tuple(range(args.seeds)), args.epochs)
        return
    args.epochs = args.epochs or 10
    samples = texture_samples(args.images // 3)

    rows = []
    for label, cache in (("head, cached features", True), ("head, plain loop", False)):
        start = time.perf_counter()
        result = train.finetune(args.source, samples, strategy="head", epochs=args.epochs, options=train.FinetuneOptions(cache_features=cache, seed=0))
        seconds = time.perf_counter() - start
        rows.append((label, seconds, result.history[-1]["val_top1"], _peak_rss_mb()))

    print(f"# Fine-tune benchmark: {args.source}, {args.images} images, {args.epochs} epochs, "
          f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print()
    print("| run | seconds | held-out top-1 | peak RSS of the process so far, MB |")
    print("|---|---|---|---|")
    for label, seconds, top1, rss in rows:
        print(f"| {label} | {seconds:.2f} | {top1:.3f} | {rss:.0f} |")
    print()
    print(f"time ratio cached / plain: {rows[0][1] / rows[1][1]:.3f} ({rows[1][1] / rows[0][1]:.1f}x faster)")


if __name__ == "__main__":
    main()
