"""The Fine-tune button's run: the form's classes and settings in, the learning curve live (Stop ends it), then the
model kept in the session, its held-out mistakes and its download, every update keyed by output name (``OUTPUTS``)."""

from __future__ import annotations

import contextlib
import functools
import shutil
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import gradio as gr
import pandas as pd

import resnet
import train
from resnet.checkpoints.config import CheckpointError
from resnet.transforms import ImageError
from train.data import DataError
from train.presets import random_features
from ui import jobs
from ui.i18n import error_text, problem_text, text
from ui.models import TUNED_PREFIX, ModelPolicy, picker_choices, resolve, tuned_label, tuned_number
from ui.session import gpu, session_dir
from ui.tables import Styler, in_percent

from . import curves, mistakes
from .download import package_model
from .pictures import confusion_image
from .samples import CLASS_SLOTS, collect_samples

__all__ = ["FORM", "FROM_SCRATCH", "OUTPUTS", "SCRATCH_ARCH", "SLOT_FIELDS", "TIME_LIMIT_S", "by_component", "finetune", "stop"]

FROM_SCRATCH = "resnet18 (from scratch: works offline)"  # the value API clients send; the page shows it translated
SCRATCH_ARCH = "resnet18"  # what FROM_SCRATCH trains: train.finetune's random initialisation of this architecture
TIME_LIMIT_S = 1800  # a fine-tune ends here, whatever its settings
# The class slots' inputs by name, in the order API clients send them (ui.zerogpu counts the images of each "..._files").
SLOT_FIELDS = tuple(f"class_{i}_{part}" for i in range(CLASS_SLOTS) for part in ("name", "files"))
# finetune's inputs by name (beside the states tuned and policy), in the order API clients send them.
FORM = ("source", "strategy", "epochs", "lr", "zip_file", *SLOT_FIELDS, "rotate90")
# finetune's outputs by name, in the order API clients receive them (the states tuned, kept and training are not sent).
# ``training``: True while epochs run, False once they are over (the Stop button follows it: packaging has nothing to stop).
OUTPUTS = ("loss", "status", "per_class", "confusion", "download", "picker", "pair", "gallery", "accuracy", "tuned", "kept", "training")


def _user_error(error: Exception, request: Optional[gr.Request]) -> Exception:
    """What the page says about an error of the training thread (one log line, no traceback); anything else is the server's bug and stays as it is."""
    if isinstance(error, DataError) and getattr(error, "problems", None):
        return gr.Error(text(request, "finetune.checks_failed", problems=error_text(request, error)), print_exception=False)
    if isinstance(error, (DataError, ImageError)):
        return gr.Error(error_text(request, error), print_exception=False)
    if isinstance(error, (CheckpointError, ValueError)):
        return gr.Error(text(request, "error.invalid", reason=error), print_exception=False)
    return error


def by_component(fn: Callable[..., Iterator[dict[str, Any]]], outputs: Mapping[str, Any]) -> Callable[..., Iterator[dict[Any, Any]]]:
    """``fn`` with its updates keyed by component (as gradio takes them) instead of by output name.

    ``fn`` names its outputs rather than holding the components: on ZeroGPU it runs in a process of its own
    and its updates are pickled back, which a rendered component cannot be. The wrapper keeps ``fn``'s
    signature (gradio reads it to fill in the request and the progress bar) and attributes, and closing it closes ``fn``.
    """

    @functools.wraps(fn)
    def by_component(*args: Any, **kwargs: Any) -> Iterator[dict[Any, Any]]:
        with contextlib.closing(fn(*args, **kwargs)) as updates:  # closing ``fn`` stops its job (a cancelled event)
            for update in updates:
                yield {outputs[name]: value for name, value in update.items()}

    return by_component


def _keep(result: train.FinetuneResult, tuned: dict, policy: ModelPolicy, request: Optional[gr.Request]) -> tuple[str, dict, list[str]]:
    """Add the new model to the session's; the oldest beyond the session's share go, with their files."""
    number = max(map(tuned_number, tuned), default=0) + 1
    name = f"{TUNED_PREFIX}{number}: {', '.join(result.labels)}"  # the picker's value; the page shows tuned_label(name)
    tuned = {**tuned, name: result.classifier}
    dropped = list(tuned)[: max(0, len(tuned) - policy.max_session_models)]
    for old in dropped:
        del tuned[old]
        for folder in (session_dir(request) / f"model-{tuned_number(old)}", session_dir(request) / f"mistakes-{tuned_number(old)}"):
            shutil.rmtree(folder, ignore_errors=True)
        (session_dir(request) / f"model-{tuned_number(old)}.zip").unlink(missing_ok=True)
    return name, tuned, dropped


def _notes_text(notes: Sequence[Any], request: Optional[gr.Request]) -> str:
    """What the status adds about files the .zip or the slots had that were skipped (the first three named)."""
    if not notes:
        return ""
    shown = [text(request, f"zip.{n.code}", name=n.name) for n in notes[:3]]
    return text(request, "finetune.skipped", notes="; ".join(shown) + (" ..." if len(notes) > 3 else ""))


def _epoch_status(record: dict[str, Any], request: Optional[gr.Request], progress: gr.Progress) -> str:
    """An epoch's line for the status (loss, and held-out accuracy where there is some); the progress bar moves with it."""
    progress(record["progress"], desc=text(request, "finetune.epoch", epoch=record["epoch"], epochs=record["epochs"]))
    status = text(request, "finetune.epoch_status", epoch=record["epoch"], epochs=record["epochs"], loss=f"{record['train_loss']:.3f}")
    if "val_top1" in record:
        status += text(request, "finetune.epoch_accuracy", accuracy=f"{record['val_top1']:.0%}")
    return status


def _charts(history: list[dict[str, Any]], request: Optional[gr.Request]) -> dict[str, Any]:
    """The loss and accuracy charts of the epochs so far, by output name."""
    loss, accuracy = curves.charts(history, request)
    return {"loss": loss, "accuracy": accuracy}


@gpu
def finetune(
    tuned: dict[str, resnet.Classifier], policy: ModelPolicy, request: gr.Request = None, progress: gr.Progress = gr.Progress(), **form: Any,
) -> Iterator[dict[str, Any]]:
    """Fine-tune on the classes given, yielding the learning curve live, then the results and the held-out mistakes.

    ``form``: the page's inputs by name: ``source``, ``strategy``, ``epochs``, ``lr``, ``zip_file``, the class
    slots (``SLOT_FIELDS``: each slot's class name and files), and ``rotate90``, whether to also turn training
    images by quarter turns (``train.FinetuneOptions.rotate90``; API clients may leave it out).
    Yields updates by output name (``OUTPUTS``), plain values: on ZeroGPU they cross from the GPU's process.

    ``policy`` says which checkpoints may be started from, and how many fine-tuned models the session keeps.
    Stop (``stop``), a cancelled event, the time limit or the session's end stop the training at its next step.
    """
    try:
        samples, notes = collect_samples(form.get("zip_file"), [form.get(name) for name in SLOT_FIELDS], request)
    except DataError as e:
        raise gr.Error(error_text(request, e), print_exception=False) from e
    strategy = form["strategy"]
    start_from: Any = SCRATCH_ARCH if form["source"] == FROM_SCRATCH else resolve(form["source"], tuned, policy, request)
    skipped, caution = _notes_text(notes, request), ""
    if random_features(start_from, strategy):  # trained as asked, but said before the user waits for it
        caution = text(request, "finetune.random_features", strategy=text(request, f"finetune.strategy.{strategy}"))
        gr.Warning(caution)
    options = train.FinetuneOptions(lr=float(form["lr"]), rotate90=bool(form.get("rotate90")))

    def work(report, should_stop) -> train.FinetuneResult:
        return train.finetune(start_from, samples, strategy=strategy, epochs=int(form["epochs"]), options=options, on_progress=report, should_stop=should_stop)

    history: list[dict[str, Any]] = []
    # Progress shows on the status alone (show_progress_on), so the charts stay visible while they grow.
    with jobs.start("finetune", request, work, time_limit=TIME_LIMIT_S) as job:  # closing this generator stops the job
        for record in job.watch():
            if record["stage"] == "features":
                progress(record["progress"], desc=text(request, "finetune.features"))
                continue
            history.append(record)
            status = " ".join(filter(None, (caution, _epoch_status(record, request, progress)))) + skipped
            yield {"status": status, **_charts(history, request), "training": True}
    try:
        result = job.result()
    except Exception as e:
        raise _user_error(e, request) from e
    if result.stopped:  # Stop or the time limit: say so, keep nothing half-trained
        yield {"status": _stopped_text(job, request), **_charts(history, request), "training": False}
        return
    # The epochs are over: from the first finishing step on, Stop would only throw the finished model away, so the page greys it out.
    finishing = _finish(result, samples, tuned, policy, caution, skipped, request, progress)
    yield {**next(finishing), "training": False}
    yield from finishing


def _step(key: str, request: Optional[gr.Request], progress: gr.Progress) -> dict[str, Any]:
    """Name the step the work after the last epoch is in, on the progress bar and in the status."""
    said = text(request, key)
    progress(None, desc=said)
    return {"status": said}


def _summary(result: train.FinetuneResult, name: str, caution: str, request: Optional[gr.Request]) -> str:
    """The status's first sentences when it is done: which model, its held-out accuracy, the caution, whether it overfits."""
    summary_line = text(request, "finetune.done", name=tuned_label(name, request))
    if "val_top1" in result.history[-1]:
        summary_line += text(request, "finetune.done_accuracy", accuracy=f"{result.history[-1]['val_top1']:.0%}")
    summary_line += caution + " " if caution else ""  # after the accuracy it explains
    return summary_line + curves.fit_note(result.history, request)


def _per_class(result: train.FinetuneResult, request: Optional[gr.Request]) -> Styler:
    """Held-out accuracy per class: numbers for the API, shown in percent like the status's accuracy (blank: no held-out image)."""
    column = text(request, "column.held-out accuracy")
    accuracies = [None if a is None else round(a, 3) for a in result.per_class_accuracy.values()]
    return in_percent(pd.DataFrame({text(request, "column.class"): list(result.per_class_accuracy), column: accuracies}), column)


def _finish(
    result: train.FinetuneResult, samples: dict, tuned: dict, policy: ModelPolicy, caution: str, skipped: str, request: Optional[gr.Request],
    progress: gr.Progress,
) -> Iterator[dict[str, Any]]:
    """After the last epoch: keep the model, find its mistakes, package the download (each step named), then show it all.

    ``samples``: the user's images by class, as trained on; those not held out calibrate the download's int8 model.
    ``caution`` and ``skipped``: what the status said about the start and the data; they stay in it.
    """
    name, tuned, dropped = _keep(result, tuned, policy, request)
    if dropped:
        skipped += text(request, "finetune.dropped", limit=policy.max_session_models, names="; ".join(tuned_label(d, request) for d in dropped))
    if result.warnings:
        skipped += text(request, "finetune.warnings", problems="; ".join(problem_text(request, p) for p in result.warnings))
    yield _step("finetune.step.mistakes", request, progress)
    kept = mistakes.keep(result.mistakes(), result.labels, session_dir(request) / f"mistakes-{tuned_number(name)}")
    yield _step("finetune.step.download", request, progress)
    archive, onnx_note, download_label = package_model(result, samples, session_dir(request) / f"model-{tuned_number(name)}", request)
    yield {
        **_charts(result.history, request),
        "status": _summary(result, name, caution, request) + text(request, "finetune.done_where") + skipped + onnx_note,
        "per_class": _per_class(result, request),
        "confusion": confusion_image(result.confusion, result.labels),
        "download": gr.DownloadButton(download_label, value=archive, visible=True),
        "picker": gr.Dropdown(choices=picker_choices(tuned, policy.listed, request), value=name),
        "pair": gr.Dropdown(choices=mistakes.choices(kept, request), value=mistakes.ALL),
        "gallery": mistakes.gallery(kept, mistakes.ALL, request),
        "tuned": tuned,
        "kept": kept,
    }


def _stopped_text(job: jobs.Job, request: Optional[gr.Request]) -> str:
    last = job.last if job.last and job.last.get("stage") == "train" else None
    if last is None:
        return text(request, "finetune.stopped_early")
    return text(request, "finetune.stopped", epoch=last["epoch"], epochs=last["epochs"])


def stop(request: gr.Request = None) -> str:
    """Stop this session's fine-tune at its next step (the Stop button also cancels its event); says where it stopped."""
    job = jobs.stop("finetune", request)
    return text(request, "finetune.not_running") if job is None else _stopped_text(job, request)
