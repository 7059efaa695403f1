"""The Fine-tune tab: classes and their images in, a learning curve live (Stop ends it), then results,
the held-out mistakes, a live preview, a download that runs the same with ONNX Runtime, and a push."""

from __future__ import annotations

import contextlib
import functools
import shutil
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import gradio as gr
import pandas as pd

import resnet
import train
from resnet.config import CheckpointError
from resnet.transforms import ImageError
from train.data import DataError

from . import curves, jobs, mistakes, preview
from .download import package_model
from .i18n import error_text, problem_text, static, text
from .models import MODELS, TUNED_PREFIX, ModelPolicy, picker_choices, resolve, tuned_label, tuned_number
from .pictures import confusion_image
from .samples import CLASS_SLOTS, add_snapshot, collect_samples, sample_set
from .session import gpu, session_dir

__all__ = ["FORM", "FROM_SCRATCH", "OUTPUTS", "SLOT_FIELDS", "finetune", "offline_start", "push_to_hub", "start_defaults", "stop", "strategy_defaults", "tab"]

FROM_SCRATCH = "resnet18 (from scratch: works offline)"  # the value API clients send; the page shows it translated
SCRATCH_ARCH = "resnet18"  # what FROM_SCRATCH trains: train.finetune's random initialisation of this architecture
TIME_LIMIT_S = 1800  # a fine-tune ends here, whatever its settings
# The class slots' inputs by name, in the order API clients send them (ui.zerogpu counts the images of each "..._files").
SLOT_FIELDS = tuple(f"class_{i}_{part}" for i in range(CLASS_SLOTS) for part in ("name", "files"))
# finetune's inputs by name (beside the states tuned and policy), in the order API clients send them.
FORM = ("source", "strategy", "epochs", "lr", "zip_file", *SLOT_FIELDS, "rotate90")
# finetune's outputs by name, in the order API clients receive them (the states tuned and kept are not sent).
OUTPUTS = ("loss", "status", "per_class", "confusion", "download", "picker", "pair", "gallery", "accuracy", "tuned", "kept")


def _user_error(error: Exception, request: Optional[gr.Request]) -> Exception:
    """What the page says about an error of the training thread (one log line, no traceback); anything else is the server's bug and stays as it is."""
    if isinstance(error, DataError) and getattr(error, "problems", None):
        return gr.Error(text(request, "finetune.checks_failed", problems=error_text(request, error)), print_exception=False)
    if isinstance(error, (DataError, ImageError)):
        return gr.Error(error_text(request, error), print_exception=False)
    if isinstance(error, (CheckpointError, ValueError)):
        return gr.Error(text(request, "error.invalid", reason=error), print_exception=False)
    return error


def _by_component(fn: Callable[..., Iterator[dict[str, Any]]], outputs: Mapping[str, Any]) -> Callable[..., Iterator[dict[Any, Any]]]:
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
    if train.random_features(start_from, strategy):  # trained as asked, but said before the user waits for it
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
            yield {"status": status, **_charts(history, request)}
    try:
        result = job.result()
    except Exception as e:
        raise _user_error(e, request) from e
    if result.stopped:  # the time limit: say so, keep nothing half-trained
        yield {"status": _stopped_text(job, request), **_charts(history, request)}
        return
    yield from _finish(result, samples, tuned, policy, caution, skipped, request, progress)


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


def _per_class(result: train.FinetuneResult, request: Optional[gr.Request]) -> pd.DataFrame:
    """Held-out accuracy per class, as the table shows it."""
    accuracies = [None if a is None else round(a, 3) for a in result.per_class_accuracy.values()]
    return pd.DataFrame({text(request, "column.class"): list(result.per_class_accuracy), text(request, "column.held-out accuracy"): accuracies})


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


def _start(source: Optional[str]) -> Any:
    """What ``train.finetune_defaults`` needs to know of a start: the architecture name for a random one, else the checkpoint's name."""
    return SCRATCH_ARCH if source == FROM_SCRATCH else (source or "")


def strategy_defaults(strategy: str, source: Optional[str] = None) -> tuple[int, float]:
    """Epochs and learning rate suited to a strategy from this start (``train.finetune_defaults``: from scratch, its recipe's)."""
    defaults = train.finetune_defaults(_start(source), strategy)
    return defaults["epochs"], defaults["lr"]


def start_defaults(source: Optional[str]) -> tuple[str, int, float]:
    """What to train, epochs and learning rate for a start (``train.default_strategy``): from scratch, everything, with its recipe."""
    strategy = train.default_strategy(_start(source))
    return (strategy, *strategy_defaults(strategy, source))


def offline_start(default_model: str, request: gr.Request = None) -> tuple[Any, ...]:
    """At page load: when the default model cannot load here (offline and not cached, or its last load failed),
    start from scratch with the scratch recipe and say why; otherwise change nothing. No load, no request."""
    if MODELS.availability(default_model) in (None, "download"):
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return FROM_SCRATCH, *start_defaults(FROM_SCRATCH), text(request, "finetune.offline_start", model=default_model)


def push_to_hub(repo_id: str, token: str, tuned: dict[str, resnet.Classifier], request: gr.Request = None) -> str:
    """Upload the latest fine-tuned model of this session to the Hub."""
    if not tuned:
        raise gr.Error(text(request, "push.no_model"), print_exception=False)
    if not repo_id or "/" not in repo_id:
        raise gr.Error(text(request, "push.bad_repo"), print_exception=False)
    name, classifier = list(tuned.items())[-1]
    try:
        url = classifier.push_to_hub(repo_id.strip(), token=token or None)
    except Exception as e:  # huggingface_hub raises many types; the user needs the message
        raise gr.Error(text(request, "push.failed", repo=repo_id, reason=e), print_exception=False) from e
    return text(request, "push.done", name=tuned_label(name, request), repo=repo_id, url=url)


def _class_slots() -> dict[str, gr.components.Component]:
    """A row per class slot: its name, its images, and a webcam snapshot that adds to them; by ``SLOT_FIELDS`` name."""
    slots: list[gr.components.Component] = []
    for i in range(CLASS_SLOTS):
        with gr.Row(variant="panel"):
            name = gr.Textbox(label=static("finetune.class"), placeholder=static("finetune.class_name"), scale=1, elem_id=f"class-{i}-name")
            files = gr.File(file_count="multiple", file_types=["image"], label=static("finetune.images"), scale=3, height=180, elem_id=f"class-{i}-files")
            snapshot = gr.Image(sources=["webcam"], type="filepath", label=static("finetune.snapshot"), scale=1, height=160)
            snapshot.input(add_snapshot, [snapshot, files], files, api_visibility="private")
        slots += [name, files]
    return dict(zip(SLOT_FIELDS, slots))


def _settings(checkpoints: Sequence[str], default_model: str) -> dict[str, gr.components.Component]:
    """The row of what to train: start, strategy, epochs, learning rate (the start's defaults) and any-way-up."""
    initial_strategy, initial_epochs, initial_lr = start_defaults(default_model)
    with gr.Row():
        source = gr.Dropdown(
            [*((c, c) for c in checkpoints), (static("finetune.from_scratch"), FROM_SCRATCH)], value=default_model,
            label=static("finetune.start_from"), elem_id="source", allow_custom_value=True,
        )
        strategy = gr.Radio(
            [(static(f"finetune.strategy.{s}"), s) for s in train.STRATEGIES], value=initial_strategy, label=static("finetune.strategy"), elem_id="strategy",
        )
        epochs = gr.Slider(1, curves.MAX_EPOCHS, value=initial_epochs, step=1, label=static("finetune.epochs"), elem_id="epochs")
        lr = gr.Number(value=initial_lr, label=static("finetune.lr"), elem_id="lr")
        rotate90 = gr.Checkbox(False, label=static("finetune.rotate90"), info=static("finetune.rotate90_info"), elem_id="rotate90")
    with gr.Row():
        train_button = gr.Button(static("finetune.button"), variant="primary", elem_id="train-button")
        stop_button = gr.Button(static("finetune.stop"), variant="stop", elem_id="stop-button")
    return {"source": source, "strategy": strategy, "epochs": epochs, "lr": lr, "rotate90": rotate90, "train": train_button, "stop": stop_button}


def _results() -> dict[str, gr.components.Component]:
    """The status, the two charts, the per-class table, the confusion matrix and the mistakes, by output name."""
    status = gr.Markdown(elem_id="train-status")
    with gr.Row():
        loss = curves.loss_plot()
        accuracy = curves.accuracy_plot()
    with gr.Row():
        per_class = gr.Dataframe(label=static("finetune.per_class"), elem_id="per-class", interactive=False, visible=False)  # shown once filled
        confusion = gr.Image(label=static("finetune.confusion"), elem_id="confusion", interactive=False)
    with gr.Accordion(static("mistakes.title"), open=True):
        pair = gr.Dropdown([], label=static("mistakes.filter"), elem_id="mistakes-filter")
        gallery = gr.Gallery(label=static("mistakes.gallery"), columns=mistakes.COLUMNS, height="auto", elem_id="mistakes")
    return {"status": status, "loss": loss, "accuracy": accuracy, "per_class": per_class, "confusion": confusion, "pair": pair, "gallery": gallery}


def _preview_and_push() -> dict[str, gr.components.Component]:
    """The live preview (webcam or photo), the download button and the push to the Hub."""
    with gr.Accordion(static("preview.title"), open=True):
        gr.Markdown(static("preview.intro"))
        with gr.Row():
            camera = gr.Image(sources=["webcam"], streaming=True, type="filepath", label=static("preview.webcam"), elem_id="preview-camera")
            photo = gr.Image(sources=["upload", "clipboard"], type="filepath", label=static("preview.photo"), elem_id="preview-photo")
            with gr.Column():
                live = gr.Label(num_top_classes=5, label=static("preview.label"), elem_id="preview-label")
                live_model = gr.Markdown(elem_id="preview-model")
    download = gr.DownloadButton(static("finetune.download"), visible=False, elem_id="download")
    with gr.Accordion(static("finetune.push"), open=False):
        with gr.Row():
            repo = gr.Textbox(label=static("finetune.repo"), placeholder=static("finetune.repo_placeholder"))
            token = gr.Textbox(label=static("finetune.token"), type="password")
        push_button = gr.Button(static("finetune.push_button"))
        pushed = gr.Markdown()
    return {"camera": camera, "photo": photo, "live": live, "live_model": live_model, "download": download, "repo": repo, "token": token,
            "push": push_button, "pushed": pushed}


def tab(demo: gr.Blocks, checkpoints: Sequence[str], default_model: str, tuned: gr.State, policy: gr.State, picker: gr.Dropdown) -> None:
    """Declare the Fine-tune tab and wire it; a finished run updates ``picker`` (the Classify tab's)."""
    kept = gr.State(None, time_to_live=3600)  # the mistakes of this session's last fine-tune (ui.mistakes.keep)
    with gr.Tab(static("tab.finetune"), elem_id="finetune"):
        gr.Markdown(static("finetune.intro"))
        sample_button = gr.Button(static("finetune.sample_button"), elem_id="sample-button")
        p = _class_slots()  # the tab's components by name, in page order
        p["zip_file"] = gr.File(file_types=[".zip"], label=static("finetune.zip"), elem_id="zip-file")
        p |= _settings(checkpoints, default_model) | _results()
        p |= _preview_and_push() | {"tuned": tuned, "picker": picker, "kept": kept}
    sample_button.click(sample_set, None, [p[name] for name in SLOT_FIELDS], api_name="sample_set")
    # Offline without the default model, the page's own defaults must still train: from scratch, said on the status.
    def start_here(request: gr.Request = None) -> tuple[Any, ...]:
        return offline_start(default_model, request)

    demo.load(start_here, None, [p["source"], p["strategy"], p["epochs"], p["lr"], p["status"]], api_visibility="private", queue=False)
    # A start from random weights trains everything with the scratch recipe; a strategy picked by hand gets its own numbers.
    p["source"].input(start_defaults, p["source"], [p["strategy"], p["epochs"], p["lr"]], api_name="start_defaults")
    p["strategy"].input(strategy_defaults, [p["strategy"], p["source"]], [p["epochs"], p["lr"]], api_name="strategy_defaults")
    outputs = {name: p[name] for name in OUTPUTS}
    training = p["train"].click(
        _by_component(finetune, outputs), [tuned, policy], list(outputs.values()), inputs_kwargs={name: p[name] for name in FORM},
        api_name="finetune", concurrency_id="training", concurrency_limit=1, time_limit=TIME_LIMIT_S,
        show_progress_on=p["status"],  # one progress bar and one error badge, on the status: the charts stay visible
    )
    training.success(lambda: gr.Dataframe(visible=True), None, p["per_class"], api_visibility="private", queue=False)  # empty, it showed headers "1 2 3"
    p["stop"].click(stop, None, p["status"], cancels=[training], api_name="stop_finetune", queue=False)
    p["pair"].input(mistakes.show, [p["pair"], kept], p["gallery"], api_name="mistakes", queue=False)
    p["confusion"].select(mistakes.cell_choice, kept, p["pair"], api_visibility="private", queue=False).success(
        mistakes.show, [p["pair"], kept], p["gallery"], api_visibility="private", queue=False,
    )
    # Frames are small and the model is the session's own: several sessions preview at once; each keeps only its newest frame.
    p["camera"].stream(
        preview.preview, [p["camera"], tuned], [p["live"], p["live_model"]], api_name="preview", preprocess=False, stream_every=preview.STREAM_EVERY_S,
        trigger_mode="always_last", time_limit=300, concurrency_id="preview", concurrency_limit=4,
    )
    p["photo"].upload(preview.preview, [p["photo"], tuned], [p["live"], p["live_model"]], api_name="preview_photo", preprocess=False, concurrency_id="preview")
    p["push"].click(push_to_hub, [p["repo"], p["token"], tuned], p["pushed"], api_name="push_to_hub")
