"""Augmentation on the device: a uint8 batch cropped, flipped and normalised where it lies, from a generator there.

Every random number of a batch's augmentation comes from a ``torch.Generator`` on the device,
seeded from ``(seed, epoch, rank)`` at the start of each epoch (``epoch_generator``): a resumed
run, which starts at an epoch boundary, repeats the uninterrupted one. The streams differ between
device types (CUDA's generator is not the CPU's), so a run repeats on the device type it ran on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .augment import sample_generator

__all__ = ["AUGMENTS", "BatchAugment", "DeviceTransforms", "epoch_generator"]

AUGMENTS = ("random-resized-crop", "random-crop", "none")


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


def epoch_generator(device: torch.device, *, seed: int, epoch: int, rank: int = 0) -> torch.Generator:
    """The generator an epoch's batch augmentation draws from, on ``device``; each rank has its own stream."""
    # Seeded as train.augment seeds one sample's generator: nearby (seed, epoch, rank) give unrelated streams.
    return torch.Generator(device=device).manual_seed(sample_generator(seed, epoch, rank).initial_seed())
