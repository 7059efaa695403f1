"""The Classify tab: a photo's top-5 and its Grad-CAM from one pass; many photos (``ui.tabs.classify.many_photos``); one photo through every depth."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional, Sequence

import gradio as gr
import pandas as pd
from PIL import Image

import resnet
from resnet.assets import example_photos
from resnet.cam import Prediction
from resnet.checkpoints.hub import DEFAULT_CHECKPOINTS
from resnet.devices import default_device
from resnet.files import atomic_write
from resnet.predict import compare_checkpoints
from resnet.transforms import ImageError
from ui.batchers import BATCHERS, auto_batch
from ui.i18n import error_text, static, text
from ui.models import MODELS, ModelPolicy, Refused, resolve, shared_loader, unavailable_text
from ui.session import gpu, session_dir, upload_path
from ui.tables import Styler, in_percent

from .many_photos import MANY_WIDTHS, classify_many

__all__ = ["class_map", "classify", "classify_all_depths", "classify_many", "explain", "model_status", "tab", "top_class_title"]

log = logging.getLogger(__name__)

DEPTH_COLUMNS = ("column.depth", "column.checkpoint", "classify.column.top1", "classify.column.probability", "classify.column.forward_ms",
                 "column.top1", "classify.column.agrees")
# Share of the width per column, so that the last one stays in view at 1280 px (long cells wrap instead).
DEPTH_WIDTHS = ["10%", "22%", "16%", "10%", "10%", "12%", "20%"]


def _bad_file(request: Optional[gr.Request], e: ImageError) -> gr.Error:
    return gr.Error(text(request, "classify.bad_file", reason=error_text(request, e)), print_exception=False)


def _png(picture: Image.Image, request: Optional[gr.Request]) -> str:
    # Gradio writes a returned PIL image straight to a cache file named after its pixels, so two requests
    # with the same answer (everyone's example photo) rewrite the file one of them is sending. A path is
    # copied under a staging name and renamed instead. One file per server thread bounds the folder.
    path = session_dir(request) / f"overlay-{threading.get_ident()}.png"
    atomic_write(path, lambda tmp: picture.save(tmp, format="PNG", compress_level=1))  # lossless; fast to write, loopback to send
    return str(path)


@gpu
def classify(
    image: Any, model_name: str, tuned: dict[str, resnet.Classifier], policy: ModelPolicy, request: gr.Request = None
) -> tuple[dict[str, float], str, str, Prediction]:
    """Top-5, the top class's Grad-CAM overlay and the time taken, from one forward pass.

    Args:
        image: the upload (gradio's file data: decoded here, under ``resnet.transforms.load_image``'s limits).
        model_name: a listed checkpoint, an allowed Hub id, or one of this session's fine-tuned models.
        tuned: this session's fine-tuned classifiers.
        policy: what a visitor may load.

    Returns:
        ``({label: probability}, the overlay as a PNG file, timing line, prediction)``; the prediction stays in the session for ``class_map``.
    """
    path = upload_path(image, request)
    classifier = resolve(model_name, tuned, policy, request)
    start = time.perf_counter()
    try:  # a session's own fine-tuned model serves one session: nothing to batch it with
        prediction = classifier.classify(path) if model_name in tuned else BATCHERS.classify(model_name, classifier, path)
    except ImageError as e:
        raise _bad_file(request, e) from e
    ms = 1000 * (time.perf_counter() - start)
    timing = text(request, "classify.timing", model=model_name, ms=f"{ms:.0f}", device=classifier.device.type)
    return dict(prediction.top), _png(prediction.overlay, request), timing, prediction


def top_class_title(last: Optional[Prediction], request: gr.Request = None) -> str:
    """The overlay's title, naming the top class of the photo just classified (it may replace a clicked class's title).

    The title is Markdown above the picture, not the picture's label, which its icon buttons cover.
    """
    if last is None:
        return gr.skip()
    return text(request, "classify.map_for", label=last.top[0][0])


def clear_answer(request: gr.Request = None) -> tuple[Any, ...]:
    """A new photo: the last photo's answer, map, title and time go, so nothing on screen belongs to another photo."""
    return None, None, text(request, "classify.overlay"), "", None


def class_map(last: Optional[Prediction], evt: gr.SelectData, request: gr.Request = None) -> Any:
    """The overlay of the class clicked in the top 5, from the last prediction's features: the network does not run again.

    Args:
        last: this session's last ``classify`` prediction (None before the first).
        evt: the click; its ``value`` is the label clicked.

    Returns:
        The overlay as a PNG file, and its title naming the class.
    """
    if last is None:  # nothing classified in this session yet
        return gr.skip()  # one skip leaves every output as it is
    try:
        _, picture = last.cam_for(evt.value)
    except ValueError as e:
        raise gr.Error(text(request, "classify.unknown_class", label=evt.value), print_exception=False) from e
    return _png(picture, request), text(request, "classify.map_for", label=evt.value)


def model_status(model_name: str, tuned: dict[str, resnet.Classifier], policy: ModelPolicy, request: gr.Request = None) -> str:
    """A line under the model picker, at page load and when the pick changes: why the model cannot answer at once and
    what to do; empty when it can. Cheap: no load and no request (``ui.models.SharedModels.availability``)."""
    if model_name in tuned:
        return ""
    try:
        source, allow_local = policy.source_for(model_name)
    except Refused as e:
        return "⚠️ " + e.message(request)
    reason = MODELS.availability(source, allow_local=allow_local)
    if reason is None:
        return ""
    if reason == "download":
        return text(request, "load.download", name=model_name)
    return "⚠️ " + unavailable_text(model_name, reason, request)


@gpu
def explain(
    image: Any, model_name: str, target: Optional[str], tuned: dict[str, resnet.Classifier], policy: ModelPolicy, request: gr.Request = None
) -> str:
    """Grad-CAM overlay for a chosen class, for API clients (the page uses ``class_map``).

    Args:
        image, model_name, tuned, policy: as in ``classify``.
        target: the class's label; empty or None: the top class.

    Returns:
        The overlay as a PNG file, equal to ``Prediction.cam_for(target)``'s.
    """
    path = upload_path(image, request)
    classifier = resolve(model_name, tuned, policy, request)
    if target and target not in classifier.config.labels:
        raise gr.Error(text(request, "classify.unknown_class", label=target), print_exception=False)
    try:
        overlay = classifier.explain(path, target or None).overlay
    except ImageError as e:
        raise _bad_file(request, e) from e
    return _png(overlay, request)


@gpu
def classify_all_depths(image: Any, policy: ModelPolicy, request: gr.Request = None) -> tuple[Styler, str]:
    """One photo through the checkpoint of every depth (``resnet.checkpoints.hub.DEFAULT_CHECKPOINTS``) that is cached or reachable.

    Args:
        image: the upload, as in ``classify``.
        policy: what a visitor may load; checkpoints load through ``ui.models.MODELS`` (its budget and Hub rules).

    Returns:
        ``(table: depth, checkpoint, top-1, probability, forward ms, published ImageNet top-1, agreement; a line
        saying how many answered and why the others are missing)``.
    """
    path = upload_path(image, request)

    try:
        rows = compare_checkpoints(path, {arch: checkpoint for arch, (checkpoint, _) in DEFAULT_CHECKPOINTS.items()}, load=shared_loader(policy, request))
    except ImageError as e:
        raise _bad_file(request, e) from e
    answered = [r for r in rows if r["label"] is not None]
    values = [
        [r["name"], r["source"], r["label"], round(r["probability"], 4), round(r["forward_ms"], 1), r["imagenet_top1"],
         _agreement(r, len(answered), request)]
        for r in answered
    ]
    columns = [text(request, key) for key in DEPTH_COLUMNS]
    table = in_percent(pd.DataFrame(values, columns=columns), columns[3], decimals=1)  # the probability, as the top 5 says it
    missing = [r for r in rows if r["label"] is None]
    for r in missing:  # the library's message may name folders: the server's log gets it, the page gets the reason
        log.warning("%s is not available: %s", r["name"], r["error"])
    line = text(request, "classify.depths.answered", answered=len(answered), total=len(rows))
    if len(answered) == 2:
        line += text(request, "classify.depths.no_majority")
    if missing:
        line += text(request, "classify.depths.missing", reasons=" ".join(text(request, f"load.{r['reason']}", name=r["source"]) for r in missing))
    return table, line


def _agreement(row: dict[str, Any], answered: int, request: Optional[gr.Request]) -> str:
    """Whom a depth's answer agrees with, in words; a majority only where three or more depths answered."""
    if answered < 3:
        return text(request, "classify.agree.deepest" if row["agrees_with_deepest"] else "classify.agree.not_deepest")
    key = {(True, True): "classify.agree.both", (True, False): "classify.agree.majority", (False, True): "classify.agree.deepest",
           (False, False): "classify.agree.neither"}
    return text(request, key[row["agrees_with_majority"], row["agrees_with_deepest"]])


def _shown() -> dict[str, Any]:
    return gr.update(visible=True)


def tab(
    checkpoints: Sequence[str], default_model: str, tuned: gr.State, policy: gr.State, *, concurrency: int, batch: Optional[int] = None
) -> gr.Dropdown:
    """Declare the Classify tab and wire it; returns the model picker (fine-tuning adds to it).

    Args:
        checkpoints: the listed checkpoints, offered in the picker.
        default_model: the picker's first value.
        tuned: this session's fine-tuned classifiers.
        policy: what a visitor may load.
        concurrency: single-photo requests served at once (at least ``batch`` when batching).
        batch: photos per forward pass for concurrent single-photo requests (0: each its own; None: ``auto_batch``).
    """
    batch = auto_batch(default_device()) if batch is None else batch
    BATCHERS.configure(max_batch=batch)
    with gr.Tab(static("tab.classify"), elem_id="classify-tab"):
        last = gr.State(None, time_to_live=3600)  # this session's last Prediction: other classes' maps without a forward pass
        with gr.Row():
            with gr.Column():
                image = gr.Image(type="filepath", sources=["upload", "webcam", "clipboard"], label=static("classify.photo"), elem_id="classify-image")
                model = gr.Dropdown(list(checkpoints), value=default_model, label=static("classify.model"), allow_custom_value=True, elem_id="model-picker")
                status = gr.Markdown(elem_id="model-status")
                button = gr.Button(static("classify.button"), variant="primary", elem_id="classify-button")
            with gr.Column():
                with gr.Row():
                    top5 = gr.Label(num_top_classes=5, label=static("classify.top5"), elem_id="top5")
                    with gr.Column():
                        # The title above the picture, not its label: the picture's icon buttons would cover a label.
                        title = gr.Markdown(static("classify.overlay"), elem_id="gradcam-title")
                        overlay = gr.Image(show_label=False, elem_id="gradcam", interactive=False, format="png")
                timing = gr.Markdown(elem_id="timing")
                gr.Markdown(static("classify.hint"))
                target = gr.Textbox(visible=False)  # /explain's class, for API clients
        # After both columns: on a phone the columns stack, and the answer must come before the examples.
        gr.Examples(
            [[str(p)] for p in example_photos()],
            inputs=[image],
            label=static("classify.examples"),
            elem_id="classify-examples",
        )
        with gr.Accordion(static("classify.many.title"), open=False):
            files = gr.File(file_count="multiple", file_types=["image", ".zip"], label=static("classify.many.files"), elem_id="many-files")
            many_button = gr.Button(static("classify.many.button"), elem_id="many-button")
            many_status = gr.Markdown(elem_id="many-status")
            # Hidden until filled: an empty table would show Gradio's placeholder headers "1 2 3".
            many_table = gr.Dataframe(
                label=static("classify.many.table"), interactive=False, wrap=True, column_widths=MANY_WIDTHS, visible=False, elem_id="many-table",
            )
            many_csv = gr.File(label=static("classify.many.csv"), interactive=False, visible=False, elem_id="many-csv")
        with gr.Accordion(static("classify.depths.title"), open=False):
            gr.Markdown(static("classify.depths.intro"))
            depths_button = gr.Button(static("classify.depths.button"), elem_id="depths-button")
            depths_line = gr.Markdown(elem_id="depths-line")
            depths_table = gr.Dataframe(interactive=False, wrap=True, column_widths=DEPTH_WIDTHS, visible=False, elem_id="depths-table")

    # At page load and whenever the pick changes: is the model there, and if not, why and what to do.
    gr.on(None, model_status, [model, tuned, policy], status, api_visibility="private", queue=False, show_progress="hidden")
    # One progress area per event: on an error, one message (the toast), not a red badge on every output.
    button.click(
        classify, [image, model, tuned, policy], [top5, overlay, timing, last], api_name="classify", preprocess=False, show_progress_on=top5,
        concurrency_id="classify", concurrency_limit=max(concurrency, batch), time_limit=120,
    ).success(top_class_title, last, title, api_visibility="private", queue=False)
    image.input(clear_answer, None, [top5, overlay, title, timing, last], api_visibility="private", queue=False, show_progress="hidden")
    # A click's event data comes from the page only (/explain is the API for a chosen class); no network run to queue for.
    top5.select(class_map, last, [overlay, title], api_visibility="private", queue=False)
    target.submit(
        explain, [image, model, target, tuned, policy], overlay, api_name="explain", preprocess=False, concurrency_id="classify", time_limit=120,
    )
    many_button.click(
        classify_many, [files, model, tuned, policy], [many_table, many_status, many_csv], api_name="classify_many", show_progress_on=many_status,
        concurrency_id="classify_many", concurrency_limit=1, time_limit=1200,
    ).success(lambda: (_shown(), _shown()), None, [many_table, many_csv], api_visibility="private", queue=False)
    depths_button.click(
        classify_all_depths, [image, policy], [depths_table, depths_line], api_name="classify_all_depths", preprocess=False,
        show_progress_on=depths_line, concurrency_id="classify_all_depths", concurrency_limit=1, time_limit=600,
    ).success(_shown, None, depths_table, api_visibility="private", queue=False)
    return model
