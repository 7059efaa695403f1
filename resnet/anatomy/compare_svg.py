"""The comparison as a picture: ImageNet top-1 against GMACs (log scale), marker area = parameters, ResNets highlighted.

An SVG string, made here rather than in the page, so the command line and the app draw the same
chart; the caller passes the words (axis titles, legend) in the reader's language.
"""

from __future__ import annotations

import math
from html import escape
from typing import Iterable, Mapping, Sequence

from .compare import NetworkCost

__all__ = ["LEGEND_KEYS", "chart_svg"]

WIDTH, HEIGHT = 760, 470
MIN_WIDTH = 600  # px on the page: labels stay at least 9 px high
LEFT, RIGHT, TOP, BOTTOM = 62, 20, 16, 96  # the plot area's margins; the legend sits under the x axis
RESNET, OTHER, RING = "#e4572e", "#4c78a8", "#222222"
FONT = 12
CHAR_W = 6.6  # width of one character at FONT px, for placing labels (CJK characters count double)
LEGEND_KEYS = ("resnet", "other", "fig3", "area")


def _text_width(text: str) -> float:
    return sum(2 * CHAR_W if ord(c) > 0x2E80 else CHAR_W for c in text)


def _radius(params: int, largest: int) -> float:
    return 3 + 19 * math.sqrt(params / largest)  # area grows with the parameter count


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place(x: float, y: float, r: float, text: str, taken: list) -> tuple[float, float, str]:
    """Right of the marker, else left, above or below: the first spot free of other labels and inside the plot."""
    w, h = _text_width(text), FONT
    spots = [(x + r + 3, y + h / 3, "start"), (x - r - 3, y + h / 3, "end"), (x, y - r - 4, "middle"), (x, y + r + h + 2, "middle")]
    for tx, ty, anchor in spots:
        x0 = {"start": tx, "end": tx - w, "middle": tx - w / 2}[anchor]
        box = (x0, ty - h, x0 + w, ty + 2)
        inside = LEFT <= box[0] and box[2] <= WIDTH - RIGHT and TOP <= box[1] and box[3] <= HEIGHT - BOTTOM
        if inside and not any(_overlaps(box, other) for other in taken):
            taken.append(box)
            return tx, ty, anchor
    tx, ty, anchor = spots[0] if x < WIDTH / 2 else spots[1]
    return tx, ty, anchor


def chart_svg(rows: Iterable[NetworkCost], *, words: Mapping[str, str]) -> str:
    """An SVG of top-1 (%) against GMACs on a log axis; marker area = parameters; ResNets in orange, the Fig. 3 trio ringed.

    Args:
        rows: ``compare_networks``'s rows.
        words: ``"x"``, ``"y"`` (axis titles) and each of ``LEGEND_KEYS`` (legend entries), already translated.

    Returns:
        The ``<svg>`` element in a sideways-scrolling ``<div>``, as text; it scales to its container's width
        between ``MIN_WIDTH`` and ``WIDTH`` pixels.
    """
    rows = list(rows)
    lo, hi = math.floor(math.log10(min(r.gmacs for r in rows)) * 2) / 2, math.ceil(math.log10(max(r.gmacs for r in rows)) * 2) / 2
    y_lo, y_hi = 5 * math.floor(min(r.top1 for r in rows) / 5) - 2, 5 * math.ceil(max(r.top1 for r in rows) / 5)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(gmacs: float) -> float:
        return LEFT + (math.log10(gmacs) - lo) / (hi - lo) * plot_w

    def py(top1: float) -> float:
        return TOP + (y_hi - top1) / (y_hi - y_lo) * plot_h

    # Drawn at least MIN_WIDTH wide: on a phone the chart scrolls sideways in its box rather than shrink its text to 5 px.
    out = [f'<div class="compare-chart-box" style="overflow-x: auto; -webkit-overflow-scrolling: touch">'
           f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" style="min-width: {MIN_WIDTH}px; max-width: {WIDTH}px" '
           f'class="compare-chart" font-family="sans-serif" font-size="{FONT}" role="img">', '<rect width="100%" height="100%" fill="white"/>']
    for tick in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50):
        if lo <= math.log10(tick) <= hi:
            x = px(tick)
            out += [f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#e6e6e6"/>',
                    f'<text x="{x:.1f}" y="{TOP + plot_h + 15}" text-anchor="middle" fill="#444">{tick:g}</text>']
    for tick in range(int(y_lo + 2) // 5 * 5, int(y_hi) + 1, 5):
        y = py(tick)
        out += [f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e6e6e6"/>',
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">{tick}</text>']
    out += [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>',
            f'<text class="x-title" x="{LEFT + plot_w / 2}" y="{TOP + plot_h + 34}" text-anchor="middle">{escape(words["x"])}</text>',
            f'<text class="y-title" transform="translate(16 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">{escape(words["y"])}</text>']
    largest = max(r.params for r in rows)
    taken: list = []
    ordered = sorted(rows, key=lambda r: -r.params)  # big markers first, so small ones stay visible on top
    marks = [(r, px(r.gmacs), py(r.top1), _radius(r.params, largest)) for r in ordered]
    taken += [(x - rad, y - rad, x + rad, y + rad) for _, x, y, rad in marks]  # labels stay off every marker
    for r, x, y, rad in marks:
        colour = RESNET if r.resnet else OTHER
        ring = f' stroke="{RING}" stroke-width="2.5"' if r.fig3 else ' stroke="white" stroke-width="1"'
        out.append(f'<circle class="mark {"resnet" if r.resnet else "other"}" cx="{x:.1f}" cy="{y:.1f}" r="{rad:.1f}" '
                   f'fill="{colour}" fill-opacity="0.75"{ring}><title>{escape(r.label)}</title></circle>')
    for r, x, y, rad in sorted(marks, key=lambda m: (not m[0].resnet, m[1])):  # ResNets' labels get the best spots
        tx, ty, anchor = _place(x, y, rad, r.label, taken)
        weight = ' font-weight="bold"' if r.resnet else ""
        out.append(f'<text class="label" x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}"{weight} fill="#222">{escape(r.label)}</text>')
    out.append(_legend(words, TOP + plot_h + 58))
    out.append("</svg></div>")
    return "\n".join(out)


def _legend(words: Mapping[str, str], y: float) -> str:
    items = [(f'<circle cx="0" cy="-4" r="6" fill="{RESNET}" fill-opacity="0.75"/>', 12, words["resnet"]),
             (f'<circle cx="0" cy="-4" r="6" fill="{OTHER}" fill-opacity="0.75"/>', 12, words["other"]),
             (f'<circle cx="0" cy="-4" r="6" fill="white" stroke="{RING}" stroke-width="2.5"/>', 12, words["fig3"]),
             ('<circle cx="-3" cy="-4" r="3" fill="#999"/><circle cx="8" cy="-4" r="7" fill="#999"/>', 20, words["area"])]
    parts, x, row = ['<g class="legend">'], LEFT, 0
    for mark, gap, label in items:
        w = gap + _text_width(label) + 24
        if x + w > WIDTH - RIGHT:  # wrap onto a second line
            x, row = LEFT, row + 1
        parts.append(f'<g transform="translate({x + 6:.1f} {y + 20 * row:.1f})">{mark}'
                     f'<text class="legend-label" x="{gap}" y="0">{escape(label)}</text></g>')
        x += w
    parts.append("</g>")
    return "".join(parts)
