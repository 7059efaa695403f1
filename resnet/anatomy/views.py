"""Pictures of what a ResNet computes: feature-map grids, first-layer filters, and the layer-response plot.

Made here, with PIL and plain SVG, so the app only shows them. ``feature_grid`` and ``filter_tiles`` scale
each tile to its own range; ``response_plot`` draws He et al. (2016), Fig. 7 for one input, as a
self-contained SVG (no script, no link, generic font).
"""

from __future__ import annotations

import html
import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from .inspect import Responses, check_pair, top_channels

__all__ = ["feature_grid", "filter_tiles", "nice_ceiling", "response_plot"]

# Viridis at five stops: perceptually even, and its brightness rises monotonically with the value.
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64)
_GAP = 2  # pixels between tiles
_BACKGROUND = (255, 255, 255)


def _colour(values: np.ndarray) -> np.ndarray:
    """A map of values in [0, 1] -> RGB uint8 through viridis."""
    stops = np.linspace(0, 1, len(_VIRIDIS))
    return np.stack([np.interp(values, stops, _VIRIDIS[:, c]) for c in range(3)], axis=-1).round().astype(np.uint8)


def _normalise(t: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Scale each slice to [0, 1] over ``dims``; a constant slice becomes 0."""
    lo, hi = t.amin(dim=dims, keepdim=True), t.amax(dim=dims, keepdim=True)
    return (t - lo) / (hi - lo).clamp_min(1e-12)


def _sheet(tiles: Sequence[np.ndarray], columns: int, captions: Sequence[str] = ()) -> Image.Image:
    """Tiles (H, W, 3) of one size in a grid, row by row, ``_GAP`` pixels apart, each caption in its tile's corner."""
    h, w = tiles[0].shape[:2]
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    sheet = Image.new("RGB", (cols * w + (cols - 1) * _GAP, rows * h + (rows - 1) * _GAP), _BACKGROUND)
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    for i, tile in enumerate(tiles):
        x, y = (i % cols) * (w + _GAP), (i // cols) * (h + _GAP)
        sheet.paste(Image.fromarray(tile), (x, y))
        if i < len(captions):
            box = draw.textbbox((x + 3, y + 2), captions[i], font=font)
            draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(0, 0, 0))
            draw.text((x + 3, y + 2), captions[i], fill=(255, 255, 255), font=font)
    return sheet



def feature_grid(
    fmap: Tensor, *, top: int = 16, size: int | tuple[int, int] = 112, columns: int = 4, labels: bool = True
) -> Image.Image:
    """The most active channels of one feature map, each scaled to its own range, as a grid of viridis tiles.

    Args:
        fmap: one image's feature map (C, H, W), e.g. ``stage_outputs(model, x)["layer2"][0]``.
        top: how many channels to show (all of them if there are fewer), ranked by mean activation.
        size: each tile's side, or (height, width), in pixels: give the photo's size and the tiles line up
            with it (bilinear upsampling that maps pixel centres onto pixel centres).
        columns: tiles per row.
        labels: print each tile's channel index in its top-left corner.

    Returns:
        An RGB image of ``min(columns, k)`` by ``ceil(k / columns)`` tiles, 2 pixels apart, highest mean first.
    """
    if fmap.dim() != 3:
        raise ValueError(f"fmap must be one feature map (C, H, W), got shape {tuple(fmap.shape)}")
    h, w = (size, size) if isinstance(size, int) else size
    if top < 1 or columns < 1 or h < 1 or w < 1:
        raise ValueError(f"top, columns and size must be positive, got top={top}, columns={columns}, size={size}")
    channels = top_channels(fmap, top)
    maps = _normalise(fmap.detach().float().cpu()[channels], (1, 2))
    maps = F.interpolate(maps[None], size=(h, w), mode="bilinear", align_corners=False)[0].clamp(0, 1)
    captions = [str(c) for c in channels] if labels else []
    return _sheet([_colour(m.numpy()) for m in maps], columns, captions)


def filter_tiles(conv1_weight: Tensor, *, scale: int = 4, columns: int = 8) -> Image.Image:
    """The first convolution's filters as RGB tiles, each scaled to its own range (as in Krizhevsky et al. 2012, Fig. 3).

    Args:
        conv1_weight: (filters, 3, kh, kw), e.g. ``model.conv1.weight``.
        scale: each weight becomes a ``scale`` x ``scale`` square of pixels.
        columns: tiles per row.

    Returns:
        An RGB image: one ``kh*scale`` x ``kw*scale`` tile per filter, in filter order, row by row, 2 pixels apart.
    """
    w = conv1_weight.detach().float().cpu()
    if w.dim() != 4 or w.shape[1] != 3:
        raise ValueError(f"conv1_weight must be (filters, 3, kh, kw), got shape {tuple(w.shape)}")
    if scale < 1 or columns < 1:
        raise ValueError(f"scale and columns must be positive, got scale={scale}, columns={columns}")
    pixels = (_normalise(w, (1, 2, 3)) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return _sheet([tile.repeat(scale, axis=0).repeat(scale, axis=1) for tile in pixels], columns)


def nice_ceiling(value: float, mantissas: Sequence[float]) -> float:
    """The smallest of ``mantissas`` (ascending, from 1 up to below 10) times a power of ten that is at least ``value``.

    A chart's axis end or tick step: ``(1, 2, 2.5, 5)`` here for the response plot's axis, ``(1, 2, 5)`` for the lab's
    ticks (``train.lab.plot``). ``value`` at or below zero gives 1.
    """
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(m * scale for m in (*mantissas, 10) if m * scale >= value)


def response_plot(
    residual: Responses,
    plain: Responses,
    *,
    size: tuple[int, int] = (720, 320),
    legend: tuple[str, str] = ("residual", "plain"),
    axis_titles: tuple[str, str] = ("layer index", "std"),
) -> str:
    """Std of the layer responses by layer index, for a residual net and its plain twin (He et al. 2016, Fig. 7).

    Args:
        residual: ``layer_responses`` of the residual network.
        plain: ``layer_responses`` of ``plain_twin(model)`` on the same input.
        size: (width, height) in pixels.
        legend: the two series' names (pass translated text here).
        axis_titles: the x and y axis titles.

    Returns:
        A self-contained SVG (no script, no link, generic font): one polyline per series, class
        ``series residual`` / ``series plain``, a point per layer (index 1 on the left).
    """
    check_pair(residual, plain)
    width, height = size
    if width < 200 or height < 120:
        raise ValueError(f"size must be at least (200, 120), got {size}")
    left, right, top, bottom = 56, 16, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = nice_ceiling(max(v for series in (residual, plain) for _, v in series), (1, 2, 2.5, 5))
    n = len(residual)

    def px(i: int) -> float:
        return left + plot_w * (i / (n - 1) if n > 1 else 0.5)

    def py(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" font-size="11" style="max-width:100%;height:auto">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for k in range(5):
        v, y = y_max * k / 4, py(y_max * k / 4)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">{v:.3g}</text>')
    step = max(1, math.ceil(n / 12))
    for i in range(0, n, step):
        out.append(f'<text x="{px(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#444">{i + 1}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#666"/>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="#222">{esc(axis_titles[0])}</text>')
    out.append(f'<text x="{left}" y="{top - 12}" fill="#222">{esc(axis_titles[1])}</text>')
    for k, (series, cls, colour, dash) in enumerate(((residual, "residual", "#1f6fb4", ""), (plain, "plain", "#c8432b", ' stroke-dasharray="5 3"'))):
        points = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, (_, v) in enumerate(series))
        out.append(f'<polyline class="series {cls}" points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        lx = width - right - 150 + 80 * k
        out.append(f'<line x1="{lx}" y1="{top - 16}" x2="{lx + 18}" y2="{top - 16}" stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 22}" y="{top - 12}" fill="#222">{esc(legend[k])}</text>')
    out.append("</svg>")
    return "".join(out)
