"""The Residual learning tab: the paper's degradation experiment (plain vs residual CIFAR nets), trained live on this device."""

from __future__ import annotations

import time
from typing import Any, Iterator, Optional, Sequence

import gradio as gr
import pandas as pd

import resnet
from train import lab

from . import jobs
from .i18n import static, text
from .session import gpu

__all__ = ["degradation", "stop", "summary_text", "tab"]

REFRESH_S = 1.0  # how often the live curves are redrawn
TIME_LIMIT_S = 1800  # a run ends here, whatever its settings


def _depth_choices() -> list[int]:
    # 110 layers take many minutes on a CPU: offered where a GPU makes it reasonable.
    return [20, 32, 44, 56] + ([110] if resnet.default_device().type in ("cuda", "mps") else [])


def _curves(points: dict[str, list[tuple[int, float]]]) -> pd.DataFrame:
    rows = [{"step": step, "training error": value, "network": name} for name, curve in points.items() for step, value in curve]
    return pd.DataFrame(rows, columns=["step", "training error", "network"])


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
    return lab.PRESETS[preset]["steps"]


@gpu
def degradation(depths: Sequence[Any], preset: str, steps: float, request: gr.Request = None) -> Iterator[tuple[pd.DataFrame, str]]:
    """Train the plain and residual nets of each depth on the same batches; yield the training-error curves live, then what they show."""
    chosen = sorted(int(d) for d in depths)
    if not chosen:
        raise gr.Error(text(request, "lab.no_depth"))
    settings = {**lab.PRESETS[preset], "depths": tuple(chosen), "steps": max(1, int(steps))}
    work = lambda report, should_stop: lab.run(**settings, on_progress=report, should_stop=should_stop)  # noqa: E731
    points: dict[str, list[tuple[int, float]]] = {}
    last = 0.0
    with jobs.start("degradation", request, work, time_limit=TIME_LIMIT_S) as job:  # closing this generator stops the job
        for event in job.watch():
            points.setdefault(event["network"], []).append((event["step"], event["train_error"]))
            if time.monotonic() - last > REFRESH_S:
                last = time.monotonic()
                yield _curves(points), text(request, "lab.running", step=event["step"], steps=event["steps"], network=event["network"])
    try:
        result = job.result()
    except Exception as e:
        raise gr.Error(text(request, "error.invalid", reason=e)) from e
    curves = {name: net.train_error for name, net in result.networks.items()}
    yield _curves(curves), summary_text(result, request)


def stop(request: gr.Request = None) -> str:
    """Stop this session's run (the Stop button also cancels its event); says where it stopped."""
    job = jobs.stop("degradation", request)
    if job is None or job.last is None:
        return text(request, "lab.stopped_early")
    return text(request, "lab.stopped", step=job.last["step"], steps=job.last["steps"])


def tab() -> None:
    """Declare the Residual learning tab and wire it (one run at a time, with the fine-tunes)."""
    with gr.Tab(static("tab.lab")):
        gr.Markdown(static("lab.intro"))
        with gr.Row():
            depths = gr.CheckboxGroup(_depth_choices(), value=[20, 56], label=static("lab.depths"), elem_id="lab-depths")
            preset = gr.Radio([(static(f"lab.preset.{p}"), p) for p in lab.PRESETS], value="quick", label=static("lab.preset"), elem_id="lab-preset")
            steps = gr.Number(value=preset_steps("quick"), precision=0, minimum=1, label=static("lab.steps"), elem_id="lab-steps")
        with gr.Row():
            run_button = gr.Button(static("lab.run"), variant="primary", elem_id="lab-run")
            stop_button = gr.Button(static("lab.stop"), variant="stop", elem_id="lab-stop")
        plot = gr.LinePlot(
            x="step", y="training error", color="network", elem_id="lab-plot", x_title=static("lab.plot_x"),
            y_title=static("lab.plot_y"), color_title=static("arch.network"), height=360,
        )
        summary = gr.Markdown(elem_id="lab-text")

    preset.change(preset_steps, preset, steps, api_name="lab_preset_steps")
    running = run_button.click(
        degradation, [depths, preset, steps], [plot, summary], api_name="degradation",
        concurrency_id="training", concurrency_limit=1, time_limit=TIME_LIMIT_S,
    )
    stop_button.click(stop, None, summary, cancels=[running], api_name="stop_degradation", queue=False)
