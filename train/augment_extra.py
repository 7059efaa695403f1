"""Augmentation beyond ``train.augment``'s crop and flip, drawn from the same per-sample generator."""

from __future__ import annotations

from typing import Callable

import torch
from PIL import Image

__all__ = ["RandomRotate90"]

_TURNS = (None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)


class RandomRotate90:
    """Turn the image by 0, 90, 180 or 270 degrees at random, then apply ``augment``.

    Only for classes that look the same whatever way up (textures, cells, aerial views):
    it teaches the model that orientation means nothing, so it is the user's choice.
    Quarter turns move pixels without resampling them, so nothing is blurred.

    Args:
        augment: called as ``augment(image, generator)`` on the turned image, e.g. a ``RandomCropFlip``.
    """

    def __init__(self, augment: Callable[[Image.Image, torch.Generator], torch.Tensor]):
        self.augment = augment

    def __call__(self, image: Image.Image, generator: torch.Generator) -> torch.Tensor:
        """RGB PIL image -> ``augment``'s tensor, the turn drawn from ``generator`` first."""
        turn = _TURNS[int(torch.randint(0, 4, (), generator=generator))]
        return self.augment(image if turn is None else image.transpose(turn), generator)
