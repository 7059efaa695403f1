"""Small real fine-tuning data: patches of the three texture photos in ../shared/photos/textures.

Training and held-out patches come from disjoint halves of each photo (top / bottom), so
held-out accuracy measures generalisation, not memory. When the photos are absent,
synthetic textures (stripes, checks, noise) stand in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from train.data import random_patches

TEXTURES = Path(__file__).resolve().parents[2] / "shared" / "photos" / "textures"


def texture_photos() -> dict[str, Image.Image]:
    """Class name -> a 512x512 texture photo (or a synthetic stand-in)."""
    if TEXTURES.is_dir():
        return {p.stem: Image.open(p).convert("RGB") for p in sorted(TEXTURES.glob("*.png"))}
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:512, 0:512]
    synthetic = {
        "stripes": (np.sin(x / 3.0) * 100 + 128),
        "checks": (((x // 16 + y // 16) % 2) * 180 + 40),
        "noise": rng.integers(0, 255, (512, 512)),
    }
    return {name: Image.fromarray(np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)).convert("RGB") for name, a in synthetic.items()}


def patches(split: str, per_class: int, size: int = 96, seed: int = 0) -> dict[str, list[Image.Image]]:
    """``per_class`` patches per class from the top ("train") or bottom ("val") half of each photo."""
    out = {}
    for name, photo in texture_photos().items():
        half = (0, 0, photo.width, photo.height // 2) if split == "train" else (0, photo.height // 2, photo.width, photo.height)
        out[name] = random_patches(photo, size, per_class, seed=seed, box=half)
    return out


def write_imagefolder(root: Path, train_per_class: int, val_per_class: int, size: int = 96) -> Path:
    """root/train/<class>/*.png and root/val/<class>/*.png."""
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for name, images in patches(split, count, size).items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i, image in enumerate(images):
                image.save(folder / f"{i:03d}.png")
    return root
