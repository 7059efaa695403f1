"""Training input on the device: uint8 batches augmented there, and data sets held there whole.

On a GPU the per-image CPU pipeline (decode, crop, flip, convert to float, normalise, all in
DataLoader workers) cannot keep up with the model. Here the workers only decode to uint8 (a
quarter of float32's bytes to copy), batches cross to the device from pinned memory without
blocking, and the crop, flip and normalisation run there as batched tensor ops. A set that fits
in device memory is decoded once and kept there as uint8 (``DeviceTensorSet``): no loader at all.

Every random number of a batch's augmentation comes from a ``torch.Generator`` on the device,
seeded from ``(seed, epoch, rank)`` at the start of each epoch (``epoch_generator``): a resumed
run, which starts at an epoch boundary, repeats the uninterrupted one. The streams differ between
device types (CUDA's generator is not the CPU's), so a run repeats on the device type it ran on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from resnet.transforms import Preprocessing, eval_transform, geometry_transform

from .augment import AugmentedSubset, RandomCropFlip, sample_generator
from .data import TransformedSubset, Uint8Image, auto_workers, decode_to_tensors, make_loader

__all__ = [
    "AUGMENTS",
    "DEVICE_SHARE",
    "PipelineConfig",
    "BatchAugment",
    "DeviceTransforms",
    "DeviceTensorSet",
    "batches",
    "epoch_generator",
    "data_fits",
    "use_device_pipeline",
    "Inputs",
    "prepare_inputs",
]

AUGMENTS = ("random-resized-crop", "random-crop", "none")
# The decoded set may take this share of the free device memory; the rest is for the model,
# its activations and the optimiser state.
DEVICE_SHARE = 0.5


def _option(default: Any, help: str) -> Any:
    """A ``PipelineConfig`` field: its default, and the help its ``python -m train`` flag shows."""
    return field(default=default, metadata={"help": help})


@dataclass
class PipelineConfig:
    """Where and how training input is prepared; every field is a ``python -m train`` flag."""

    pipeline: str = _option("auto", "device (uint8 batches augmented on the device), cpu (each image augmented in the loader), auto (device on CUDA)")
    augment: str = _option("random-resized-crop", "random-resized-crop (and flip), random-crop (pad, crop, flip; device pipeline), none (resize and normalise only)")
    min_crop_scale: float = _option(0.08, "smallest share of the image area a random-resized-crop keeps")
    crop_padding: int = _option(4, "pixels of zero padding around the image for random-crop")
    data_on_device: str = _option("auto", f"keep the decoded uint8 set on the device: on, off, auto (on when it fits in {DEVICE_SHARE:g} of the free CUDA memory)")
    decode_size: Optional[int] = _option(None, "side of the square uint8 images the device pipeline decodes to (default: the resize size)")
    compile: bool = _option(False, "torch.compile the model for training (minutes of compiling; then faster steps on CUDA)")

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


class BatchAugment:
    """Crop, flip and normalise a uint8 batch (N, 3, H, W) where it lies, into float (N, 3, size, size).

    ``"random-resized-crop"`` draws each image's box as ``torchvision.transforms.RandomResizedCrop``
    does (ten tries at a random area share and log-uniform aspect ratio, else the largest centre crop
    within the ratio range), vectorised, and resamples it bilinearly (no antialiasing: the box is
    rarely much larger than the output). ``"random-crop"`` pads with zeros (black) and takes a
    ``size`` square at a random offset, by indexing: the pixels are copied exactly. Both flip half of
    the images. ``"none"`` only resizes (antialiased) to ``size`` and normalises: the evaluation view,
    and the tutorial's ``Resize`` + ``ToTensor`` + ``Normalize`` on square images.

    Args:
        mode: one of ``AUGMENTS``.
        size: side of the output.
        mean: per-channel mean subtracted after scaling to [0, 1].
        std: per-channel standard deviation divided by.
        scale: range of the crop's share of the image area (random-resized-crop).
        ratio: range of the crop's aspect ratio, width / height (random-resized-crop).
        padding: zero padding on each side (random-crop).
        flip: flip half of the images horizontally (not for ``"none"``).
    """

    def __init__(
        self,
        mode: str,
        *,
        size: int,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        padding: int = 4,
        flip: bool = True,
    ) -> None:
        if mode not in AUGMENTS:
            raise ValueError(f"mode must be one of {', '.join(AUGMENTS)}, got {mode!r}")
        if size < 1 or padding < 0:
            raise ValueError(f"size must be positive and padding at least 0, got size {size}, padding {padding}")
        if not 0 < scale[0] <= scale[1] <= 1 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], got scale {scale}, ratio {ratio}")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need three values each, std positive; got mean {mean}, std {std}")
        self.mode, self.size, self.scale, self.ratio, self.padding, self.flip = mode, size, scale, ratio, padding, flip and mode != "none"
        self.mean, self.std = tuple(mean), tuple(std)
        self._constants: dict[torch.device, tuple[Tensor, Tensor]] = {}

    def __call__(self, images: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        """Augment ``images`` (uint8, N x 3 x H x W); the random modes draw every number from ``generator``, on their device."""
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected a uint8 batch (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        if self.mode != "none" and (generator is None or generator.device.type != images.device.type):
            raise ValueError(f"{self.mode} needs a generator on {images.device}, got {generator and generator.device}")
        if self.mode == "random-crop":
            pixels = self._random_crop(images, generator)
        elif self.mode == "random-resized-crop":
            pixels = self._random_resized_crop(images, generator)
        elif images.shape[-2:] != (self.size, self.size):
            pixels = F.interpolate(images.float(), size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        else:
            pixels = images.float()
        return self._normalize(pixels)

    def _normalize(self, pixels: Tensor) -> Tensor:
        if pixels.device not in self._constants:  # made once per device: a host-to-device copy every step would stall
            mean = torch.tensor(self.mean, device=pixels.device).view(1, 3, 1, 1)
            std = torch.tensor(self.std, device=pixels.device).view(1, 3, 1, 1)
            self._constants[pixels.device] = (mean * 255, std * 255)
        mean, std = self._constants[pixels.device]
        return pixels.sub_(mean).div_(std)  # (x / 255 - mean) / std, in one pass fewer

    def _flips(self, n: int, generator: torch.Generator, device: torch.device) -> Tensor:
        draws = torch.rand(n, generator=generator, device=device)
        return draws < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool, device=device)

    def _random_crop(self, images: Tensor, generator: torch.Generator) -> Tensor:
        n, _, height, width = images.shape
        pad, device = self.padding, images.device
        if height + 2 * pad < self.size or width + 2 * pad < self.size:
            raise ValueError(f"a {self.size}-pixel crop does not fit in {height}x{width} images padded by {pad}")
        padded = F.pad(images, (pad, pad, pad, pad))
        top = torch.randint(0, height + 2 * pad - self.size + 1, (n,), generator=generator, device=device)
        left = torch.randint(0, width + 2 * pad - self.size + 1, (n,), generator=generator, device=device)
        flips = self._flips(n, generator, device)
        steps = torch.arange(self.size, device=device)
        rows = top[:, None] + steps  # (N, size)
        cols = torch.where(flips[:, None], left[:, None] + self.size - 1 - steps, left[:, None] + steps)
        picked = padded[torch.arange(n, device=device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (N, size, size, 3)
        return picked.permute(0, 3, 1, 2).float()

    def _random_resized_crop(self, images: Tensor, generator: torch.Generator) -> Tensor:
        n, _, height, width = images.shape
        device = images.device
        top, left, h, w = self.boxes(n, height, width, generator)
        flips = self._flips(n, generator, device)
        # The affine map from output to input in grid_sample's [-1, 1] coordinates (align_corners=False).
        theta = torch.zeros(n, 2, 3, device=device)
        theta[:, 0, 0] = torch.where(flips, -w / width, w / width)
        theta[:, 0, 2] = (2 * left + w) / width - 1
        theta[:, 1, 1] = h / height
        theta[:, 1, 2] = (2 * top + h) / height - 1
        grid = F.affine_grid(theta, [n, 3, self.size, self.size], align_corners=False)
        return F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)

    def boxes(self, n: int, height: int, width: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(top, left, height, width)`` of ``n`` random-resized-crop boxes in ``height`` x ``width`` images, as float tensors."""
        # float32, not float64: MPS has no float64, and sides of a few thousand pixels round exactly in float32.
        device, tries = generator.device, 10
        area = height * width
        shares = self.scale[0] + (self.scale[1] - self.scale[0]) * torch.rand(n, tries, generator=generator, device=device)
        low, high = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(low + (high - low) * torch.rand(n, tries, generator=generator, device=device))
        w = torch.sqrt(area * shares * aspect).round()
        h = torch.sqrt(area * shares / aspect).round()
        fits = (w >= 1) & (w <= width) & (h >= 1) & (h <= height)
        first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # the first try that fits, as torchvision takes it
        w, h, found = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0], fits.any(dim=1)
        # Ten misses (a very long or thin image): the largest centre crop whose ratio is the image's, clamped to the range.
        aspect_kept = min(max(width / height, self.ratio[0]), self.ratio[1])
        fw, fh = min(width, round(height * aspect_kept)), min(height, round(width / aspect_kept))
        w, h = torch.where(found, w, float(fw)), torch.where(found, h, float(fh))
        top = torch.floor(torch.rand(n, generator=generator, device=device) * (height - h + 1))
        left = torch.floor(torch.rand(n, generator=generator, device=device) * (width - w + 1))
        top, left = torch.where(found, top, float((height - fh) // 2)), torch.where(found, left, float((width - fw) // 2))
        return top, left, h, w


@dataclass(frozen=True)
class DeviceTransforms:
    """What ``fit`` applies to uint8 batches once they are on the device: ``train`` (random) and ``eval``."""

    train: BatchAugment
    eval: BatchAugment


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

    def batches(self, batch_size: int, *, shuffle: bool, seed: int = 0, epoch: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches of ``(images, targets)``; with ``world_size > 1`` each rank gets an equal share of one shuffled order."""
        n = len(self)
        if shuffle:
            # One order for all ranks (no rank in the seed), cut into equal shares: every rank takes as many steps.
            order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch * 1_009))
            order = order[: n - n % world_size][rank::world_size].to(self.images.device)
        else:
            order = torch.arange(n, device=self.images.device)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            yield self.images.index_select(0, index), self.targets.index_select(0, index)


def batches(
    data: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    epoch: int = 0,
    workers: int = 0,
    device: Optional[torch.device] = None,
    rank: int = 0,
    world_size: int = 1,
) -> Iterable[tuple[Tensor, Tensor]]:
    """One epoch's batches of ``data``: sliced on the device for a ``DeviceTensorSet``, else from ``make_loader``."""
    if isinstance(data, DeviceTensorSet):
        return data.batches(batch_size, shuffle=shuffle, seed=seed, epoch=epoch, rank=rank, world_size=world_size)
    return make_loader(data, batch_size, shuffle=shuffle, seed=seed, epoch=epoch, workers=workers, device=device, rank=rank, world_size=world_size)


def epoch_generator(device: torch.device, *, seed: int, epoch: int, rank: int = 0) -> torch.Generator:
    """The generator an epoch's batch augmentation draws from, on ``device``; each rank has its own stream."""
    # Seeded as train.augment seeds one sample's generator: nearby (seed, epoch, rank) give unrelated streams.
    return torch.Generator(device=device).manual_seed(sample_generator(seed, epoch, rank).initial_seed())


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
