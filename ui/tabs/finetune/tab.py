"""The Fine-tune tab: classes and their images in, a learning curve live (Stop ends it), then results,
the held-out mistakes, a live preview, a download that runs the same with ONNX Runtime, and a push.

This module declares the tab and wires its events; the run itself is ``training``'s."""

from __future__ import annotations

from functools import partial
from typing import Any, Optional, Sequence

import gradio as gr

import resnet
from train.presets import STRATEGIES, default_strategy, finetune_defaults
from ui import jobs
from ui.i18n import static, text
from ui.models import MODELS, tuned_label

from . import curves, mistakes, preview
from .samples import CLASS_SLOTS, add_snapshot, sample_set
from .training import FORM, FROM_SCRATCH, OUTPUTS, SCRATCH_ARCH, SLOT_FIELDS, TIME_LIMIT_S, by_component, finetune, stop

__all__ = ["offline_start", "push_to_hub", "start_defaults", "strategy_defaults", "tab"]


def _start(source: Optional[str]) -> Any:
    """What ``train.presets.finetune_defaults`` needs to know of a start: the architecture name for a random one, else the checkpoint's name."""
    return SCRATCH_ARCH if source == FROM_SCRATCH else (source or "")


def strategy_defaults(strategy: str, source: Optional[str] = None) -> tuple[int, float]:
    """Epochs and learning rate suited to a strategy from this start (``train.presets.finetune_defaults``: from scratch, its recipe's)."""
    defaults = finetune_defaults(_start(source), strategy)
    return defaults["epochs"], defaults["lr"]


def start_defaults(source: Optional[str]) -> tuple[str, int, float]:
    """What to train, epochs and learning rate for a start (``train.presets.default_strategy``): from scratch, everything, with its recipe."""
    strategy = default_strategy(_start(source))
    return (strategy, *strategy_defaults(strategy, source))


def offline_start(default_model: str, request: gr.Request = None) -> dict[str, Any]:
    """At page load: when the default model cannot load here (offline and not cached, or its last load failed),
    start from scratch with the scratch recipe and say why; otherwise change nothing. No load, no request.

    Returns:
        The fields to change by name (``source``, ``strategy``, ``epochs``, ``lr``, ``status``); empty: none.
    """
    if MODELS.availability(default_model) in (None, "download"):
        return {}
    strategy, epochs, lr = start_defaults(FROM_SCRATCH)
    said = text(request, "finetune.offline_start", model=default_model)
    return {"source": FROM_SCRATCH, "strategy": strategy, "epochs": epochs, "lr": lr, "status": said}


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
            label=static("finetune.start_from"), elem_id="source", allow_custom_value=True, scale=2, min_width=240,  # room for its longest choice
        )
        strategy = gr.Radio(
            [(static(f"finetune.strategy.{s}"), s) for s in STRATEGIES], value=initial_strategy, label=static("finetune.strategy"), elem_id="strategy",
        )
        epochs = gr.Slider(1, curves.MAX_EPOCHS, value=initial_epochs, step=1, label=static("finetune.epochs"), elem_id="epochs")
        lr = gr.Number(value=initial_lr, label=static("finetune.lr"), elem_id="lr")
        rotate90 = gr.Checkbox(False, label=static("finetune.rotate90"), info=static("finetune.rotate90_info"), elem_id="rotate90")
    with gr.Row():
        train_button = gr.Button(static("finetune.button"), variant="primary", elem_id="train-button")
        stop_button = gr.Button(static("finetune.stop"), variant="stop", interactive=False, elem_id="stop-button")  # pressable while training
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


def _started() -> tuple[gr.Button, str]:
    """Train pressed: Stop can stop the run (also while it waits its turn), and the last run's message goes."""
    return jobs.stop_button(True), ""


def tab(demo: gr.Blocks, checkpoints: Sequence[str], default_model: str, tuned: gr.State, policy: gr.State, picker: gr.Dropdown) -> None:
    """Declare the Fine-tune tab and wire it; a finished run updates ``picker`` (the Classify tab's)."""
    kept = gr.State(None, time_to_live=3600)  # the mistakes of this session's last fine-tune (ui.tabs.finetune.mistakes.keep)
    training = gr.State(False)  # whether epochs are running: Stop is pressable then only
    with gr.Tab(static("tab.finetune"), elem_id="finetune"):
        gr.Markdown(static("finetune.intro"))
        sample_button = gr.Button(static("finetune.sample_button"), elem_id="sample-button")
        p = _class_slots()  # the tab's components by name, in page order
        p["zip_file"] = gr.File(file_types=[".zip"], label=static("finetune.zip"), elem_id="zip-file")
        p |= _settings(checkpoints, default_model) | _results()
        p |= _preview_and_push() | {"tuned": tuned, "picker": picker, "kept": kept, "training": training}
    sample_button.click(sample_set, None, [p[name] for name in SLOT_FIELDS], api_name="sample_set")
    # Offline without the default model, the page's own defaults must still train: from scratch, said on the status.
    def start_here(request: gr.Request = None) -> dict[gr.components.Component, Any]:
        changes = offline_start(default_model, request)
        return {p[name]: value for name, value in changes.items()} or gr.skip()  # gr.skip(): every field as it is

    demo.load(start_here, None, [p["source"], p["strategy"], p["epochs"], p["lr"], p["status"]], api_visibility="private", queue=False)
    # A start from random weights trains everything with the scratch recipe; a strategy picked by hand gets its own numbers.
    p["source"].input(start_defaults, p["source"], [p["strategy"], p["epochs"], p["lr"]], api_name="start_defaults")
    p["strategy"].input(strategy_defaults, [p["strategy"], p["source"]], [p["epochs"], p["lr"]], api_name="strategy_defaults")
    outputs = {name: p[name] for name in OUTPUTS}
    started = p["train"].click(_started, None, [p["stop"], p["status"]], api_visibility="private", queue=False, show_progress="hidden")
    run = started.then(
        by_component(finetune, outputs), [tuned, policy], list(outputs.values()), inputs_kwargs={name: p[name] for name in FORM},
        api_name="finetune", concurrency_id="training", concurrency_limit=1, time_limit=TIME_LIMIT_S,
        show_progress_on=p["status"],  # one progress bar and one error badge, on the status: the charts stay visible
    )
    run.success(lambda: gr.Dataframe(visible=True), None, p["per_class"], api_visibility="private", queue=False)  # empty, it showed headers "1 2 3"
    # Stop is pressable while the run waits or trains; not while the finished model is packaged, nor after.
    p["training"].change(jobs.stop_button, p["training"], p["stop"], api_visibility="private", queue=False, show_progress="hidden")
    run.then(partial(jobs.stop_button, False), None, p["stop"], api_visibility="private", queue=False, show_progress="hidden")
    p["stop"].click(stop, None, p["status"], cancels=[run], api_name="stop_finetune", queue=False).then(
        partial(jobs.stop_button, False), None, p["stop"], api_visibility="private", queue=False, show_progress="hidden",
    )
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
