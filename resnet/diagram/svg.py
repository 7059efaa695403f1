"""The SVG drawing of an architecture diagram: boxes, edges with shapes, shortcuts, additions, in fixed columns.

Everything is SVG with presentation attributes: no script, no style sheet, no font file, no link
(arrowheads are polygons, not ``url(#marker)``), so it renders offline and inside Gradio's ``gr.HTML``.
Elements carry stable names for tests and styling: ``class="block" data-name="layer3.2"``,
``class="projection"``, ``class="identity"``, ``class="edge" data-from=... data-shape=...``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

from .layout import Block, Call, Layout, Stage, describe, dims, shortcut_label

__all__ = ["WORDS", "Piece", "draw_block", "draw_head", "draw_stage_heading", "draw_stem", "svg", "words_with"]

# The namespace name a standalone .svg file needs to render as a picture; a name, never fetched.
_SVG_NS = "http://www.w3.org/2000/svg"

_W = 780  # drawing width; scales down with the page (max-width: 100%)
_CX = 330  # the main column's centre line
_BOX_W, _BOX_H = 260, 26
_EDGE = 32  # length of an edge between two boxes
_IN = 40  # length of a block's incoming edge (the shortcut forks from it)
_FORK = 30  # below the incoming edge's shape label, above its arrowhead
_R = 10  # radius of the addition node
_LANE = 610  # the shortcut's column
_COLOURS = {  # kind -> (fill, stroke)
    "conv": ("#dbe9f7", "#3d6f9e"),
    "norm": ("#f7edd4", "#a88a3a"),
    "relu": ("#e3f1de", "#5b8c4a"),
    "pool": ("#ece1f3", "#7a5a96"),
    "fc": ("#f6dddd", "#a14a4a"),
    "other": ("#eeeeee", "#666666"),
}
_esc = html.escape
# The few words a diagram writes that are not the paper's notation: pass a translation to ``diagram``.
WORDS = {"input": "input", "output": "output", "identity": "identity", "shortcut": "shortcut: {shortcut}", "no_shortcut": "no shortcut"}


def words_with(words: Optional[Mapping[str, str]]) -> dict[str, str]:
    """``WORDS`` with ``words`` in place of the defaults it names.

    Raises:
        ValueError: ``words`` names a word the diagram does not write, or its ``shortcut`` lacks ``{shortcut}``.
    """
    given = dict(words or {})
    if set(given) - set(WORDS):
        raise ValueError(f"words names no word of the diagram: {sorted(set(given) - set(WORDS))}; the words are {sorted(WORDS)}")
    if "{shortcut}" not in given.get("shortcut", "{shortcut}"):
        raise ValueError(f"words['shortcut'] must hold '{{shortcut}}' for the shortcut's name, got {given['shortcut']!r}")
    return {**WORDS, **given}


@dataclass
class Piece:
    """SVG markup in local coordinates, drawn top to bottom; ``y`` is where the next element goes."""

    parts: list[str] = field(default_factory=list)
    y: float = 0.0

    def add(self, markup: str) -> None:
        """Append ``markup``; the caller moves ``y`` past what it drew."""
        self.parts.append(markup)

    def markup(self) -> str:
        """Everything drawn so far, as one string."""
        return "".join(self.parts)


def _arrow(x: float, y: float, direction: str) -> str:
    points = {"down": f"{x - 4},{y - 7} {x + 4},{y - 7} {x},{y}", "left": f"{x + 7},{y - 4} {x + 7},{y + 4} {x},{y}"}[direction]
    return f'<polygon points="{points}" fill="#555555"/>'


def _edge(p: Piece, source: str, shape: Sequence[int], length: float, *, x: float = _CX, turn_to: Optional[float] = None) -> None:
    """An arrow down from ``p.y`` carrying ``shape``, made by ``source``; ``turn_to`` bends it left to that x at the end."""
    y0, y1 = p.y, p.y + length
    if turn_to is None:
        line = f'<line x1="{x}" y1="{y0}" x2="{x}" y2="{y1 - 6}" stroke="#555555" stroke-width="1.5"/>' + _arrow(x, y1, "down")
    else:
        line = f'<polyline points="{x},{y0} {x},{y1} {turn_to + 6},{y1}" fill="none" stroke="#555555" stroke-width="1.5"/>'
        line += _arrow(turn_to, y1, "left")
    label_y = (y0 + y1) / 2 + 4 if turn_to is None else y0 + 14
    p.add(
        f'<g class="edge" data-from="{_esc(source)}" data-shape="{"x".join(map(str, shape))}">{line}'
        f'<text x="{x + 8}" y="{label_y}" font-size="11" fill="#444444">{dims(shape)}</text></g>'
    )
    p.y = y1


def _box(p: Piece, name: str, text: str, kind: str) -> None:
    fill, stroke = _COLOURS[kind]
    short = name.rsplit(".", 1)[-1]
    p.add(
        f'<g class="layer" data-name="{_esc(name)}">'
        f'<text x="{_CX - _BOX_W / 2 - 8}" y="{p.y + 17}" text-anchor="end" font-size="10" fill="#777777">{_esc(short)}</text>'
        f'<rect x="{_CX - _BOX_W / 2}" y="{p.y}" width="{_BOX_W}" height="{_BOX_H}" rx="4" fill="{fill}" stroke="{stroke}"/>'
        f'<text x="{_CX}" y="{p.y + 17}" text-anchor="middle" font-size="12" fill="#111111">{_esc(text)}</text></g>'
    )
    p.y += _BOX_H


def _chain(p: Piece, calls: Sequence[Call]) -> None:
    """Boxes joined by edges; the last box's output edge is left to whatever comes next."""
    for i, call in enumerate(calls):
        _box(p, call.name, *describe(call.module))
        if i + 1 < len(calls):
            _edge(p, call.name, call.output_shape, _EDGE)


def _shortcut(p: Piece, block: Block, join_y: float, words: Mapping[str, str]) -> None:
    """The shortcut from the fork on the incoming edge down the right-hand lane into the addition at ``join_y``."""
    name, sc = block.call.name, block.shortcut
    title, detail, projection = shortcut_label(block, identity=words["identity"])
    fork = f'<circle cx="{_CX}" cy="{_FORK}" r="3" fill="#d9822b"/>'
    if projection:
        top = (_FORK + join_y) / 2 - 20
        p.add(
            f'<g class="projection" data-block="{_esc(name)}">{fork}'
            f'<polyline points="{_CX},{_FORK} {_LANE},{_FORK} {_LANE},{top}" fill="none" stroke="#d9822b" stroke-width="1.5"/>'
            f'<rect x="{_LANE - 85}" y="{top}" width="170" height="40" rx="4" fill="#fde2c4" stroke="#c77a2a"/>'
            f'<text x="{_LANE}" y="{top + 16}" text-anchor="middle" font-size="12" fill="#111111">{_esc(title)}</text>'
            f'<text x="{_LANE}" y="{top + 32}" text-anchor="middle" font-size="11" fill="#444444">{_esc(detail)}</text></g>'
        )
        lane = Piece(y=top + 40)
        _edge(lane, sc.name, sc.output_shape, join_y - top - 40, x=_LANE, turn_to=_CX + _R)
        p.parts += lane.parts
        return
    shape = block.call.input_shape if sc is None else sc.output_shape
    p.add(
        f'<g class="identity" data-block="{_esc(name)}" data-shape="{"x".join(map(str, shape))}">{fork}'
        f'<polyline points="{_CX},{_FORK} {_LANE},{_FORK} {_LANE},{join_y} {_CX + _R + 6},{join_y}" fill="none" '
        f'stroke="#d9822b" stroke-width="1.5"/>{_arrow(_CX + _R, join_y, "left")}'
        f'<text x="{_LANE + 8}" y="{(_FORK + join_y) / 2}" font-size="11" fill="#8a4b12">{_esc(title)}</text>'
        f'<text x="{_LANE + 8}" y="{(_FORK + join_y) / 2 + 14}" font-size="11" fill="#444444">{dims(shape)}</text></g>'
    )


def draw_block(block: Block, words: Mapping[str, str] = WORDS) -> Piece:
    """One block in its frame: the incoming edge, the residual branch, the addition and the shortcut beside it."""
    name, kind = block.call.name, type(block.call.module).__name__
    p = Piece()
    _edge(p, block.source, block.call.input_shape, _IN)
    if block.join is None:
        _chain(p, block.main)
    else:
        branch, after = block.main[: block.join + 1], block.main[block.join + 1 :]
        _chain(p, branch)
        _edge(p, branch[-1].name, branch[-1].output_shape, _EDGE)
        join_y = p.y + _R
        p.add(
            f'<g class="add"><circle cx="{_CX}" cy="{join_y}" r="{_R}" fill="#ffffff" stroke="#555555" stroke-width="1.5"/>'
            f'<text x="{_CX}" y="{join_y + 5}" text-anchor="middle" font-size="15" fill="#111111">+</text></g>'
        )
        _shortcut(p, block, join_y, words)
        p.y = join_y + _R
        if after:
            _edge(p, f"{name}+", branch[-1].output_shape, _EDGE)  # the sum: the block's own tensor, made by no module
            _chain(p, after)
    p.y += 10
    frame = f'<rect x="24" y="8" width="{_W - 48}" height="{p.y - 8}" rx="8" fill="#f8fafc" stroke="#c9d3df"/>'
    labels = (
        f'<text x="36" y="30" font-size="13" font-weight="bold" fill="#222222">{_esc(name)}</text>'
        f'<text x="36" y="46" font-size="11" fill="#666666">{_esc(kind)}</text>'
    )
    p.parts = [f'<g class="block" data-name="{_esc(name)}">', frame, labels, *p.parts, "</g>"]
    return p


def _io_box(p: Piece, text: str) -> None:
    p.add(
        f'<g class="io"><rect x="{_CX - 60}" y="{p.y}" width="120" height="{_BOX_H}" rx="13" fill="#ffffff" stroke="#666666"/>'
        f'<text x="{_CX}" y="{p.y + 17}" text-anchor="middle" font-size="12" fill="#111111">{_esc(text)}</text></g>'
    )
    p.y += _BOX_H


def draw_stem(layout: Layout, words: Mapping[str, str] = WORDS) -> Piece:
    """The input and the stem's layers, down to the edge into the first stage."""
    p = Piece(y=8)
    _io_box(p, words["input"])
    _edge(p, "input", layout.input_shape, _EDGE)
    _chain(p, layout.stem)
    p.y += 4
    p.parts = ['<g class="stem">', *p.parts, "</g>"]
    return p


def draw_head(layout: Layout, words: Mapping[str, str] = WORDS) -> Piece:
    """The edge out of the last stage, the head's layers (pool, fc) and the output."""
    last = layout.stages[-1].blocks[-1].call
    p = Piece()
    _edge(p, last.name, last.output_shape, _EDGE)
    _chain(p, layout.head)
    if layout.head:
        _edge(p, layout.head[-1].name, layout.head[-1].output_shape, _EDGE)
    _io_box(p, words["output"])
    p.y += 8
    p.parts = ['<g class="head">', *p.parts, "</g>"]
    return p


def draw_stage_heading(stage: Stage) -> Piece:
    """The stage's summary line (``layer3: 6 x Bottleneck, 1024 x 14 x 14``) beside the main column."""
    return Piece([
        f'<line x1="{_CX}" y1="0" x2="{_CX}" y2="34" stroke="#555555" stroke-width="1.5"/>',
        f'<text x="16" y="24" font-size="14" font-weight="bold" fill="#1d3d5c">{_esc(stage.summary())}</text>',
    ], 34)


def svg(p: Piece, *, standalone: bool = False, title: str = "") -> str:
    """``p`` as an ``<svg>`` element, ``_W`` wide.

    Args:
        p: the drawing.
        standalone: a file of its own: declare the SVG namespace (inline in HTML the parser knows it) and
            scale down with the window. Inline, the drawing keeps its size, so its text stays readable on a
            phone: the page scrolls it sideways (``diagram_html``'s box) instead of shrinking it.
        title: a ``<title>`` to give it.

    Returns:
        The SVG markup.
    """
    ns = f' xmlns="{_SVG_NS}"' if standalone else ""
    fit = "max-width:100%;height:auto" if standalone else "display:block;max-width:none"
    heading = f"<title>{_esc(title)}</title>" if title else ""
    return (
        f'<svg{ns} width="{_W}" height="{p.y:g}" viewBox="0 0 {_W} {p.y:g}" font-family="sans-serif" '
        f'style="{fit}">{heading}<rect width="{_W}" height="{p.y:g}" fill="#ffffff"/>{p.markup()}</svg>'
    )
