"""Architecture diagrams drawn from the model object: a standalone SVG, and foldable HTML for the app.

One forward pass with hooks (``resnet.diagram.layout.trace``) records what each stem layer, stage,
block and block layer takes and gives; ``resnet.diagram.svg`` draws it top to bottom: stem -> stages
-> blocks -> layers, with the tensor shape on every edge and each block's shortcut beside it (a line
for the identity, a box for a projection, nothing in a plain net). The HTML folds by stage and by
block with ``<details>``, so it needs no script and renders offline, inside Gradio's ``gr.HTML`` too.
"""

from __future__ import annotations

import html
from typing import Iterable, Mapping, Optional, Sequence

from torch import nn

from resnet.anatomy.hooks import named_stages

from .layout import dims, shortcut_label, trace
from .svg import WORDS, Piece, draw_block, draw_head, draw_stage_heading, draw_stem, svg, words_with

__all__ = ["WORDS", "diagram", "diagram_html"]

_OPEN = ' open="open"'  # the XML spelling of HTML's bare ``open``, so the fragment also parses as XML
_esc = html.escape


def diagram(
    model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224), *, title: Optional[str] = None, words: Optional[Mapping[str, str]] = None
) -> str:
    """The whole network, unfolded, as one standalone SVG (for download), top to bottom.

    Args:
        model: a ResNet with torchvision's names (stem, ``layer1`` ... ``layerN``, blocks); its train/eval
            modes are kept and no hooks remain.
        input_size: the input shape, batch first; the edges show the shapes it produces.
        title: the heading; default: the model's class, blocks per stage and input size.
        words: translations of the words in ``WORDS`` that the drawing writes (``input``, ``identity`` ...);
            the rest is the paper's notation, shapes and module names.

    Returns:
        SVG text, readable at 900-1200 px width: no script, no link, generic font only.

    Raises:
        ValueError: as ``resnet.diagram.svg.words_with`` for ``words``; as ``trace`` for the model and input.
    """
    words = words_with(words)
    layout = trace(model, input_size)
    if title is None:
        counts = ", ".join(str(len(s.blocks)) for s in layout.stages)
        plain = " (plain)" if all(b.join is None for s in layout.stages for b in s.blocks) else ""
        title = f"{type(model).__name__}{plain}: [{counts}] blocks, input {dims(layout.input_shape)}"
    body: list[str] = [f'<text x="16" y="28" font-size="16" font-weight="bold" fill="#111111">{_esc(title)}</text>']
    y = 40.0

    def place(piece: Piece) -> None:
        nonlocal y
        body.append(f'<g transform="translate(0,{y:g})">{piece.markup()}</g>')
        y += piece.y

    place(draw_stem(layout, words))
    for stage in layout.stages:
        body.append(f'<g class="stage" data-name="{_esc(stage.call.name)}">')
        place(draw_stage_heading(stage))
        for block in stage.blocks:
            place(draw_block(block, words))
        body.append("</g>")
    place(draw_head(layout, words))
    return svg(Piece(body, y), standalone=True, title=title)


def diagram_html(
    model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224), *, open_stages: Iterable[str] = (), words: Optional[Mapping[str, str]] = None
) -> str:
    """The network as an HTML fragment that folds by stage and by block on click, with no script.

    Each stage is a ``<details class="stage">`` whose summary reads like ``layer3: 6 x Bottleneck,
    1024 x 14 x 14``; inside it each block is a ``<details class="block-fold">`` holding that block's SVG.
    The stem and the head are always shown. The drawings keep their size (their text stays readable on
    a phone) in a box that scrolls sideways when the page is narrower.

    Args:
        model: as for ``diagram``.
        input_size: as for ``diagram``.
        open_stages: stage names (``"layer2"``) or block names (``"layer3.0"``, which opens its stage too)
            to show unfolded (one name may be given as a string); the rest are folded.
        words: as for ``diagram``; ``shortcut`` and ``no_shortcut`` also word each block's summary line.

    Returns:
        Well-formed HTML for ``gr.HTML`` or any page.

    Raises:
        ValueError: a name in ``open_stages`` is no stage or block of ``model``; ``words`` as for ``diagram``.
    """
    words = words_with(words)
    wanted = {open_stages} if isinstance(open_stages, str) else set(open_stages)
    stages = named_stages(model)
    known = {name for name, _ in stages} | {f"{name}.{block}" for name, stage in stages for block, _ in stage.named_children()}
    if wanted - known:
        raise ValueError(f"open_stages names no stage or block of this model: {sorted(wanted - known)}; stages are {[n for n, _ in stages]}")
    layout = trace(model, input_size)
    summary_style = ' style="cursor:pointer;padding:4px 0;font-weight:600"'
    parts = ['<div class="resnet-diagram" style="font-family:sans-serif;max-width:1200px;overflow-x:auto">', svg(draw_stem(layout, words))]
    for stage in layout.stages:
        opened = stage.call.name in wanted or any(b.call.name in wanted for b in stage.blocks)
        parts.append(
            f'<details class="stage" data-name="{_esc(stage.call.name)}"{_OPEN if opened else ""}>'
            f"<summary{summary_style}>{_esc(stage.summary())}</summary>"
        )
        for block in stage.blocks:
            call = block.call
            if block.join is None:
                shortcut = words["no_shortcut"]
            else:
                shortcut = words["shortcut"].replace("{shortcut}", shortcut_label(block, identity=words["identity"])[0])
            line = f"{call.name}: {type(call.module).__name__}, {dims(call.input_shape)} → {dims(call.output_shape)}, {shortcut}"
            parts.append(
                f'<details class="block-fold" data-name="{_esc(call.name)}" style="margin-left:1.5em"{_OPEN if call.name in wanted else ""}>'
                f'<summary style="cursor:pointer;padding:2px 0">{_esc(line)}</summary>{svg(draw_block(block, words))}</details>'
            )
        parts.append("</details>")
    parts += [svg(draw_head(layout, words)), "</div>"]
    return "".join(parts)
