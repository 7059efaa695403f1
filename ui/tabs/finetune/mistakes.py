"""The fine-tune's mistakes: the held-out images the model got wrong, as a gallery a confusion-matrix cell filters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import gradio as gr

from train.mistakes import Mistake, filter_mistakes
from ui.i18n import text

from .pictures import confusion_cell

__all__ = ["ALL", "COLUMNS", "Kept", "cell_choice", "choices", "gallery", "keep", "show"]

ALL = "all"  # the filter's value for every mistake
ARROW = " → "  # a pair's value: "<true label> → <predicted label>"; a mistake's caption too
COLUMNS = 6  # at most; a short gallery takes fewer (at least MIN_COLUMNS), so its one row holds larger pictures
MIN_COLUMNS = 3  # below this one or two pictures would fill the page's width


@dataclass(frozen=True)
class Kept:
    """What the session keeps of one ``Mistake``: its overlay as a PNG file, and the plain fields (no images in memory)."""

    path: str
    true: str
    predicted: str
    probability: float
    correct: bool


def keep(mistakes: Sequence[Mistake], labels: Sequence[str], folder: Path) -> dict[str, Any]:
    """What the session keeps of a fine-tune's mistakes: ``{"labels": [...], "items": [Kept, ...]}``, overlays in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for n, m in enumerate(mistakes):
        path = folder / f"{n:02d}.png"
        m.overlay.save(path, format="PNG", compress_level=1)
        items.append(Kept(str(path), m.true, m.predicted, m.probability, m.correct))
    return {"labels": list(labels), "items": items}


def _pair(true: str, predicted: str) -> str:
    return f"{true}{ARROW}{predicted}"


def choices(kept: Optional[dict], request: Optional[gr.Request]) -> list[tuple[str, str]]:
    """The filter's choices: every mistake, then each (true, predicted) pair among them with its count."""
    items = (kept or {}).get("items", [])
    counts: dict[str, int] = {}
    for item in items:
        if not item.correct:
            pair = _pair(item.true, item.predicted)
            counts[pair] = counts.get(pair, 0) + 1
    return [(text(request, "mistakes.all", count=len(items)), ALL), *((f"{pair} ({n})", pair) for pair, n in counts.items())]


def gallery(kept: Optional[dict], pair: Optional[str], request: Optional[gr.Request]) -> gr.Gallery:
    """The gallery for the chosen pair (``ALL`` or None: every one): pictures, short captions, and a label saying what they are.

    With no mistake the pictures are the least sure right answers, and the label says so instead of "got wrong".
    """
    kept = kept or {}
    items = kept.get("items", [])
    if pair not in (None, "", ALL):
        labels = kept.get("labels", [])
        cell = next(((true, predicted) for true in labels for predicted in labels if _pair(true, predicted) == pair), None)
        items = [] if cell is None else filter_mistakes(items, true=cell[0], predicted=cell[1])
    right = bool(items) and all(item.correct for item in items)
    captions = [
        (item.path, text(request, "mistakes.least_sure" if item.correct else "mistakes.caption", true=item.true, predicted=item.predicted, probability=f"{item.probability:.0%}"))
        for item in items
    ]
    label = text(request, "mistakes.gallery_right" if right else "mistakes.gallery")
    return gr.Gallery(value=captions, label=label, columns=min(COLUMNS, max(MIN_COLUMNS, len(captions))))


def show(pair: Optional[str], kept: Optional[dict], request: gr.Request = None) -> gr.Gallery:
    """The mistakes of the session's last fine-tune whose true and predicted labels are ``pair``.

    Args:
        pair: ``"<true> → <predicted>"`` as the filter offers it, or ``"all"`` (gradio refuses any other value).
        kept: the session's mistakes (``keep``'s record of the last fine-tune).

    Returns:
        The gallery: ``[(overlay PNG, caption)]`` (the Grad-CAM of the predicted class over each image, worst first)
        as an update whose label says whether they are mistakes or the least sure right answers.
    """
    if not kept:
        raise gr.Error(text(request, "mistakes.none_yet"), print_exception=False)
    return gallery(kept, pair, request)


def cell_choice(kept: Optional[dict], evt: gr.SelectData) -> Any:
    """The filter's value for the confusion-matrix cell clicked: its pair, or every mistake for a cell with none in the gallery."""
    if not kept:
        return gr.skip()
    labels = kept["labels"]
    cell = confusion_cell(labels, *evt.index)
    pair = None if cell is None else _pair(labels[cell[0]], labels[cell[1]])
    shown = {_pair(item.true, item.predicted) for item in kept["items"] if not item.correct}
    return pair if pair in shown else ALL
