"""The lab's settings and schedule: ``LabConfig``, the presets the app offers, the batch order and the learning rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

from resnet.cifar import SHORTCUTS, blocks_per_stage

__all__ = ["CURVE_POINTS", "MILESTONES", "PRESETS", "SMOOTHING", "WARMUP_DEPTH", "WARMUP_SHARE", "LabConfig", "batch_order", "lr_at"]

SMOOTHING = 20  # steps: the running training error is the mean error of the last 20 training batches
CURVE_POINTS = 200  # points per curve at most: one every steps // 200 steps
MILESTONES = (0.5, 0.75)  # lr / 10 at these shares of the steps: the paper's 32k and 48k of 64k iterations
WARMUP_DEPTH = 110  # the paper trains 110 layers at lr / 10 until it starts learning (about 400 iterations)
WARMUP_SHARE = 0.05


@dataclass(frozen=True)
class LabConfig:
    """The settings of a lab run.

    Attributes:
        depths: layers of each plain/residual pair, each 6n+2 (20, 32, 44, 56, 110, ...).
        steps: SGD steps per network.
        width: filters of the first stage (the paper's 16; 8 is four times cheaper).
        image_size: side of the images, in pixels (8 to 64).
        batch_size: images per step.
        lr: peak learning rate (the paper's 0.1).
        shortcut: ``"A"`` (zero-padded identity, the paper's CIFAR choice) or ``"B"`` (projections).
        seed: seeds the data, the initial weights and the batch order.
        stacked: train each plain net and its residual twin as one network (``TwinResNet``): the same
            mathematics with half the operators per step; False trains the four networks one by one
            (the slower path, kept to compare with).
    """

    depths: tuple[int, ...] = (20, 56)
    steps: int = 800
    width: int = 8
    image_size: int = 16
    batch_size: int = 64
    lr: float = 0.1
    shortcut: str = "A"
    seed: int = 0
    stacked: bool = True

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting out of range."""
        if not self.depths or len(set(self.depths)) != len(self.depths):
            raise ValueError(f"depths must be one or more different 6n+2 values, got {list(self.depths)}")
        for label, value in (("steps", self.steps), ("width", self.width), ("lr", self.lr)):
            if not value > 0:
                raise ValueError(f"{label} must be positive, got {value}")
        if not 8 <= self.image_size <= 64:
            raise ValueError(f"image_size must be 8 to 64 pixels, got {self.image_size}")
        if self.shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be 'A' or 'B', got {self.shortcut!r}")
        for depth in self.depths:
            blocks_per_stage(depth)  # raises, naming a depth that is not 6n+2


# Settings the app offers; their times and errors on 2 CPU cores are in docs/LAB.md. Width 8 on 16-pixel
# images is what makes the four nets of depth 20 and 56 train in about a minute there.
PRESETS: dict[str, LabConfig] = {
    "quick": LabConfig(steps=300),
    "default": LabConfig(steps=800),
    "longer": LabConfig(depths=(20, 32, 44, 56), steps=2000),
}


def batch_order(num_items: int, batch_size: int, *, seed: int) -> Iterator[Tensor]:
    """Endless batches of indices: a new permutation each epoch, drawn from a generator seeded with ``seed``.

    Args:
        num_items: size of the training set.
        batch_size: indices a batch; an epoch's last incomplete batch is dropped.
        seed: the order depends on it alone.

    Returns:
        An iterator of int64 tensors of ``batch_size`` indices.
    """
    if not 1 <= batch_size <= num_items:
        raise ValueError(f"batch_size must be between 1 and the {num_items} training images, got {batch_size}")
    return _batches(num_items, batch_size, torch.Generator().manual_seed(seed))


def _batches(num_items: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    while True:
        perm = torch.randperm(num_items, generator=generator)
        for start in range(0, num_items - batch_size + 1, batch_size):
            yield perm[start : start + batch_size]


def lr_at(step: int, *, steps: int, lr: float, depth: int) -> float:
    """The paper's schedule: ``lr``, divided by 10 at each of ``MILESTONES``; deep nets warm up first.

    Args:
        step: the step, from 0.
        steps: steps in the run.
        lr: the peak learning rate.
        depth: the network's; from ``WARMUP_DEPTH`` layers on the first ``WARMUP_SHARE`` of the steps run at ``lr / 10``.

    Returns:
        The learning rate of that step.
    """
    if depth >= WARMUP_DEPTH and step < WARMUP_SHARE * steps:
        return lr / 10
    return lr * 0.1 ** sum(step >= share * steps for share in MILESTONES)
