"""The lesson tab ("Start here"), first in the page: the tutorial's outline in its order, each step with a live element.

1. the residual block, y = F(x) + x                  -> opens Inside the network
2. why: vanishing gradients and degradation          -> a shipped lab run, shown at once; opens Residual learning, Architecture
3. the architecture: basic and bottleneck, 18 to 152 -> ``block_cost`` here; opens Architecture
4. applications and transfer learning                -> opens Classify and Fine-tune (overfitting)
5. ResNet against other networks                     -> ``compare_networks`` here
6. check the ResNet you wrote                        -> ``check_resnet`` here

The numbers come from ``resnet.anatomy.compare``, ``resnet.anatomy.block_cost`` and ``resnet.check``; the shipped lab
run is ``LAB_RUN``, written by the project's own ``python -m train.lab`` with its command, machine and date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import gradio as gr
import pandas as pd

import resnet
from resnet.anatomy import block_cost as costs, compare
from resnet.anatomy.compare_svg import chart_svg
from resnet.check import CheckReport, Layer, MAX_MODEL_BYTES, check_resnet as resnet_check
from resnet.devices import default_device
from resnet.files import atomic_write
from ui.i18n import LANGUAGES, static, text
from ui.session import session_dir
from ui.tabs.lab.tab import network_colours

__all__ = ["LAB_RUN", "block_cost", "check_resnet", "compare_networks", "shipped_lab_run", "tab"]

LAB_RUN = Path(__file__).resolve().parent / "lesson_lab_run.json"
ARCHS = [(f"ResNet-{name[6:]}", name) for name in resnet.ARCHS]
# A button opens another tab by clicking the tab bar's button with that tab's name, in either language: the
# other tabs have no ids to select them by, and Gradio renders a tab's contents only once it is opened.
OPEN_TAB_JS = """() => {
    const names = new Set(%s);
    // The tab bar's buttons, then those of its "..." menu, where Gradio puts the tabs a narrow screen has no room for.
    const buttons = [...document.querySelectorAll('[role="tab"], .overflow-dropdown button')];
    const button = buttons.find((b) => names.has(b.textContent.trim()));
    if (button) { button.click(); window.scrollTo({top: 0}); }
    return [];
}"""


# Keys of texts chosen at run time, spelled out in full (tests/test_i18n.py finds every key the code names).
COLUMNS = {
    "block": "lesson.column.block", "convolutions": "lesson.column.convolutions", "params": "lesson.column.params",
    "MACs (M)": "lesson.column.MACs (M)", "forward ms": "lesson.column.forward ms", "network": "lesson.column.network",
    "layers": "lesson.column.layers", "GMACs": "lesson.column.GMACs", "year": "lesson.column.year", "input": "lesson.column.input",
    "params (M)": "lesson.column.params (M)", "top1": "lesson.column.top1", "top1 source": "lesson.column.top1 source",
}
CHART_WORDS = {"x": "lesson.compare.x", "y": "lesson.compare.y", "resnet": "lesson.compare.resnet", "other": "lesson.compare.other",
               "fig3": "lesson.compare.fig3", "area": "lesson.compare.area"}
BLOCKS = {"basic": "lesson.blocks.basic", "bottleneck": "lesson.blocks.bottleneck"}
TOTALS = {"parameters": "lesson.check.total.parameters", "conv_linear_weights": "lesson.check.total.conv_linear_weights"}


def _columns(frame: pd.DataFrame, request: Optional[gr.Request]) -> pd.DataFrame:
    return frame.rename(columns={c: text(request, COLUMNS[c]) for c in frame.columns})


def _shipped_networks() -> list[str]:
    """The networks of the shipped lab run, in its order; none in a checkout without it."""
    return list(json.loads(LAB_RUN.read_text(encoding="utf-8"))["result"]["networks"]) if LAB_RUN.exists() else []


def shipped_lab_run(request: gr.Request = None) -> tuple[pd.DataFrame, str]:
    """The shipped lab run's training-error curves and where they come from (command, machine, date)."""
    if not LAB_RUN.exists():  # a checkout without the shipped run: the live experiment is one click away
        return pd.DataFrame(columns=["step", "training error", "network"]), text(request, "lesson.lab.missing")
    run = json.loads(LAB_RUN.read_text(encoding="utf-8"))
    rows = [{"step": step, "training error": value, "network": name}
            for name, net in run["result"]["networks"].items() for step, value in net["train_error"]]
    finals = ", ".join(f"{name} {net['final_train_error']:.1%}" for name, net in run["result"]["networks"].items())
    note = text(request, "lesson.lab.provenance", command=run["command"], machine=run["machine"], date=run["date"], finals=finals)
    return pd.DataFrame(rows, columns=["step", "training error", "network"]), note


def compare_networks(measure: bool = False, request: gr.Request = None) -> tuple[str, pd.DataFrame, str]:
    """The five ResNets against 11 other ImageNet networks and the paper's plain-34: a chart of top-1 against GMACs, the table, a CSV.

    Args:
        measure: also time every network's forward pass now, at batch 1 in fp32 on this server's device
            (about a minute on two CPU cores); otherwise only the counts and published accuracies.
    """
    rows = compare.compare_networks(timed=None if measure else (), device=default_device())
    words = {word: text(request, key) for word, key in CHART_WORDS.items()}
    frame = compare.to_frame(rows).drop(columns=["group", "fig3"] + ([] if measure else ["forward ms"]))  # NaN: not timed
    csv = session_dir(request) / ("networks-timed.csv" if measure else "networks.csv")
    atomic_write(csv, lambda tmp: tmp.write_text(compare.to_csv(rows), encoding="utf-8"))
    return chart_svg(rows, words=words), _columns(frame, request), str(csv)


def block_cost(width: float = 256, map_size: float = 56, request: gr.Request = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """A basic and a bottleneck block at ``width`` channels on a ``map_size`` map, and ResNet-34 against ResNet-50."""
    try:
        cost = costs.block_cost(int(width), map_size=int(map_size), device=default_device())
    except ValueError as e:
        raise gr.Error(text(request, "lesson.blocks.bad_width", width=int(width)), print_exception=False) from e
    basic, bottleneck = cost.blocks
    blocks = pd.DataFrame(
        [(text(request, BLOCKS[b.kind]), b.layers, b.params, round(b.macs / 1e6, 1), round(b.forward_ms, 2)) for b in cost.blocks],
        columns=["block", "convolutions", "params", "MACs (M)", "forward ms"],
    )
    nets = pd.DataFrame([(f"ResNet-{n.depth}", n.depth, n.params, round(n.gmacs, 3), round(n.forward_ms, 1)) for n in cost.nets],
                        columns=["network", "layers", "params", "GMACs", "forward ms"])
    r34, r50 = cost.nets
    summary = text(
        request, "lesson.blocks.summary", width=cost.width, size=cost.map_size, params=f"{cost.saving:.1f}",
        macs=f"{basic.macs / bottleneck.macs:.1f}", deeper=r50.depth - r34.depth, gmacs=f"{r50.gmacs / r34.gmacs:.2f}",
        time=f"{r50.forward_ms / r34.forward_ms:.2f}", device=default_device().type,
    )
    return _columns(blocks, request), _columns(nets, request), summary


def check_resnet(model_file: Optional[str], arch: str, request: gr.Request = None) -> str:
    """Compare an uploaded ``.safetensors`` state_dict or ``.onnx`` model with the reference ResNet of depth ``arch``."""
    path = Path(model_file) if model_file else None  # gr.File gives the path of the upload
    if path is None or not path.is_file():
        raise gr.Error(text(request, "lesson.check.no_file"), print_exception=False)
    if path.suffix.lower() not in (".safetensors", ".onnx"):
        raise gr.Error(text(request, "lesson.check.wrong_type", name=path.name), print_exception=False)
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise gr.Error(text(request, "lesson.check.too_large", name=path.name, limit_mb=MAX_MODEL_BYTES // 2**20), print_exception=False)
    try:
        report = resnet_check(path, arch)
    except ValueError as e:
        raise gr.Error(text(request, "lesson.check.unreadable", name=path.name), print_exception=False) from e
    return _report_text(report, request)


def _report_text(report: CheckReport, request: Optional[gr.Request]) -> str:
    lines = [text(request, "lesson.check.layers", arch=report.arch, layers=report.layers, reference=report.reference_layers)]
    d = report.first_difference
    if d is None:
        lines.append(text(request, "lesson.check.same_shapes"))
    else:
        def side(layer: Optional[Layer]) -> str:
            if layer is None:
                return text(request, "lesson.check.nothing")
            return f"`{layer.name}` {'x'.join(map(str, layer.shape))} ({layer.params:,})"

        lines.append(text(request, "lesson.check.first", index=d.index + 1, theirs=side(d.theirs), reference=side(d.reference)))
    lines.append(text(request, TOTALS[report.total_kind], theirs=f"{report.theirs_total:,}", reference=f"{report.reference_total:,}"))
    if report.missing_relus:
        names = ", ".join(f"`{n}`" for n in report.missing_relus[:12]) + (" ..." if len(report.missing_relus) > 12 else "")
        lines.append(text(request, "lesson.check.missing_relus", count=len(report.missing_relus), names=names))
    elif report.missing_relus is not None:
        lines.append(text(request, "lesson.check.relus_ok"))
    else:
        lines.append(text(request, "lesson.check.no_graph"))
    return "\n\n".join(lines)


def _open(label: str, tab_key: str, elem_id: str) -> None:
    """A button that opens the tab named by ``tab_key`` (e.g. ``"tab.lab"``)."""
    button = gr.Button(static(label), size="sm", elem_id=elem_id, elem_classes=["lesson-open"])
    names = sorted({strings[tab_key] for strings in LANGUAGES.values()})
    button.click(None, None, None, js=OPEN_TAB_JS % json.dumps(names, ensure_ascii=False), api_visibility="private", queue=False)


def tab(demo: gr.Blocks) -> None:
    """Declare the lesson tab (call it before every other tab: it is the page's first) and wire it."""
    with gr.Tab(static("tab.lesson"), elem_id="lesson"):
        gr.Markdown(static("lesson.intro"))
        with gr.Accordion(static("lesson.step1.title"), open=True):
            gr.Markdown(static("lesson.step1"), latex_delimiters=[{"left": "$$", "right": "$$", "display": True}])
            _open("lesson.open.inside", "tab.inside", "lesson-open-inside")
        with gr.Accordion(static("lesson.step2.title"), open=True):
            gr.Markdown(static("lesson.step2"))
            lab_plot = gr.LinePlot(x="step", y="training error", color="network", elem_id="lesson-lab-plot", height=300,
                                   x_title=static("lab.plot_x"), y_title=static("lab.plot_y"), color_title=static("arch.network"),
                                   x_axis_format="d", y_axis_format=".0%", y_lim=[0, 1],  # as the lab's chart draws them,
                                   color_map=network_colours(_shipped_networks()))  # in its colours
            lab_note = gr.Markdown(elem_id="lesson-lab-note")
            with gr.Row():
                _open("lesson.open.lab", "tab.lab", "lesson-open-lab")
                _open("lesson.open.flow", "tab.architecture", "lesson-open-flow")
        with gr.Accordion(static("lesson.step3.title"), open=True):
            gr.Markdown(static("lesson.step3"))
            with gr.Row():
                width = gr.Number(value=256, precision=0, minimum=4, maximum=2048, step=4, label=static("lesson.blocks.width"), elem_id="lesson-width")
                map_size = gr.Number(value=56, precision=0, minimum=1, maximum=224, label=static("lesson.blocks.map_size"), elem_id="lesson-map-size")
            cost_button = gr.Button(static("lesson.blocks.button"), elem_id="lesson-blocks-button")
            blocks_table = gr.Dataframe(interactive=False, elem_id="lesson-blocks", wrap=True, visible=False)  # shown once filled
            nets_table = gr.Dataframe(interactive=False, elem_id="lesson-nets", wrap=True, visible=False)
            cost_text = gr.Markdown(elem_id="lesson-blocks-text")
            _open("lesson.open.architecture", "tab.architecture", "lesson-open-architecture")
        with gr.Accordion(static("lesson.step4.title"), open=True):
            gr.Markdown(static("lesson.step4"))
            with gr.Row():
                _open("lesson.open.classify", "tab.classify", "lesson-open-classify")
                _open("lesson.open.finetune", "tab.finetune", "lesson-open-finetune")
        with gr.Accordion(static("lesson.step5.title"), open=True):
            gr.Markdown(static("lesson.step5"))
            chart = gr.HTML(elem_id="compare-chart")
            with gr.Row():
                timed = gr.Checkbox(value=True, label=static("lesson.compare.timed"), elem_id="lesson-compare-timed")
                measure_button = gr.Button(static("lesson.compare.button"), elem_id="lesson-compare-button")
            networks = gr.Dataframe(interactive=False, elem_id="lesson-networks", max_height=420, wrap=False)  # one line a row; scrolls sideways
            networks_csv = gr.File(label=static("lesson.compare.csv"), elem_id="lesson-networks-csv")
        with gr.Accordion(static("lesson.step6.title"), open=True):
            gr.Markdown(static("lesson.step6"))
            with gr.Row():
                # No file_types: Gradio would refuse other files in English; check_resnet says it in the page's language.
                model_file = gr.File(label=static("lesson.check.file"), elem_id="lesson-check-file")
                arch = gr.Radio(ARCHS, value="resnet50", label=static("lesson.check.arch"), elem_id="lesson-check-arch")
            check_button = gr.Button(static("lesson.check.button"), elem_id="lesson-check-button")
            report = gr.Markdown(elem_id="lesson-check-report")

    demo.load(shipped_lab_run, None, [lab_plot, lab_note], api_name="lesson_lab_run")
    demo.load(compare_networks, None, [chart, networks, networks_csv], api_name="compare_networks_on_load", api_visibility="private", concurrency_id="measure")
    measure_button.click(compare_networks, timed, [chart, networks, networks_csv], api_name="compare_networks", concurrency_id="measure", concurrency_limit=1)
    cost_button.click(block_cost, [width, map_size], [blocks_table, nets_table, cost_text], api_name="block_cost", concurrency_id="measure").success(
        lambda: (gr.Dataframe(visible=True), gr.Dataframe(visible=True)), None, [blocks_table, nets_table], api_visibility="private", queue=False
    )
    check_button.click(check_resnet, [model_file, arch], report, api_name="check_resnet", concurrency_limit=2)
