"""Training augmentation drawn from generators of its own, never from torch's global one.

torchvision's random transforms draw from torch's global generator. The app runs
several users' fine-tunes at once, in threads of one process, so with them one
user's run would change the crops another's sees. Here each sample's crop and flip
come from a ``torch.Generator`` seeded from ``(seed, epoch, index)`` alone, and
torchvision's functional ops only do the pixel work. A sample's augmentation then
depends on nothing else: not on other runs, the DataLoader worker that loads it,
the batch order, or whether the run was resumed.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from resnet.transforms import Preprocessing

__all__ = ["RandomCropFlip", "AugmentedSubset", "sample_generator"]


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator for one sample of one epoch; nearby ``(seed, epoch, index)`` give unrelated streams."""
    # SeedSequence mixes its entropy well (seed + index would repeat across epochs) but takes non-negative words.
    words = np.random.SeedSequence([seed % 2**64, epoch, index]).generate_state(1, np.uint64)
    return torch.Generator().manual_seed(int(words[0]))


class RandomCropFlip:
    """Random resized crop and horizontal flip, then normalise: ``train_transform``'s recipe, from a given generator.

    The crop box follows torchvision's ``RandomResizedCrop`` (ten tries at a random
    area and log-uniform aspect ratio, else a centre crop).

    Args:
        p: crop size, interpolation, mean and std.
        scale: range of the crop's share of the image area.
        ratio: range of the crop's aspect ratio (width / height).
    """

    def __init__(self, p: Preprocessing, *, scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)):
        if not 0 < scale[0] <= scale[1] <= 1 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], got scale {scale}, ratio {ratio}")
        self.p, self.scale, self.ratio = p, scale, ratio

    def __call__(self, image: Image.Image, generator: torch.Generator) -> torch.Tensor:
        """RGB PIL image -> normalised float tensor (3, crop, crop), every random choice drawn from ``generator``."""
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as F  # imported when training starts, as resnet.transforms does

        top, left, height, width = self.box(image.width, image.height, generator)
        size = [self.p.crop_size, self.p.crop_size]
        image = F.resized_crop(image, top, left, height, width, size, interpolation=InterpolationMode(self.p.interpolation), antialias=True)
        if torch.rand((), generator=generator) < 0.5:
            image = F.horizontal_flip(image)
        pixels = F.pil_to_tensor(image).float().div_(255)
        return F.normalize(pixels, mean=list(self.p.mean), std=list(self.p.std))

    def box(self, width: int, height: int, generator: torch.Generator) -> tuple[int, int, int, int]:
        """``(top, left, height, width)`` of a random crop of a ``width`` x ``height`` image."""
        area = width * height
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * _uniform(*self.scale, generator)
            aspect = math.exp(_uniform(*log_ratio, generator))
            w = round(math.sqrt(target_area * aspect))
            h = round(math.sqrt(target_area / aspect))
            if 0 < w <= width and 0 < h <= height:
                top = int(torch.randint(0, height - h + 1, (), generator=generator))
                left = int(torch.randint(0, width - w + 1, (), generator=generator))
                return top, left, h, w
        # Ten misses (a very long or thin image): the largest centre crop within the ratio range.
        if width / height < self.ratio[0]:
            w, h = width, round(width / self.ratio[0])
        elif width / height > self.ratio[1]:
            w, h = round(height * self.ratio[1]), height
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand((), dtype=torch.float64, generator=generator))


class AugmentedSubset(Dataset):
    """The items of ``dataset`` at ``indices``, each augmented from its own ``sample_generator(seed, epoch, position)``.

    ``fit`` calls ``set_epoch`` before each epoch (as one does with ``DistributedSampler``),
    so every epoch sees new crops, and a resumed run sees the same ones again. The same
    index listed twice (several views of one image) gets two different augmentations.

    Args:
        dataset: yields ``(PIL image, class index)``.
        indices: positions in ``dataset``.
        augment: called as ``augment(image, generator)``, e.g. a ``RandomCropFlip``.
        seed: the run's seed.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int], augment: Callable[[Image.Image, torch.Generator], torch.Tensor], *, seed: int):
        self.dataset = dataset
        self.indices = list(indices)
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.classes = getattr(dataset, "classes", None)
        targets = getattr(dataset, "targets", None)
        self.targets = [targets[i] for i in self.indices] if targets is not None else None

    def set_epoch(self, epoch: int) -> None:
        """Draw the next items' augmentation for epoch ``epoch`` (0-based)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        image, target = self.dataset[self.indices[index]]
        return self.augment(image, sample_generator(self.seed, self.epoch, index)), target
