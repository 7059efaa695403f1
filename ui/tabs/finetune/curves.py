"""The fine-tune's learning curves: loss on one chart, training and held-out accuracy on another (0 to 1), per epoch.

Epochs are drawn as categories ("1", "2", ...) in their order: gradio's LinePlot exposes no tick step, and on a
number axis Vega places ticks at 0.5 or 0.2 epochs for short runs. Each update carries every series the chart
will ever show (gradio keeps the colour domain of a plot's first update), so the first epoch draws them all.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import gradio as gr
import pandas as pd

from train.finetune import overfitting
from ui.i18n import static, text

__all__ = ["ACCURACY", "LOSS", "MAX_EPOCHS", "accuracy_plot", "charts", "fit_note", "loss_plot"]

LOSS = ("train_loss", "val_loss")
ACCURACY = ("train_top1", "val_top1")
MAX_EPOCHS = 50  # the page's epochs slider goes this far
EPOCH_ORDER = [str(e) for e in range(1, MAX_EPOCHS + 1)]  # the axis's order (Vega ignores epochs with no data)


def _frame(history: Sequence[Mapping[str, Any]], keys: Sequence[str], request: Optional[gr.Request]) -> pd.DataFrame:
    labels = {key: text(request, f"finetune.series.{key}") for key in keys}
    rows = [{"epoch": str(r["epoch"]), "value": r[key], "series": labels[key]} for r in history for key in keys if key in r]
    return pd.DataFrame(rows, columns=["epoch", "value", "series"])


def charts(history: Sequence[Mapping[str, Any]], request: Optional[gr.Request]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The loss chart's and the accuracy chart's values for the epochs in ``history``."""
    return _frame(history, LOSS, request), _frame(history, ACCURACY, request)


def loss_plot() -> gr.LinePlot:
    """The empty loss chart the page starts with."""
    return gr.LinePlot(
        x="epoch", y="value", color="series", elem_id="curve", x_title=static("finetune.curve_x"), y_title=static("finetune.loss_y"),
        color_title=static("finetune.curve_series"), sort=EPOCH_ORDER, height=260,
    )


def accuracy_plot() -> gr.LinePlot:
    """The empty accuracy chart: 0 to 100 %, whatever the run reaches."""
    return gr.LinePlot(
        x="epoch", y="value", color="series", elem_id="accuracy-curve", x_title=static("finetune.curve_x"),
        y_title=static("finetune.accuracy_y"), color_title=static("finetune.curve_series"), y_lim=[0, 1], y_axis_format="%", sort=EPOCH_ORDER, height=260,
    )


def fit_note(history: Sequence[Mapping[str, Any]], request: Optional[gr.Request]) -> str:
    """A sentence when the last epoch fits the training images far better than the held-out ones (``train.finetune.overfitting``), else ""."""
    gap = overfitting(history)
    if gap is None:
        return ""
    return text(request, "finetune.overfitting", train=f"{gap[0]:.0%}", held_out=f"{gap[1]:.0%}")
