"""Fine-tune "head" strategy: cached features vs a plain loop that re-runs the frozen backbone every epoch.

Both runs use the same data (texture patches cut from examples/textures: top halves for
training, bottom halves held out), the same backbone, the same seed and 10 epochs.

    python -m benchmarks.finetune                                # resnet18, random initialisation (offline)
    python -m benchmarks.finetune --source timm/resnet50.a1_in1k # a cached or downloadable checkpoint
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

import train
from resnet.devices import cpu_model
from train.data import random_patches


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="resnet18", help="backbone: an architecture name (random init) or a checkpoint")
    parser.add_argument("--images", type=int, default=102, help="images in all, split evenly over the three classes (default 102: 34 a class)")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    samples = texture_samples(args.images // 3)
    import torchvision.transforms.v2  # noqa: F401  fine-tuning imports torchvision on first use (about a second): not timed here

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
