"""The Architecture tab: the per-layer table, all depths side by side, gradient flow at initialisation."""

from __future__ import annotations

import math
from typing import Optional

import gradio as gr
import pandas as pd

import resnet
from resnet.anatomy.measure import compare_depths, gradient_flow
from resnet.devices import default_device
from resnet.files import atomic_write
from ui.i18n import static, text
from ui.session import gpu, session_dir

__all__ = ["compare", "gradient_flow_plot", "summary", "tab"]

DEPTHS = [(f"ResNet-{name[6:]}", name) for name in resnet.ARCHS]
TABLE_DEPTHS = {"layers": None, "blocks": 2, "stages": 1}
COMPARE_COLUMNS = ["depth", "params (M)", "GMACs", "fast ms", "top1", "checkpoint"]
# The gradient-flow chart's x: block numbers as categories in this order, so its ticks are whole blocks
# (a number axis puts ticks at 0.5, 1.5 ... and starts at 0). ResNet-152 has the most: 3 + 8 + 36 + 3 blocks.
BLOCK_TICKS = [str(b) for b in range(1, 51)]


def _columns(frame: pd.DataFrame, request: Optional[gr.Request]) -> pd.DataFrame:
    """The same table with its column headers in the request's language."""
    return frame.rename(columns={c: text(request, f"column.{c}") for c in frame.columns})


def summary(arch: str, input_size: float, network: str, rows: str, request: gr.Request = None) -> tuple[pd.DataFrame, str, str]:
    """The per-layer table of the chosen network, its totals and a CSV of the same table."""
    size = int(input_size)
    try:
        s = resnet.summarize(resnet.build(arch, plain=network == "plain"), (1, 3, size, size), depth=TABLE_DEPTHS[rows])
    except ValueError as e:
        raise gr.Error(text(request, "error.invalid", reason=e), print_exception=False) from e
    totals = text(
        request, "arch.totals", arch=arch, plain=text(request, "arch.totals.plain") if network == "plain" else "", size=size,
        params=f"{s.total_params:,}", param_mb=f"{s.param_bytes / 1e6:.1f}", gmacs=f"{s.total_macs / 1e9:.3f}",
        activation_mb=f"{s.activation_bytes / 1e6:.1f}",
    )
    table = _columns(s.to_frame(), request)
    csv = session_dir(request) / f"summary-{arch}-{size}-{network}-{rows}.csv"
    atomic_write(csv, lambda tmp: table.to_csv(tmp, index=False))  # what the user downloads is what the user sees
    return table, totals, str(csv)


def compare(input_size: float, request: gr.Request = None) -> pd.DataFrame:
    """Parameters, MACs, forward time on the fast path the Classify tab runs, and ImageNet top-1 for all five depths."""
    rows = compare_depths(int(input_size), device=default_device(), fast=True)
    values = [
        [r["arch"], round(r["params"] / 1e6, 2), round(r["gmacs"], 3), round(r["latency_ms"], 1), r["imagenet_top1"], r["checkpoint"]]
        for r in rows
    ]
    return _columns(pd.DataFrame(values, columns=COMPARE_COLUMNS), request)


def _shown() -> gr.Dataframe:
    """The comparison table, hidden until it holds a measurement (empty, it showed the headers "1 2 3")."""
    return gr.Dataframe(visible=True)


@gpu
def gradient_flow_plot(arch: str, input_size: float, request: gr.Request = None) -> tuple[pd.DataFrame, str]:
    """Per-block gradient norms of the plain and residual nets at initialisation, and what they show."""
    size = min(int(input_size), 224)
    rows, ratios = [], {}
    for network in ("plain", "residual"):
        norms = gradient_flow(arch, plain=network == "plain", input_size=size)
        ratios[network] = _relative(norms[0][1] / norms[-1][1], request)
        label = text(request, f"network.{network}")
        rows += [
            {"block": str(i + 1), "block name": name, "log10 gradient norm": _log10(norm), "network": label} for i, (name, norm) in enumerate(norms)
        ]
    summary_text = text(request, "arch.flow_text", arch=arch, size=size, plain=ratios["plain"], residual=ratios["residual"])
    return pd.DataFrame(rows), summary_text


def _relative(ratio: float, request: Optional[gr.Request]) -> str:
    """The first block's gradient against the last block's, in words: "about 1,700 times" or "about 1/20"."""
    if ratio >= 1:
        return text(request, "arch.flow.larger", ratio=_about(ratio))
    return text(request, "arch.flow.smaller", ratio=_about(1 / ratio))


def _about(x: float) -> str:
    """Two significant figures, in plain digits with thousands separators: 1,700 / 44 / 3.1."""
    rounded = float(f"{x:.2g}")
    return f"{rounded:,.0f}" if rounded >= 10 else f"{rounded:g}"


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 else float("-inf")


def tab(demo: gr.Blocks) -> None:
    """Declare the Architecture tab and wire its listeners (the table also fills on page load)."""
    with gr.Tab(static("tab.architecture"), elem_id="architecture"):
        with gr.Row():
            arch = gr.Radio(DEPTHS, value="resnet50", label=static("arch.depth"), elem_id="architecture-depth")
            input_size = gr.Slider(32, 512, value=224, step=32, label=static("arch.input_size"), elem_id="architecture-size")
            network = gr.Radio([(static("arch.residual"), "residual"), (static("arch.plain"), "plain")], value="residual", label=static("arch.network"))
            rows = gr.Radio(
                [(static(f"arch.rows.{r}"), r) for r in ("layers", "blocks", "stages")], value="blocks", label=static("arch.rows")
            )
        totals = gr.Markdown(elem_id="totals")
        # The whole width for the table: beside a side note its last columns fell outside a 1280 px window.
        table = gr.Dataframe(elem_id="summary-table", max_height=480, interactive=False, wrap=False)
        with gr.Row():
            with gr.Column(scale=2):
                gr.Markdown(static("arch.blocks_explained"), elem_id="blocks-explained")
            with gr.Column(scale=1):
                csv = gr.File(label=static("arch.csv"), elem_id="summary-csv")
        with gr.Accordion(static("arch.compare"), open=True):
            compare_button = gr.Button(static("arch.compare_button"), elem_id="compare-button")
            gr.Markdown(static("arch.compare_note"), elem_id="comparison-note")
            comparison = gr.Dataframe(elem_id="comparison", interactive=False, visible=False)
        with gr.Accordion(static("arch.flow"), open=True):
            flow_button = gr.Button(static("arch.flow_button"), elem_id="flow-button")
            flow = gr.LinePlot(x="block", y="log10 gradient norm", color="network", elem_id="flow-plot", sort=BLOCK_TICKS,
                               x_title=static("arch.flow_x"), y_title=static("arch.flow_y"), color_title=static("arch.network"), height=320)
            flow_text = gr.Markdown(elem_id="flow-text")

    gr.on([demo.load, arch.change, input_size.release, network.change, rows.change], summary, [arch, input_size, network, rows], [table, totals, csv], api_name="summary", concurrency_id="measure")
    compare_button.click(compare, input_size, comparison, api_name="compare", concurrency_id="measure", concurrency_limit=1).success(
        _shown, None, comparison, api_visibility="private", queue=False
    )
    flow_button.click(gradient_flow_plot, [arch, input_size], [flow, flow_text], api_name="gradient_flow", concurrency_id="measure")
