"""Small real fine-tuning data: patches of the three texture photos in ../shared/photos/textures
(or their copies in examples/textures).

Training and held-out patches come from disjoint halves of each photo (top / bottom), so
held-out accuracy measures generalisation, not memory.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from train.data import random_patches

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "photos" / "textures"
TEXTURES = _SHARED if _SHARED.is_dir() else Path(__file__).resolve().parents[1] / "examples" / "textures"


def texture_photos() -> dict[str, Image.Image]:
    """Class name -> a 512x512 texture photo."""
    return {p.stem: Image.open(p).convert("RGB") for p in sorted(TEXTURES.glob("*.png"))}


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
