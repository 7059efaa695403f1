"""Pictures the app shows: the confusion matrix of a fine-tune, and which of its cells a click landed on."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["confusion_cell", "confusion_image"]

CELL = 72  # pixels per cell


def _font() -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=14)


def _margin(labels: Sequence[str], font: ImageFont.FreeTypeFont) -> int:
    """Pixels left of (and above) the first cell: room for the longest label."""
    return 24 + max(int(font.getlength(str(label))) for label in labels)


# Right answers in blue, wrong ones in vermillion (Okabe and Ito's colours: told apart with any colour vision).
RIGHT, WRONG = (0, 114, 178), (213, 94, 0)


def _tint(colour: tuple[int, int, int], share: float) -> tuple[int, int, int]:
    """``colour`` mixed into white by ``share`` (0: white; 1: 85 % of the colour, dark enough for white digits)."""
    return tuple(round(255 + (c - 255) * 0.85 * share) for c in colour)


def confusion_image(confusion: np.ndarray, labels: Sequence[str], cell: int = CELL) -> Image.Image:
    """The confusion matrix as a picture: rows are true classes, columns predicted; right answers blue, wrong ones vermillion, darker = more images."""
    n = len(labels)
    confusion = np.asarray(confusion)
    if confusion.shape != (n, n):
        raise ValueError(f"confusion must be {n}x{n} for {n} labels, got shape {confusion.shape}")
    font = _font()
    margin = _margin(labels, font)
    size = (margin + n * cell + 12, margin + n * cell + 12)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    rows = confusion.sum(axis=1, keepdims=True)
    shares = np.divide(confusion, rows, out=np.zeros(confusion.shape, dtype=float), where=rows > 0)
    for i in range(n):
        for j in range(n):
            x, y = margin + j * cell, margin + i * cell
            share = shares[i, j]
            draw.rectangle([x, y, x + cell - 2, y + cell - 2], fill=_tint(RIGHT if i == j else WRONG, share))
            draw.text((x + cell / 2, y + cell / 2), str(int(confusion[i, j])), fill="white" if share > 0.6 else "black", font=font, anchor="mm")
    for k, label in enumerate(labels):
        draw.text((margin - 8, margin + k * cell + cell / 2), str(label), fill="black", font=font, anchor="rm")
        draw.text((margin + k * cell + cell / 2, margin - 8), str(label), fill="black", font=font, anchor="md")
    return image


def confusion_cell(labels: Sequence[str], x: float, y: float, cell: int = CELL) -> Optional[tuple[int, int]]:
    """``(true, predicted)`` indices of the cell of ``confusion_image(_, labels)`` at pixel ``(x, y)``; None outside the cells."""
    margin = _margin(labels, _font())
    column, row = int((x - margin) // cell), int((y - margin) // cell)
    if x < margin or y < margin or not (0 <= row < len(labels) and 0 <= column < len(labels)):
        return None
    return row, column
