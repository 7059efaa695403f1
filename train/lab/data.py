"""The lab's images, held in memory as uint8 tensors: the shipped handwritten digits (the default), patches of the
example photos, a user's folder or zip, or CIFAR-10."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import Tensor

from resnet.assets import EXAMPLES, example_photos
from resnet.transforms import load_image
from train.data import DataError, image_folder, in_memory, random_patches, stratified_split
from train.zips import read_zip_samples

__all__ = ["CIFAR10_URL", "DIGITS", "LabData", "PATCHES", "load_data"]

DIGITS, PATCHES = "digits", "patches"  # the two offline sets, by the name ``load_data`` takes
# UCI handwritten digits (scikit-learn's copy, written by scripts/make_digits.py; licence in examples/LICENSES.md):
# 1,797 images of 8 x 8 counts 0..16, shipped inside the package so that an installed copy finds them.
DIGITS_FILE = Path(__file__).resolve().parent / "digits.npz"
DIGITS_HELD_OUT = 0.2  # a fifth of each digit held out
# The other offline set: patches of the photos the app ships (resnet.assets); the class is the photo a patch comes from.
PATCHES_PER_CLASS = (256, 64)  # training, held out
SHRINK_TO = 12  # image sizes: each photo's shorter side is shrunk to this, so a patch shows part of a scene, not grain
GRID = 4  # each photo is cut into 4 x 4 tiles; patches come from the white squares (training) or the black (held out)
MAX_IMAGES = 60_000  # the user's folder or zip; all of it is held in memory
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@dataclass
class LabData:
    """Images as uint8 tensors (N, 3, S, S) with their labels, the class names and where they came from."""

    train_x: Tensor
    train_y: Tensor
    held_x: Tensor
    held_y: Tensor
    classes: list[str]
    source: str

    def normalizer(self) -> Callable[[Tensor], Tensor]:
        """A function from uint8 images to floats, less the training set's per-channel mean, over its std."""
        channels = self.train_x.transpose(0, 1).reshape(3, -1)
        stats = torch.tensor([[c.float().mean(), c.float().std()] for c in channels])  # a channel at a time: CIFAR-10 is 150 MB
        mean, std = stats[:, 0].view(1, 3, 1, 1), stats[:, 1].clamp_min(1.0).view(1, 3, 1, 1)
        return lambda images: (images.float() - mean) / std

    def describe(self) -> dict[str, Any]:
        """The data as settings: source, classes and set sizes."""
        return {"data": self.source, "classes": self.classes, "train_images": len(self.train_y), "held_out_images": len(self.held_y)}


def load_data(data: Optional[str | Path], *, image_size: int, seed: int) -> LabData:
    """The lab's images, at ``image_size`` pixels square, held in memory.

    Args:
        data: ``None`` or ``"digits"``: the UCI handwritten digits shipped with the package (1,797
            images of 10 digits, 8 x 8 pixels scaled to ``image_size``, grey in three equal channels;
            a fifth of each digit held out). ``"patches"``: patches of the photos in examples/, the
            class being the photo a patch comes from; a fixed training set of 256 a class from one half of a 4 x 4 checkerboard of tiles
            of each photo, and 64 held out from the other half (so no patch overlaps the other set).
            A folder (``<class>/<image>``) or a .zip of class folders: centre-cropped and resized,
            a fifth of each class held out. ``"cifar10"``: CIFAR-10's training and test sets through
            torchvision, from ``$CIFAR10_ROOT`` (default ~/.cache/resnet-studio/cifar10), downloaded if absent.
        image_size: side of the images in pixels.
        seed: seeds the patch positions and the split.

    Returns:
        A ``LabData``.

    Raises:
        train.DataError: the folder or zip is unusable, or CIFAR-10 could not be fetched (the message says what to do).
    """
    if data is None or str(data) == DIGITS:
        return _digits(image_size, seed)
    if str(data) == PATCHES:
        return _photo_patches(image_size, seed)
    if str(data) == "cifar10":
        return _cifar10(image_size)
    return _folder_images(Path(data), image_size, seed)


def _stack(images: Sequence[Image.Image], labels: Sequence[int], size: int) -> list[Tensor]:
    pixels = torch.from_numpy(np.stack([np.asarray(im.convert("RGB")) for im in images])) if images else torch.zeros(0, size, size, 3)
    return [pixels.permute(0, 3, 1, 2).to(torch.uint8).contiguous(), torch.tensor(labels, dtype=torch.long)]


def _digits(image_size: int, seed: int) -> LabData:
    with np.load(DIGITS_FILE) as stored:  # plain arrays: np.load refuses pickled objects by default
        counts, labels = torch.from_numpy(stored["images"]), torch.from_numpy(stored["labels"]).long()
    grey = (counts.float() * (255 / 16)).unsqueeze(1)  # 16 set bitmap pixels (a block all ink) -> 255
    grey = F.interpolate(grey, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    images = grey.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    tensors = []
    for split in stratified_split(labels.tolist(), DIGITS_HELD_OUT, seed):
        index = torch.tensor(split, dtype=torch.long)
        tensors += [images[index], labels[index]]
    return LabData(*tensors, [str(d) for d in range(10)], "UCI handwritten digits")


def _photo_patches(image_size: int, seed: int) -> LabData:
    paths = example_photos()
    parts: tuple[list, list] = ([], [])
    for target, path in enumerate(paths):
        photo = load_image(path)
        scale = SHRINK_TO * image_size / min(photo.size)
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BICUBIC)
        w, h = photo.width // GRID, photo.height // GRID
        for part, (count, out) in enumerate(zip(PATCHES_PER_CLASS, parts)):
            tiles = [(i * w, j * h, (i + 1) * w, (j + 1) * h) for i in range(GRID) for j in range(GRID) if (i + j) % 2 == part]
            for k, box in enumerate(tiles):
                n = count // len(tiles) + (k < count % len(tiles))
                out += [(p, target) for p in random_patches(photo, image_size, n, seed=(seed * 100 + target) * 100 + k, box=box)]
    tensors = [t for part in parts for t in _stack(*zip(*part), image_size)]
    return LabData(*tensors, [p.stem for p in paths], f"photo patches ({EXAMPLES.name}/)")


def _folder_images(path: Path, image_size: int, seed: int) -> LabData:
    if path.suffix.lower() == ".zip":
        samples, notes = read_zip_samples(path, max_images=MAX_IMAGES)
        dataset = in_memory(samples, max_images=MAX_IMAGES)
        source = f"{path.name} ({len(notes)} files skipped)" if notes else path.name
    else:
        dataset, source = image_folder(path), path.name
    if len(dataset) > MAX_IMAGES:
        raise DataError(f"{path.name} holds {len(dataset)} images, over the lab's limit of {MAX_IMAGES}; use fewer", code="too_many_images", count=len(dataset), limit=MAX_IMAGES)
    tensors = []
    for split in stratified_split(dataset.targets, 0.2, seed):
        images = [ImageOps.fit(dataset[i][0], (image_size, image_size), Image.Resampling.BICUBIC) for i in split]
        tensors += _stack(images, [dataset.targets[i] for i in split], image_size)
    return LabData(*tensors, dataset.classes, source)


def _cifar10(image_size: int) -> LabData:
    from torchvision.datasets import CIFAR10  # torchvision loads torch._dynamo: only when asked for

    root = Path(os.environ.get("CIFAR10_ROOT", Path.home() / ".cache" / "resnet-studio" / "cifar10"))
    try:
        sets = [CIFAR10(str(root), train=train, download=True) for train in (True, False)]
    except (OSError, RuntimeError) as e:  # URLError is an OSError; a broken archive is a RuntimeError
        raise DataError(
            f"CIFAR-10 could not be fetched into {root} ({e}). On a machine with network access, download {CIFAR10_URL}, "
            f"unpack it into {root} (so that {root}/cifar-10-batches-py exists) or set CIFAR10_ROOT to the folder holding "
            "cifar-10-batches-py; or leave data unset to use the offline photo patches."
        ) from e
    tensors = []
    for s in sets:
        x = torch.from_numpy(s.data).permute(0, 3, 1, 2).contiguous()
        if image_size != x.shape[-1]:  # 5,000 at a time: all 50,000 as floats would take 600 MB
            resize = lambda c: F.interpolate(c.float(), size=(image_size, image_size), mode="bilinear", antialias=True)  # noqa: E731
            x = torch.cat([resize(chunk).round().clamp(0, 255).to(torch.uint8) for chunk in x.split(5000)])
        tensors += [x, torch.tensor(s.targets, dtype=torch.long)]
    return LabData(*tensors, list(sets[0].classes), "CIFAR-10")
