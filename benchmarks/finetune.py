"""Fine-tune "head" strategy: cached features vs a plain loop that re-runs the frozen backbone every epoch.

Both runs use the same data (texture patches cut from examples/textures: top halves for
training, bottom halves held out), the same backbone, the same seed and 10 epochs.

    python -m benchmarks.finetune                                # resnet18, random initialisation (offline)
    python -m benchmarks.finetune --source timm/resnet50.a1_in1k # a cached or downloadable checkpoint
    python -m benchmarks.finetune --scratch                      # "full" from a random start, three seeds

``--scratch`` trains a random resnet18 with the scratch recipe's defaults (``train.finetune.SCRATCH``)
on 72 patches (24 per texture, top halves of the photos) and scores it on 90 patches from the
bottom halves, for seeds 0, 1 and 2: held-out accuracy and wall time, mean and spread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

import train
from resnet.devices import cpu_model
from train.data import random_patches
from train.finetune import SCRATCH_PREPROCESSING


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


def scratch(seeds: tuple[int, ...] = (0, 1, 2), arch: str = "resnet18") -> None:
    """Print held-out accuracy and wall time of ``finetune(arch, strategy="full")`` with its defaults, per seed and in all."""
    from tests.textures import patches

    train_set, held_out = patches("train", 24, size=96), patches("val", 30, size=96, seed=1)
    defaults = train.finetune_defaults(arch, "full")
    print(f"# From scratch: {arch}, 72 training / 90 held-out texture patches, {defaults['epochs']} epochs at "
          f"{SCRATCH_PREPROCESSING.crop_size} px, {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print()
    # Wall time is what a user waits; CPU time (all threads) and the load at the start show whether other work shared the cores.
    print("| seed | held-out top-1 | wall seconds | CPU seconds | 1-min load at start |")
    print("|---|---|---|---|---|", flush=True)
    rows = []
    for seed in seeds:
        load, start, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
        result = train.finetune(arch, train_set, strategy="full", held_out=0, seed=seed)  # all 72 train; scored below
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        tops = {name: result.classifier.predict_batch(images, top_k=1) for name, images in held_out.items()}
        right = sum(top[0][0] == name for name, answers in tops.items() for top in answers)
        rows.append((right / sum(map(len, held_out.values())), seconds))
        print(f"| {seed} | {rows[-1][0]:.3f} | {seconds:.1f} | {cpu:.1f} | {load:.2f} |", flush=True)  # as it comes: runs are long on a busy machine
    print()
    for name, values in (("held-out top-1", [r[0] for r in rows]), ("wall seconds", [r[1] for r in rows])):
        print(f"{name}: mean {statistics.mean(values):.3f}, stdev {statistics.stdev(values):.3f}, min {min(values):.3f}, max {max(values):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="resnet18", help="backbone: an architecture name (random init) or a checkpoint")
    parser.add_argument("--images", type=int, default=102, help="images in all, split evenly over the three classes (default 102: 34 a class)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--scratch", action="store_true", help="instead: the from-scratch recipe, three seeds (the other options are unused)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    import torchvision.transforms.v2  # noqa: F401  fine-tuning imports torchvision on first use (about a second): not timed here

    if args.scratch:
        scratch()
        return
    samples = texture_samples(args.images // 3)

    rows = []
    for label, cache in (("head, cached features", True), ("head, plain loop", False)):
        start = time.perf_counter()
        result = train.finetune(args.source, samples, strategy="head", epochs=args.epochs, cache_features=cache, seed=0)
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
