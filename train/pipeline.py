"""Training input on the device: uint8 batches augmented there, and data sets held there whole.

On a GPU the per-image CPU pipeline (decode, crop, flip, convert to float, normalise, all in
DataLoader workers) cannot keep up with the model. Here the workers only decode to uint8 (a
quarter of float32's bytes to copy), batches cross to the device from pinned memory without
blocking, and the crop, flip and normalisation run there as batched tensor ops. A set that fits
in device memory is decoded once and kept there as uint8 (``DeviceTensorSet``): no loader at all.

The batched crop, flip and normalisation themselves are in ``train.device_augment``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import torch
from torch import Tensor
from torch.utils.data import Dataset

from resnet.transforms import Preprocessing, eval_transform, geometry_transform

from .augment import AugmentedSubset, RandomCropFlip
from .config import option
from .data import BatchOrder, TransformedSubset, Uint8Image, auto_workers, decode_to_tensors, make_loader
from .device_augment import AUGMENTS, BatchAugment, DeviceTransforms

__all__ = [
    "DEVICE_SHARE",
    "PipelineConfig",
    "DeviceTensorSet",
    "batches",
    "data_fits",
    "use_device_pipeline",
    "Inputs",
    "prepare_inputs",
]

# The decoded set may take this share of the free device memory; the rest is for the model,
# its activations and the optimiser state.
DEVICE_SHARE = 0.5


@dataclass
class PipelineConfig:
    """Where and how training input is prepared; every field is a ``python -m train`` flag."""

    pipeline: str = option("auto", "device (uint8 batches augmented on the device), cpu (each image augmented in the loader), auto (device on CUDA)")
    augment: str = option("random-resized-crop", "random-resized-crop (and flip), random-crop (pad, crop, flip; device pipeline), none (resize and normalise only)")
    min_crop_scale: float = option(0.08, "smallest share of the image area a random-resized-crop keeps")
    crop_padding: int = option(4, "pixels of zero padding around the image for random-crop")
    data_on_device: str = option("auto", f"keep the decoded uint8 set on the device: on, off, auto (on when it fits in {DEVICE_SHARE:g} of the free CUDA memory)")
    decode_size: Optional[int] = option(None, "side of the square uint8 images the device pipeline decodes to (default: the resize size)")
    compile: bool = option(False, "torch.compile the model for training (minutes of compiling; then faster steps on CUDA)")

    def __post_init__(self) -> None:
        if self.pipeline not in ("auto", "device", "cpu"):
            raise ValueError(f"pipeline must be 'auto', 'device' or 'cpu', got {self.pipeline!r}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}")
        if not 0 < self.min_crop_scale <= 1:
            raise ValueError(f"min_crop_scale must be in (0, 1], got {self.min_crop_scale}")
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding must be at least 0, got {self.crop_padding}")
        if self.data_on_device not in ("auto", "on", "off"):
            raise ValueError(f"data_on_device must be 'auto', 'on' or 'off', got {self.data_on_device!r}")
        if self.decode_size is not None and self.decode_size < 1:
            raise ValueError(f"decode_size must be positive, got {self.decode_size}")


def use_device_pipeline(config: PipelineConfig, device: torch.device) -> bool:
    """Whether ``config`` augments on the device: ``"device"``, or ``"auto"`` on CUDA."""
    return config.pipeline == "device" or (config.pipeline == "auto" and device.type == "cuda")


class DeviceTensorSet(Dataset):
    """A whole data set as one uint8 tensor (N, 3, H, W) and its targets, both on one device.

    ``batches`` slices it there, in an order that depends on ``(seed, epoch)`` alone.
    Indexing gives single ``(image, target)`` pairs, as any ``Dataset`` does.

    Args:
        images: uint8, (N, 3, H, W).
        targets: class indices, (N,), on the same device.
        classes: class names, if known.
    """

    def __init__(self, images: Tensor, targets: Tensor, *, classes: Optional[list[str]] = None) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or targets.shape != (len(images),) or images.device != targets.device:
            raise ValueError(
                f"need uint8 images (N, 3, H, W) and N targets on one device, got {images.dtype} {tuple(images.shape)} on {images.device}, "
                f"targets {tuple(targets.shape)} on {targets.device}"
            )
        self.images, self.targets, self.classes = images, targets, classes

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.targets[index]

    @property
    def nbytes(self) -> int:
        """Device memory the images take."""
        return self.images.numel() * self.images.element_size()

    def batches(self, batch_size: int, *, shuffle: bool, order: BatchOrder = BatchOrder()) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches of ``(images, targets)``; with ``order.world_size > 1`` each rank gets an equal share of one shuffled order."""
        n = len(self)
        if shuffle:
            # One order for all ranks (no rank in the seed), cut into equal shares: every rank takes as many steps.
            indices = torch.randperm(n, generator=torch.Generator().manual_seed(order.seed * 100_003 + order.epoch * 1_009))
            indices = indices[: n - n % order.world_size][order.rank :: order.world_size].to(self.images.device)
        else:
            indices = torch.arange(n, device=self.images.device)
        for start in range(0, len(indices), batch_size):
            index = indices[start : start + batch_size]
            yield self.images.index_select(0, index), self.targets.index_select(0, index)


def batches(
    data: Dataset, batch_size: int, *, shuffle: bool, order: BatchOrder = BatchOrder(), workers: int = 0, device: Optional[torch.device] = None
) -> Iterable[tuple[Tensor, Tensor]]:
    """One epoch's batches of ``data``: sliced on the device for a ``DeviceTensorSet``, else from ``make_loader`` (same arguments)."""
    if isinstance(data, DeviceTensorSet):
        return data.batches(batch_size, shuffle=shuffle, order=order)
    return make_loader(data, batch_size, shuffle=shuffle, order=order, workers=workers, device=device)


def data_fits(nbytes: int, device: torch.device, *, share: float = DEVICE_SHARE) -> bool:
    """Whether ``nbytes`` fit in ``share`` of ``device``'s free memory (CUDA); False elsewhere."""
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= share * free



@dataclass
class Inputs:
    """What ``fit`` trains on: the two data sets, the device transforms (None on the CPU pipeline), and a line saying which."""

    train: Dataset
    val: Optional[Dataset]
    transforms: Optional[DeviceTransforms]
    summary: str


def prepare_inputs(
    train: TransformedSubset,
    val: Optional[TransformedSubset],
    preprocessing: Preprocessing,
    config: PipelineConfig,
    *,
    device: torch.device,
    seed: int,
    workers: int = 0,
) -> Inputs:
    """Set ``train`` and ``val`` up for ``config`` on ``device``: their transforms, and maybe decode them onto the device.

    The CPU pipeline augments each image in the loader (``train.augment``, or the evaluation
    transform for ``augment="none"``). The device pipeline decodes training images to uint8
    squares of ``decode_size`` (default ``preprocessing.resize_size``) and held-out images to the
    evaluation view itself (resize, centre crop), so evaluation on the device only normalises.

    Args:
        train: the training images (their ``transform`` is replaced).
        val: the held-out images, or None.
        preprocessing: crop size, resize size, interpolation, mean and std of the model.
        config: the pipeline settings.
        device: where training runs.
        seed: the run's seed (per-image augmentation on the CPU pipeline).
        workers: DataLoader workers for decoding (-1: ``train.data.auto_workers()``).

    Returns:
        The ``Inputs`` to pass to ``fit``.
    """
    p = preprocessing
    if not use_device_pipeline(config, device):
        if config.augment == "random-crop":
            raise ValueError("augment='random-crop' runs on the device pipeline only; add --pipeline device")
        if val is not None:
            val.transform = eval_transform(p)
        if config.augment == "none":
            train.transform = eval_transform(p)
            return Inputs(train, val, None, "cpu pipeline, no augmentation")
        augment = RandomCropFlip(p, scale=(config.min_crop_scale, 1.0))
        return Inputs(AugmentedSubset(train.dataset, train.indices, augment, seed=seed), val, None, "cpu pipeline, per-image augmentation")

    side = config.decode_size or p.resize_size
    if config.augment == "random-crop" and side + 2 * config.crop_padding < p.crop_size:
        raise ValueError(f"a {p.crop_size}-pixel random crop does not fit in {side}-pixel images padded by {config.crop_padding}; raise --decode-size")
    train.transform = Uint8Image(geometry_transform(Preprocessing(crop_size=side, resize_size=side, interpolation=p.interpolation)))
    if val is not None:
        val.transform = Uint8Image(geometry_transform(p))
    common = {"size": p.crop_size, "mean": p.mean, "std": p.std}
    transforms = DeviceTransforms(
        train=BatchAugment(config.augment, scale=(config.min_crop_scale, 1.0), padding=config.crop_padding, **common),
        eval=BatchAugment("none", **common),
    )
    nbytes = 3 * (len(train) * side**2 + (len(val) * p.crop_size**2 if val is not None else 0))
    on_device = config.data_on_device == "on" or (config.data_on_device == "auto" and data_fits(nbytes, device))
    if not on_device:
        return Inputs(train, val, transforms, f"device pipeline: uint8 {side}px batches from {auto_workers() if workers == -1 else workers} loader workers")

    def held(data: TransformedSubset) -> DeviceTensorSet:
        images, targets = decode_to_tensors(data, workers=workers)  # every image read once, here
        return DeviceTensorSet(images.to(device), targets.to(device), classes=data.classes)

    held_train, held_val = held(train), (held(val) if val is not None else None)
    size = held_train.nbytes + (held_val.nbytes if held_val is not None else 0)
    return Inputs(held_train, held_val, transforms, f"device pipeline: data on {device} ({size / 2**30:.2f} GiB of uint8 images, {side}px for training)")
