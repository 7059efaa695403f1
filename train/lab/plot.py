"""The lab's pictures, drawn with Pillow alone: the curves in the layout of the paper's Fig. 6, and a grid of training images.

Two panels side by side, plain nets on the left and residual nets on the right; each shows the
running training error (%) against the step, one line per depth, with a legend. A depth has the
same colour in both panels, so a plain net and its residual twin can be compared across them.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont

from resnet.anatomy.views import nice_ceiling

from .data import LabData
from .results import LabResult

__all__ = ["COLOURS", "plot_curves", "sample_grid"]

# One colour a depth, in the order of the run's depths (the paper: 20, 32, 44, 56, 110).
COLOURS = ((230, 159, 0), (0, 114, 178), (0, 158, 115), (213, 94, 0), (204, 121, 167), (86, 180, 233))
_MARGIN = (56, 34, 16, 44)  # left, top, right, bottom of each panel: room for tick labels and titles


def plot_curves(result: LabResult, *, width: int = 1000, height: int = 400) -> Image.Image:
    """Draw ``result``'s training-error curves: plain nets left, residual nets right.

    Args:
        result: a ``train.lab.LabResult`` (curves may be partial, from a stopped run).
        width: image width in pixels (two panels).
        height: image height in pixels.

    Returns:
        An RGB image.

    Raises:
        ValueError: the image is too small to hold the axes.
    """
    if width < 400 or height < 200:
        raise ValueError(f"the plot needs at least 400 x 200 pixels, got {width} x {height}")
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    depths = list(result.settings["depths"])
    curves = [net.train_error for net in result.networks.values() if net.train_error]
    x_max = max((c[-1][0] for c in curves), default=1)
    y_step = _tick_step(100 * max((v for c in curves for _, v in c), default=0.1))
    y_max = min(100, y_step * math.ceil(100 * max((v for c in curves for _, v in c), default=0.1) / y_step))
    x_step = _tick_step(x_max)
    for panel, (plain, title) in enumerate(((True, "plain"), (False, "ResNet"))):
        left, top = panel * width // 2 + _MARGIN[0], _MARGIN[1]
        right, bottom = (panel + 1) * width // 2 - _MARGIN[2], height - _MARGIN[3]
        draw.text(((left + right) // 2, 8), title, fill="black", font=font, anchor="mt")
        draw.text(((left + right) // 2, height - 6), "steps", fill="black", font=font, anchor="mb")
        for i in range(int(y_max // y_step) + 1):
            y = bottom - (bottom - top) * i * y_step / y_max
            draw.line([(left, y), (right, y)], fill=(225, 225, 225))
            draw.text((left - 4, y), f"{i * y_step:g}", fill="black", font=font, anchor="rm")
        for i in range(int(x_max // x_step) + 1):
            draw.text((left + (right - left) * i * x_step / x_max, bottom + 4), f"{i * x_step:,g}", fill="black", font=font, anchor="mt")
        draw.rectangle([left, top, right, bottom], outline="black")
        draw.text((left + 4, top + 2), "error (%)", fill=(90, 90, 90), font=font)
        legend_y = top + 6
        for depth, colour in zip(depths, COLOURS):
            net = result.networks.get(f"{'plain' if plain else 'residual'}-{depth}")
            if net is None or not net.train_error:
                continue
            points = [(left + (right - left) * s / x_max, bottom - (bottom - top) * min(100.0, 100 * v) / y_max) for s, v in net.train_error]
            draw.line(points if len(points) > 1 else points * 2, fill=colour, width=2)
            draw.line([(right - 92, legend_y + 7), (right - 72, legend_y + 7)], fill=colour, width=3)
            draw.text((right - 66, legend_y), f"{title}-{depth}", fill="black", font=font)
            legend_y += 18
    return image


def _tick_step(span: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten that divides ``span`` into at most six intervals."""
    return nice_ceiling(max(span, 1e-9) / 6, (1, 2, 5))


def sample_grid(data: LabData, *, per_class: int = 8, max_classes: int = 10, cell: int = 32) -> Image.Image:
    """Training images of ``data`` as one picture: a row per class, its first ``per_class`` images, the class name at the left.

    Args:
        data: a ``train.lab.LabData``.
        per_class: images a row.
        max_classes: rows at most (the first classes in order).
        cell: side of each image in pixels; small images are enlarged without smoothing, so their pixels show.

    Returns:
        An RGB image.
    """
    if per_class < 1 or max_classes < 1 or cell < 8:
        raise ValueError(f"need per_class >= 1, max_classes >= 1 and cell >= 8, got {per_class}, {max_classes}, {cell}")
    font = ImageFont.load_default(size=14)
    classes = data.classes[:max_classes]
    label_width = 8 + max(int(font.getlength(name)) for name in classes)
    gap = 2
    image = Image.new("RGB", (label_width + per_class * (cell + gap), len(classes) * (cell + gap)), "white")
    draw = ImageDraw.Draw(image)
    for row, name in enumerate(classes):
        top = row * (cell + gap)
        draw.text((label_width - 6, top + cell // 2), name, fill="black", font=font, anchor="rm")
        members = (data.train_y == row).nonzero().flatten()[:per_class]
        for column, index in enumerate(members.tolist()):
            pixels = data.train_x[index].permute(1, 2, 0).numpy()
            tile = Image.fromarray(pixels).resize((cell, cell), Image.Resampling.NEAREST)
            image.paste(tile, (label_width + column * (cell + gap), top))
    return image
