"""Datasets, splits and loaders: ImageFolder trees, the Tiny ImageNet layout, in-memory samples (zips: ``train.zips``).

Datasets here yield ``(PIL image, class index)``; transforms are applied by
``TransformedSubset`` (or, for seeded random augmentation, ``train.augment.AugmentedSubset``),
so one dataset can feed a training view and a held-out view (eval transform)
without reading files twice. Randomness comes from ``random.Random`` and
``torch.Generator`` objects made from the seed given, never from the global generators.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from resnet.files import image_name
from resnet.transforms import ImageError, load_image

__all__ = [
    "DataError",
    "LabelledImages",
    "TransformedSubset",
    "image_folder",
    "tiny_imagenet",
    "is_tiny_imagenet",
    "in_memory",
    "stratified_split",
    "BatchOrder",
    "make_loader",
    "auto_workers",
    "Uint8Image",
    "decode_to_tensors",
    "random_patches",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class DataError(ValueError):
    """Training data is missing, unreadable or badly laid out; the message says what to fix.

    Attributes:
        code: what is wrong, for an app to say in its own words (e.g. ``"one_class"``, ``"zip_bomb"``);
            ``params`` the values the message mentions (class and file names, never folders).
    """

    def __init__(self, message: str, *, code: str = "data", **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


class LabelledImages(Dataset):
    """``(image, class index)`` pairs with class names, read lazily from files or held in memory.

    Args:
        items: ``(path or image, class index)`` pairs.
        classes: class names; index ``i`` names class ``i``.
    """

    def __init__(self, items: Sequence[tuple[Any, int]], classes: Sequence[str]):
        self.items = list(items)
        self.classes = list(classes)
        self.targets = [target for _, target in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        source, target = self.items[index]
        return load_image(source), target


class TransformedSubset(Dataset):
    """The items of ``dataset`` at ``indices``, with ``transform`` applied to each image."""

    def __init__(self, dataset: LabelledImages, indices: Sequence[int], transform: Optional[Callable] = None):
        self.dataset = dataset
        self.indices = list(indices)
        self.transform = transform
        self.classes = dataset.classes
        self.targets = [dataset.targets[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, target = self.dataset[self.indices[index]]
        return (self.transform(image) if self.transform else image), target


def image_folder(root: str | os.PathLike) -> LabelledImages:
    """An ImageFolder tree (``root/<class>/<image>``), classes sorted by name as torchvision sorts them."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"no folder at {root}")
    from torchvision.datasets import ImageFolder  # torchvision loads torch._dynamo: keep it off the app's start-up path

    try:
        folder = ImageFolder(str(root), is_valid_file=lambda p: p.lower().endswith(IMAGE_EXTENSIONS))
    except FileNotFoundError as e:
        raise DataError(f"{root} holds no class folders with images ({e}); expected {root}/<class>/<image>.jpg") from e
    if len(folder.classes) < 2:
        raise DataError(f"{root} has {len(folder.classes)} class folder(s); training needs at least two")
    return LabelledImages(folder.samples, folder.classes)


def is_tiny_imagenet(root: str | os.PathLike) -> bool:
    """True when ``root`` has Tiny ImageNet's ``wnids.txt``, ``train/`` and ``val/val_annotations.txt``."""
    root = Path(root)
    return (root / "wnids.txt").is_file() and (root / "train").is_dir() and (root / "val" / "val_annotations.txt").is_file()


def tiny_imagenet(root: str | os.PathLike, split: str) -> LabelledImages:
    """Tiny ImageNet (``train/<wnid>/images/*.JPEG``; ``val/images/`` labelled by ``val/val_annotations.txt``).

    Classes are the wnids sorted (the order ImageFolder gives ``train/``), named
    by the first synonym in ``words.txt`` when it is present.
    """
    root = Path(root)
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    wnids = sorted(line.strip() for line in (root / "wnids.txt").read_text().splitlines() if line.strip())
    index = {wnid: i for i, wnid in enumerate(wnids)}
    words: dict[str, str] = {}
    if (root / "words.txt").is_file():
        for line in (root / "words.txt").read_text(encoding="utf-8").splitlines():
            wnid, _, names = line.partition("\t")
            words[wnid] = names.split(",")[0].strip()
    classes = [words.get(wnid) or wnid for wnid in wnids]

    items: list[tuple[Any, int]] = []
    if split == "train":
        for wnid in wnids:
            folder = root / "train" / wnid / "images"
            items += [(str(p), index[wnid]) for p in sorted(folder.glob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS]
    else:
        for n, line in enumerate((root / "val" / "val_annotations.txt").read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2 or parts[1] not in index:
                raise DataError(f"val/val_annotations.txt line {n}: expected '<file>\\t<wnid>...' with a wnid from wnids.txt, got {line!r}")
            items.append((str(root / "val" / "images" / parts[0]), index[parts[1]]))
    if not items:
        raise DataError(f"no {split} images under {root}")
    return LabelledImages(items, classes)


def in_memory(
    samples: Mapping[str, Sequence[Any]] | Sequence[tuple[Any, str]],
    *,
    max_images: int,
) -> LabelledImages:
    """Samples from the app: ``{class name: [images]}`` or ``[(image, class name)]``.

    Every image is decoded now, so unreadable ones are reported together, by name.
    Classes keep the order in which they first appear.

    Raises:
        DataError: fewer than two classes, an empty or duplicate class name, a class
            without images, more than ``max_images`` images, or unreadable images.
    """
    if isinstance(samples, Mapping):
        grouped = {name: list(images) for name, images in samples.items()}
    else:
        grouped = defaultdict(list)
        for image, name in samples:
            grouped[name].append(image)
    names = [str(n).strip() for n in grouped]
    if any(not n for n in names):
        raise DataError("a class has an empty name; give every class a name", code="unnamed_class")
    if len(set(n.casefold() for n in names)) != len(names):
        raise DataError(f"class names must differ: {names}", code="same_names", names=", ".join(names))
    if len(names) < 2:
        raise DataError(f"need at least two classes to tell apart, got {len(names)}", code="one_class", count=len(names))
    empty = [n for n, images in zip(names, grouped.values()) if not images]
    if empty:
        raise DataError(f"class {empty[0]!r} has no images; add some or remove the class", code="empty_class", name=empty[0])
    total = sum(len(images) for images in grouped.values())
    if total > max_images:
        raise DataError(f"{total} images is over the limit of {max_images}; use fewer per class", code="too_many_images", count=total, limit=max_images)

    items, bad = [], []
    for target, images in enumerate(grouped.values()):
        for image in images:
            try:
                items.append((load_image(image), target))
            except ImageError as e:
                bad.append(f"{image_name(image, unnamed='{kind}', folders=True)} ({e})")
    if bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise DataError(f"{len(bad)} image(s) could not be read: {shown}", code="unreadable_images", count=len(bad), names=shown)
    return LabelledImages(items, names)


def stratified_split(targets: Sequence[int], held_out: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded split keeping each class's share: returns (train indices, held-out indices).

    Each class with at least two items puts at least one in each part; a class
    with one item keeps it for training.
    """
    if not 0 <= held_out < 1:
        raise ValueError(f"held_out must be in [0, 1), got {held_out}")
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, t in enumerate(targets):
        by_class[t].append(i)
    rng = random.Random(seed)
    train, val = [], []
    for t in sorted(by_class):
        indices = by_class[t][:]
        rng.shuffle(indices)
        n_val = 0 if held_out == 0 or len(indices) < 2 else min(max(1, round(len(indices) * held_out)), len(indices) - 1)
        val += indices[:n_val]
        train += indices[n_val:]
    return sorted(train), sorted(val)


@dataclass(frozen=True)
class BatchOrder:
    """What one process's batches of an epoch depend on: a shuffled order follows ``(seed, epoch)`` alone, and with
    ``world_size > 1`` rank ``rank`` reads its own share of it (``make_loader``, ``train.pipeline.batches``)."""

    seed: int = 0
    epoch: int = 0
    rank: int = 0
    world_size: int = 1


def make_loader(
    dataset: Dataset, batch_size: int, *, shuffle: bool, order: BatchOrder = BatchOrder(), workers: int = 0, device: Optional[torch.device] = None,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader whose order depends only on ``order`` (seed, epoch, rank), drawn from a generator of its own.

    That makes a resumed run see the same batches as an uninterrupted one. With
    ``order.world_size > 1`` a ``DistributedSampler`` gives each rank its share. Worker
    processes are seeded from the same generator; augmentation that must not depend
    on which worker loads a sample seeds itself per sample (``train.augment``).
    ``workers=-1`` starts ``auto_workers()`` of them; ``device`` CUDA pins the batches' memory.
    """
    if workers < -1:
        raise ValueError(f"workers must be -1 (one per CPU) or at least 0, got {workers}")
    workers = auto_workers() if workers == -1 else workers
    sampler = None
    if order.world_size > 1 and shuffle:
        sampler = DistributedSampler(dataset, num_replicas=order.world_size, rank=order.rank, shuffle=True, seed=order.seed, drop_last=drop_last)
        sampler.set_epoch(order.epoch)
    generator = torch.Generator().manual_seed(order.seed * 100_003 + order.epoch * 1_009 + order.rank)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device is not None and device.type == "cuda",
        persistent_workers=False,
        generator=generator,
        drop_last=drop_last and sampler is None,
    )


def auto_workers() -> int:
    """DataLoader workers for this machine: one per CPU this process may use, less one for the training loop (1 to 32)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus - 1, 32))  # beyond 32, worker start-up and memory outweigh the decoding gained


class Uint8Image:
    """A transform: RGB PIL image -> uint8 tensor (3, H, W), after ``geometry`` (e.g. ``resnet.transforms.geometry_transform``).

    What the device pipeline (``train.pipeline``) loads: a quarter of float32's bytes, augmented on the device.
    """

    def __init__(self, geometry: Optional[Callable[[Image.Image], Image.Image]] = None) -> None:
        self.geometry = geometry

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """The image's pixels, channels first."""
        image = self.geometry(image) if self.geometry is not None else image
        return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)


def decode_to_tensors(dataset: Dataset, *, workers: int = 0, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Read every item of ``dataset`` (uint8 tensors of one shape, e.g. through ``Uint8Image``) into one tensor.

    Returns:
        ``(images, targets)``: uint8 (N, 3, H, W) and int64 (N,), on the CPU, in the data set's order.

    Raises:
        ValueError: the data set is empty or does not yield uint8 tensors.
    """
    if len(dataset) == 0:
        raise ValueError("cannot decode an empty dataset")
    images: Optional[torch.Tensor] = None
    targets = torch.empty(len(dataset), dtype=torch.int64)
    done = 0
    for x, y in make_loader(dataset, batch_size, shuffle=False, workers=workers):
        if x.dtype != torch.uint8:
            raise ValueError(f"expected uint8 images (use train.data.Uint8Image), got {x.dtype}")
        if images is None:  # allocated once, at the first batch's shape: no list of batches to concatenate
            images = torch.empty((len(dataset), *x.shape[1:]), dtype=torch.uint8)
        images[done : done + len(x)] = x
        targets[done : done + len(x)] = torch.as_tensor(y)
        done += len(x)
    return images, targets


def random_patches(
    image: Image.Image, size: int, count: int, *, seed: int, box: Optional[tuple[int, int, int, int]] = None
) -> list[Image.Image]:
    """``count`` square crops of side ``size`` at seeded random positions inside ``box`` (default: the whole image).

    Cutting a training set and a held-out set from two disjoint boxes of one texture
    photograph gives a small, honest fine-tuning set.
    """
    left, top, right, bottom = box or (0, 0, image.width, image.height)
    if right - left < size or bottom - top < size:
        raise ValueError(f"box {left, top, right, bottom} is smaller than a {size}x{size} patch")
    rng = random.Random(seed)
    patches = []
    for _ in range(count):
        x, y = rng.randint(left, right - size), rng.randint(top, bottom - size)
        patches.append(image.crop((x, y, x + size, y + size)))
    return patches
