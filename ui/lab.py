"""The Residual learning tab: the paper's degradation experiment (plain vs residual CIFAR nets), trained live on this device."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Iterator, Optional, Sequence

import gradio as gr
import pandas as pd

import resnet
from train import lab

from .i18n import static, text
from .session import gpu

__all__ = ["degradation", "summary_text", "tab"]

REFRESH_S = 1.0  # how often the live curves are redrawn


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
    updates: queue.Queue = queue.Queue()
    stop = threading.Event()  # set when the user presses Stop, leaves, or the time limit passes
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = lab.run(**settings, on_progress=updates.put, should_stop=stop.is_set)
        except Exception as e:  # handed to the request thread, which reports it
            outcome["error"] = e
        finally:
            updates.put(None)

    worker = threading.Thread(target=run, name="degradation", daemon=True)
    worker.start()
    points: dict[str, list[tuple[int, float]]] = {}
    last = 0.0
    try:
        while (event := updates.get()) is not None:
            points.setdefault(event["network"], []).append((event["step"], event["train_error"]))
            if time.monotonic() - last > REFRESH_S:
                last = time.monotonic()
                yield _curves(points), text(request, "lab.running", step=event["step"], steps=event["steps"], network=event["network"])
    finally:
        stop.set()  # a cancelled generator is closed: the training thread ends at its next step
    worker.join()
    if "error" in outcome:
        raise gr.Error(text(request, "error.invalid", reason=outcome["error"])) from outcome["error"]
    result = outcome["result"]
    curves = {name: net.train_error for name, net in result.networks.items()}
    yield _curves(curves), summary_text(result, request)


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
        concurrency_id="training", concurrency_limit=1, time_limit=1800,
    )
    stop_button.click(None, None, None, cancels=[running], api_name=False)
