"""The Fine-tune tab: classes and their images in, a learning curve live (Stop ends it), then results,
the held-out mistakes, a live preview, a download that runs the same with ONNX Runtime, and a push."""

from __future__ import annotations

import shutil
from typing import Any, Iterator, Optional, Sequence

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

__all__ = ["FROM_SCRATCH", "finetune", "offline_start", "push_to_hub", "start_defaults", "stop", "strategy_defaults", "tab"]

FROM_SCRATCH = "resnet18 (from scratch: works offline)"  # the value API clients send; the page shows it translated
SCRATCH_ARCH = "resnet18"  # what FROM_SCRATCH trains: train.finetune's random initialisation of this architecture
TIME_LIMIT_S = 1800  # a fine-tune ends here, whatever its settings


def _user_error(error: Exception, request: Optional[gr.Request]) -> Exception:
    """What the page says about an error of the training thread (one log line, no traceback); anything else is the server's bug and stays as it is."""
    if isinstance(error, DataError) and getattr(error, "problems", None):
        return gr.Error(text(request, "finetune.checks_failed", problems=error_text(request, error)), print_exception=False)
    if isinstance(error, (DataError, ImageError)):
        return gr.Error(error_text(request, error), print_exception=False)
    if isinstance(error, (CheckpointError, ValueError)):
        return gr.Error(text(request, "error.invalid", reason=error), print_exception=False)
    return error


def _update(status: Any = None, *, charts: tuple = (gr.skip(), gr.skip())) -> tuple:
    """One of finetune's updates while it works: the status (None: unchanged) and the two charts; the other outputs stay."""
    loss, accuracy = charts
    return (loss, gr.skip() if status is None else status, *(gr.skip(),) * 6, accuracy, gr.skip(), gr.skip())


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


@gpu
def finetune(
    source: str,
    strategy: str,
    epochs: float,
    lr: float,
    zip_file: Any,
    tuned: dict[str, resnet.Classifier],
    policy: ModelPolicy,
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(),
    *slots_then_rotate90: Any,
) -> Iterator[tuple]:
    """Fine-tune on the classes given, yielding the learning curve live, then the results and the held-out mistakes.

    ``slots_then_rotate90``: (class name, files) for each of the ``CLASS_SLOTS`` slots, then whether to also
    turn training images by quarter turns (``train.finetune``'s ``rotate90``; API clients may leave it out).
    ``request`` and ``progress`` come before them because gradio fills in only parameters ahead of a ``*args``.

    ``policy`` says which checkpoints may be started from, and how many fine-tuned models the session keeps.
    Stop (``stop``), a cancelled event, the time limit or the session's end stop the training at its next step.
    """
    slots, options = slots_then_rotate90[: 2 * CLASS_SLOTS], slots_then_rotate90[2 * CLASS_SLOTS :]
    rotate90 = bool(options[0]) if options else False
    try:
        samples, notes = collect_samples(zip_file, slots, request)
    except DataError as e:
        raise gr.Error(error_text(request, e), print_exception=False) from e
    start_from: Any = SCRATCH_ARCH if source == FROM_SCRATCH else resolve(source, tuned, policy, request)
    history: list[dict[str, Any]] = []
    shown = [text(request, f"zip.{n.code}", name=n.name) for n in notes[:3]]
    skipped = text(request, "finetune.skipped", notes="; ".join(shown) + (" ..." if len(notes) > 3 else "")) if notes else ""
    caution = ""
    if train.random_features(start_from, strategy):  # trained as asked, but said before the user waits for it
        caution = text(request, "finetune.random_features", strategy=text(request, f"finetune.strategy.{strategy}"))
        gr.Warning(caution)

    def work(report, should_stop) -> train.FinetuneResult:
        return train.finetune(
            start_from, samples, strategy=strategy, epochs=int(epochs), lr=float(lr), rotate90=rotate90, on_progress=report, should_stop=should_stop,
        )

    # Progress shows on the status alone (show_progress_on), so the charts stay visible while they grow.
    with jobs.start("finetune", request, work, time_limit=TIME_LIMIT_S) as job:  # closing this generator stops the job
        for record in job.watch():
            if record["stage"] == "features":
                progress(record["progress"], desc=text(request, "finetune.features"))
                continue
            history.append(record)
            progress(record["progress"], desc=text(request, "finetune.epoch", epoch=record["epoch"], epochs=record["epochs"]))
            status = text(request, "finetune.epoch_status", epoch=record["epoch"], epochs=record["epochs"], loss=f"{record['train_loss']:.3f}")
            if "val_top1" in record:
                status += text(request, "finetune.epoch_accuracy", accuracy=f"{record['val_top1']:.0%}")
            yield _update(" ".join(filter(None, (caution, status))) + skipped, charts=curves.charts(history, request))
    try:
        result = job.result()
    except Exception as e:
        raise _user_error(e, request) from e
    if result.stopped:  # the time limit: say so, keep nothing half-trained
        yield _update(_stopped_text(job, request), charts=curves.charts(history, request))
        return
    yield from _finish(result, samples, tuned, policy, caution, skipped, request, progress)


def _step(key: str, request: Optional[gr.Request], progress: gr.Progress) -> tuple:
    """Name the step the work after the last epoch is in, on the progress bar and in the status."""
    said = text(request, key)
    progress(None, desc=said)
    return _update(said)


def _finish(
    result: train.FinetuneResult, samples: dict, tuned: dict, policy: ModelPolicy, caution: str, skipped: str, request: Optional[gr.Request],
    progress: gr.Progress,
) -> Iterator[tuple]:
    """After the last epoch: keep the model, find its mistakes, package the download (each step named), then show it all.

    ``samples``: the user's images by class, as trained on; those not held out calibrate the download's int8 model.
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
    per_class = pd.DataFrame(
        {
            text(request, "column.class"): list(result.per_class_accuracy),
            text(request, "column.held-out accuracy"): [None if a is None else round(a, 3) for a in result.per_class_accuracy.values()],
        }
    )
    last = result.history[-1]
    summary_line = text(request, "finetune.done", name=tuned_label(name, request))
    if "val_top1" in last:
        summary_line += text(request, "finetune.done_accuracy", accuracy=f"{last['val_top1']:.0%}")
    summary_line += caution + " " if caution else ""  # after the accuracy it explains
    summary_line += curves.fit_note(result.history, request)
    loss, accuracy = curves.charts(result.history, request)
    yield (
        loss,
        summary_line + text(request, "finetune.done_where") + skipped + onnx_note,
        per_class,
        confusion_image(result.confusion, result.labels),
        gr.DownloadButton(download_label, value=archive, visible=True),
        gr.Dropdown(choices=picker_choices(tuned, policy.listed, request), value=name),
        gr.Dropdown(choices=mistakes.choices(kept, request), value=mistakes.ALL),
        mistakes.gallery(kept, mistakes.ALL, request),
        accuracy,
        tuned,
        kept,
    )


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


def tab(demo: gr.Blocks, checkpoints: Sequence[str], default_model: str, tuned: gr.State, policy: gr.State, picker: gr.Dropdown) -> None:
    """Declare the Fine-tune tab and wire it; a finished run updates ``picker`` (the Classify tab's)."""
    kept = gr.State(None, time_to_live=3600)  # the mistakes of this session's last fine-tune (ui.mistakes.keep)
    initial_strategy, initial_epochs, initial_lr = start_defaults(default_model)
    with gr.Tab(static("tab.finetune"), elem_id="finetune"):
        gr.Markdown(static("finetune.intro"))
        sample_button = gr.Button(static("finetune.sample_button"), elem_id="sample-button")
        slots: list[gr.components.Component] = []
        for i in range(CLASS_SLOTS):
            with gr.Row(variant="panel"):
                name = gr.Textbox(label=static("finetune.class"), placeholder=static("finetune.class_name"), scale=1, elem_id=f"class-{i}-name")
                files = gr.File(file_count="multiple", file_types=["image"], label=static("finetune.images"), scale=3, height=180, elem_id=f"class-{i}-files")
                snapshot = gr.Image(sources=["webcam"], type="filepath", label=static("finetune.snapshot"), scale=1, height=160)
                snapshot.input(add_snapshot, [snapshot, files], files, api_visibility="private")
            slots += [name, files]
        zip_file = gr.File(file_types=[".zip"], label=static("finetune.zip"), elem_id="zip-file")
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
        status = gr.Markdown(elem_id="train-status")
        with gr.Row():
            curve = curves.loss_plot()
            accuracy = curves.accuracy_plot()
        with gr.Row():
            per_class = gr.Dataframe(label=static("finetune.per_class"), elem_id="per-class", interactive=False, visible=False)  # shown once filled
            confusion = gr.Image(label=static("finetune.confusion"), elem_id="confusion", interactive=False)
        with gr.Accordion(static("mistakes.title"), open=True):
            pair = gr.Dropdown([], label=static("mistakes.filter"), elem_id="mistakes-filter")
            gallery = gr.Gallery(label=static("mistakes.gallery"), columns=mistakes.COLUMNS, height="auto", elem_id="mistakes")
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

    sample_button.click(sample_set, None, slots, api_name="sample_set")
    # Offline without the default model, the page's own defaults must still train: from scratch, said on the status.
    def start_here(request: gr.Request = None) -> tuple[Any, ...]:
        return offline_start(default_model, request)

    demo.load(start_here, None, [source, strategy, epochs, lr, status], api_visibility="private", queue=False)
    # A start from random weights trains everything with the scratch recipe; a strategy picked by hand gets its own numbers.
    source.input(start_defaults, source, [strategy, epochs, lr], api_name="start_defaults")
    strategy.input(strategy_defaults, [strategy, source], [epochs, lr], api_name="strategy_defaults")
    outputs = [curve, status, per_class, confusion, download, picker, pair, gallery, accuracy, tuned, kept]  # _update's order
    training = train_button.click(
        finetune, [source, strategy, epochs, lr, zip_file, tuned, policy, *slots, rotate90], outputs,
        api_name="finetune", concurrency_id="training", concurrency_limit=1, time_limit=TIME_LIMIT_S,
        show_progress_on=status,  # one progress bar and one error badge, on the status: the charts stay visible
    )
    training.success(lambda: gr.Dataframe(visible=True), None, per_class, api_visibility="private", queue=False)  # empty, it showed headers "1 2 3"
    stop_button.click(stop, None, status, cancels=[training], api_name="stop_finetune", queue=False)
    pair.input(mistakes.show, [pair, kept], gallery, api_name="mistakes", queue=False)
    confusion.select(mistakes.cell_choice, kept, pair, api_visibility="private", queue=False).success(
        mistakes.show, [pair, kept], gallery, api_visibility="private", queue=False,
    )
    # Frames are small and the model is the session's own: several sessions preview at once; each keeps only its newest frame.
    camera.stream(
        preview.preview, [camera, tuned], [live, live_model], api_name="preview", preprocess=False, stream_every=preview.STREAM_EVERY_S,
        trigger_mode="always_last", time_limit=300, concurrency_id="preview", concurrency_limit=4,
    )
    photo.upload(preview.preview, [photo, tuned], [live, live_model], api_name="preview_photo", preprocess=False, concurrency_id="preview")
    push_button.click(push_to_hub, [repo, token, tuned], pushed, api_name="push_to_hub")
