"""The Residual learning tab: the paper's degradation experiment (plain vs residual CIFAR nets), trained live on this device."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from functools import partial
from typing import Any, Iterable, Iterator, Optional, Sequence

import gradio as gr
import pandas as pd
from PIL import Image

from resnet.devices import default_device
from train import lab
from train.data import DataError
from train.lab.plot import sample_grid
from ui import jobs
from ui.i18n import error_text, static, text
from ui.session import gpu

__all__ = ["DATA_CHOICES", "data_changed", "degradation", "network_colours", "preview", "stop", "summary_text", "tab"]

REFRESH_S = 1.0  # how often the live curves are redrawn
TIME_LIMIT_S = 1800  # a run ends here, whatever its settings
GRID_COLUMNS = 10  # training images a class in the picture of the chosen data
MIN_STEPS = 30  # fewer steps would give the step axis fractional ticks on a wide chart, and show nothing
# The data picker's values and their labels' keys; "zip" is the user's upload.
DATA_LABELS = {lab.DIGITS: "lab.data.digits", lab.PATCHES: "lab.data.patches", "zip": "lab.data.zip"}
DATA_CHOICES = tuple(DATA_LABELS)
# One colour a network, the same in every run: plain nets in reds, residual nets in blues, darker when deeper.
_DEPTHS = (20, 32, 44, 56, 110)
_PLAIN = ("#fdae61", "#f46d43", "#d73027", "#a50026", "#67001f")
_RESIDUAL = ("#92c5de", "#4393c3", "#2166ac", "#053061", "#542788")


def _depth_choices() -> list[int]:
    # 110 layers take many minutes on a CPU: offered where a GPU makes it reasonable.
    return [20, 32, 44, 56] + ([110] if default_device().type in ("cuda", "mps") else [])


def _names(depths: Sequence[int]) -> list[str]:
    """The networks a run of ``depths`` trains, in ``lab.run``'s order."""
    return [f"{kind}-{d}" for d in depths for kind in ("plain", "residual")]


def network_colours(names: Iterable[str]) -> dict[str, str]:
    """The colour of each network named ("plain-20", ...), the same on every chart of the page; as a LinePlot's
    ``color_map`` it also fixes the legend to exactly these networks."""
    shade = {d: i for i, d in enumerate(_DEPTHS)}
    return {name: (_PLAIN if name.startswith("plain") else _RESIDUAL)[shade.get(int(name.split("-")[1]), 0)] for name in names}


def _curves(points: dict[str, list[tuple[int, float]]]) -> pd.DataFrame:
    rows = [{"step": step, "training error": value, "network": name} for name, curve in points.items() for step, value in curve]
    return pd.DataFrame(rows, columns=["step", "training error", "network"])


def _plot(points: dict[str, list[tuple[int, float]]], depths: Sequence[int], steps: int) -> gr.LinePlot:
    """The curves with this run's colours and step axis. A LinePlot takes its legend from the update that (re)draws
    it, and redraws only when a setting such as ``color_map`` or ``x_lim`` changes: so the first update of a run sets
    both, and holds every network."""
    return gr.LinePlot(_curves(points), color_map=network_colours(_names(depths)), x_lim=[0, steps])


def summary_text(result: lab.LabResult, request: Optional[gr.Request]) -> str:
    """What the run measured, phrased from ``lab.describe`` in the request's language."""
    lines = []
    for code, p in lab.describe(result):
        if code == "measure":
            key = "lab.measure.final" if p["final"] else "lab.measure.running"
            lines.append(text(request, key, steps=p["steps"], smoothing=p["smoothing"]))
            continue
        percent = {k: f"{v:.1%}" for k, v in p.items() if k.endswith("error")}
        if "difference" in p:
            percent["difference"] = f"{p['difference']:+.1%}"
        lines.append(text(request, f"lab.{code}", **{**p, **percent}))
    return "\n\n".join(lines)


def preset_steps(preset: str) -> int:
    """The number of steps a preset trains for."""
    return lab.PRESETS[preset].steps


def _data_source(choice: str, zip_file: Any, request: Optional[gr.Request]) -> str:
    """What ``lab.run`` takes as ``data`` for the picker's choice: a set's name, or the uploaded zip's path."""
    if choice not in DATA_CHOICES:
        raise gr.Error(text(request, "error.invalid", reason=f"data must be one of {', '.join(DATA_CHOICES)}"), print_exception=False)
    if choice != "zip":
        return choice
    path = zip_file.get("path") if isinstance(zip_file, dict) else zip_file
    if not path:
        raise gr.Error(text(request, "lab.no_zip"), print_exception=False)
    if not str(path).lower().endswith(".zip"):  # anything else would be read as a folder
        raise gr.Error(error_text(request, DataError("not a zip", code="bad_zip", name=os.path.basename(str(path)))), print_exception=False)
    return str(path)


def _data_error(error: DataError, request: Optional[gr.Request]) -> gr.Error:
    """Unusable data in the request's language; one log line, as for any user's mistake."""
    message = text(request, "lab.too_few", **error.params) if error.code == "lab_too_few" else error_text(request, error)
    return gr.Error(message, print_exception=False)


def _grid(source: str) -> Image.Image:
    """Training images of the data ``lab.run`` would load from ``source``, a row per class (the library draws it)."""
    return sample_grid(lab.load_data(source, image_size=lab.PRESETS["default"].image_size, seed=0), per_class=GRID_COLUMNS)


def preview(choice: str, zip_file: Any = None, request: gr.Request = None) -> tuple[Any, Optional[Image.Image]]:
    """Show the zip upload only for the zip choice, and a grid of the chosen set's training images (none before an upload)."""
    upload = gr.File(visible=choice == "zip")
    if choice == "zip" and not zip_file:
        return upload, None
    try:
        return upload, _grid(_data_source(choice, zip_file, request))
    except DataError as e:
        raise _data_error(e, request) from e


@gpu
def degradation(
    depths: Sequence[Any], preset: str, steps: float, data: str = lab.DIGITS, zip_file: Any = None, request: gr.Request = None,
) -> Iterator[tuple[Any, str, bool]]:
    """Train the plain and residual nets of each depth on the same batches; yield the training-error curves live, then what they show.

    The third value of each update: whether steps are still running (a state, not sent to API clients; Stop follows it).
    """
    chosen = sorted(int(d) for d in depths)
    if not chosen:
        raise gr.Error(text(request, "lab.no_depth"), print_exception=False)
    if steps is None or int(steps) < MIN_STEPS:
        raise gr.Error(text(request, "lab.few_steps", steps=MIN_STEPS), print_exception=False)
    source = _data_source(data, zip_file, request)
    steps = int(steps)
    config = replace(lab.PRESETS[preset], depths=tuple(chosen), steps=steps)
    work = lambda report, should_stop: lab.run(config, data=source, on_progress=report, should_stop=should_stop)  # noqa: E731
    points: dict[str, list[tuple[int, float]]] = {}
    drawn, last, final = False, 0.0, _names(chosen)[-1]
    with jobs.start("degradation", request, work, time_limit=TIME_LIMIT_S) as job:  # closing this generator stops the job
        for event in job.watch():
            points.setdefault(event["network"], []).append((event["step"], event["train_error"]))
            trained = event["network"] == final and event["step"] == event["steps"]
            if not trained and (len(points) < 2 * len(chosen) or time.monotonic() - last < REFRESH_S):
                continue  # the first drawing waits for every network: it fixes the legend
            last = time.monotonic()
            # The last step done, the final errors are measured: Stop would only lose them, so the page greys it out.
            status = text(request, "lab.evaluating") if trained else text(request, "lab.running", step=event["step"], steps=event["steps"])
            yield (_curves(points) if drawn else _plot(points, chosen, steps)), status, not trained
            drawn = True
    try:
        result = job.result()
    except DataError as e:
        raise _data_error(e, request) from e
    except ValueError as e:
        raise gr.Error(text(request, "error.invalid", reason=e), print_exception=False) from e
    curves = {name: net.train_error for name, net in result.networks.items()}
    yield (_curves(curves) if drawn else _plot(curves, chosen, steps)), summary_text(result, request), False


def data_changed(request: gr.Request = None) -> tuple[None, str]:
    """Other data: the last run's curves and words go (nothing on the page may belong to data not chosen), and the page says what next."""
    return None, text(request, "lab.data_changed")


def stop(request: gr.Request = None) -> str:
    """Stop this session's run (the Stop button also cancels its event); says where it stopped."""
    job = jobs.stop("degradation", request)
    if job is None or job.last is None:
        return text(request, "lab.stopped_early")
    return text(request, "lab.stopped", step=job.last["step"], steps=job.last["steps"])


def tab() -> None:
    """Declare the Residual learning tab and wire it (one run at a time, with the fine-tunes)."""
    with gr.Tab(static("tab.lab"), elem_id="lab"):
        gr.Markdown(static("lab.intro"))
        with gr.Row():
            with gr.Column(scale=3):
                data = gr.Radio([(static(key), c) for c, key in DATA_LABELS.items()], value=lab.DIGITS, label=static("lab.data"), elem_id="lab-data")
                zip_file = gr.File(file_types=[".zip"], label=static("lab.zip"), visible=False, elem_id="lab-zip")
                depths = gr.CheckboxGroup(_depth_choices(), value=[20, 56], label=static("lab.depths"), elem_id="lab-depths")
                preset = gr.Radio([(static(f"lab.preset.{p}"), p) for p in lab.PRESETS], value="quick", label=static("lab.preset"), elem_id="lab-preset")
                steps = gr.Number(value=preset_steps("quick"), precision=0, label=static("lab.steps"), elem_id="lab-steps")
            with gr.Column(scale=2, elem_id="lab-samples-column"):
                gr.Markdown(static("lab.samples"))  # above the picture: an image's own label would cover its first row
                samples = gr.Image(
                    _grid(lab.DIGITS), type="pil", show_label=False, interactive=False, buttons=[], elem_id="lab-samples",
                )
        with gr.Row():
            run_button = gr.Button(static("lab.run"), variant="primary", elem_id="lab-run")
            stop_button = gr.Button(static("lab.stop"), variant="stop", interactive=False, elem_id="lab-stop")  # pressable while running
        plot = gr.LinePlot(
            x="step", y="training error", color="network", elem_id="lab-plot", x_title=static("lab.plot_x"),
            y_title=static("lab.plot_y"), color_title=static("arch.network"), height=360,
            x_axis_format="d", y_axis_format=".0%", y_lim=[0, 1],  # an error is 0 to 100 %: no curve leaves the chart
        )
        summary = gr.Markdown(elem_id="lab-text")
        stepping = gr.State(False)  # whether training steps are running: Stop is pressable then only

    data.change(preview, [data, zip_file], [zip_file, samples], api_name="lab_preview")
    data.change(data_changed, None, [plot, summary], api_visibility="private", queue=False, show_progress="hidden")
    zip_file.upload(preview, [data, zip_file], [zip_file, samples], api_name=False)
    preset.change(preset_steps, preset, steps, api_name="lab_preset_steps")
    started = run_button.click(partial(jobs.stop_button, True), None, stop_button, api_visibility="private", queue=False, show_progress="hidden")
    running = started.then(
        degradation, [depths, preset, steps, data, zip_file], [plot, summary, stepping], api_name="degradation",
        concurrency_id="training", concurrency_limit=1, time_limit=TIME_LIMIT_S,
    )
    stepping.change(jobs.stop_button, stepping, stop_button, api_visibility="private", queue=False, show_progress="hidden")
    running.then(partial(jobs.stop_button, False), None, stop_button, api_visibility="private", queue=False, show_progress="hidden")
    stop_button.click(stop, None, summary, cancels=[running], api_name="stop_degradation", queue=False).then(
        partial(jobs.stop_button, False), None, stop_button, api_visibility="private", queue=False, show_progress="hidden",
    )
