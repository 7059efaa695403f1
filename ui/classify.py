"""The Classify tab: a photo's top-5 and its Grad-CAM from one pass; many photos into a table; one photo through every depth."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import gradio as gr
import pandas as pd
from PIL import Image

import resnet
import train
from resnet.batching import default_batch_size
from resnet.files import atomic_write
from resnet.hub import DEFAULT_CHECKPOINTS
from resnet.transforms import ImageError
from train.data import DataError
from train.zips import read_zip_samples

from .batchers import BATCHERS, auto_batch
from .i18n import error_text, static, text
from .models import MODELS, ModelPolicy, Refused, resolve
from .session import gpu, session_dir, upload_path

__all__ = ["class_map", "classify", "classify_all_depths", "classify_many", "explain", "tab", "top_class_title"]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MANY_COLUMNS = ("classify.column.file", "classify.column.top1", "classify.column.probability", "classify.column.top5", "classify.column.error")
DEPTH_COLUMNS = ("column.depth", "column.checkpoint", "classify.column.top1", "classify.column.probability", "column.forward ms",
                 "column.top1", "classify.column.majority", "classify.column.deepest")


def _bad_file(request: Optional[gr.Request], e: ImageError) -> gr.Error:
    return gr.Error(text(request, "classify.bad_file", reason=error_text(request, e)))


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
) -> tuple[dict[str, float], str, str, resnet.Prediction]:
    """Top-5, the top class's Grad-CAM overlay and the time taken, from one forward pass.

    Args:
        image: the upload (gradio's file data: decoded here, under ``resnet.load_image``'s limits).
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


def top_class_title() -> dict[str, Any]:
    """The overlay's own title again, after a new photo's top class replaced a clicked class's map."""
    return gr.update(label=static("classify.overlay"))


def class_map(last: Optional[resnet.Prediction], evt: gr.SelectData, request: gr.Request = None) -> Any:
    """The overlay of the class clicked in the top 5, from the last prediction's features: the network does not run again.

    Args:
        last: this session's last ``classify`` prediction (None before the first).
        evt: the click; its ``value`` is the label clicked.

    Returns:
        An update of the overlay: its picture and a title naming the class.
    """
    if last is None:  # nothing classified in this session yet
        return gr.skip()
    try:
        _, picture = last.cam_for(evt.value)
    except ValueError as e:
        raise gr.Error(text(request, "classify.unknown_class", label=evt.value)) from e
    return gr.update(value=_png(picture, request), label=text(request, "classify.map_for", label=evt.value))


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
        raise gr.Error(text(request, "classify.unknown_class", label=target))
    try:
        overlay = classifier.explain(path, target or None).overlay
    except ImageError as e:
        raise _bad_file(request, e) from e
    return _png(overlay, request)


def _photos(files: Optional[Sequence[str]], request: Optional[gr.Request]) -> tuple[list[Any], list[str]]:
    """The uploaded photos, with the photos inside any .zip read in memory; and what the zips skipped, worded."""
    if not files:
        raise gr.Error(text(request, "classify.many.none"))
    photos: list[Any] = []
    skipped: list[str] = []
    for path in files:
        if str(path).lower().endswith(".zip"):
            try:  # the fine-tune tab's zip reader: sizes, ratios, paths checked; nothing written to disk
                samples, notes = read_zip_samples(path, max_images=train.MAX_IMAGES, class_folders=False)
            except DataError as e:
                raise gr.Error(error_text(request, e)) from e
            photos += [photo for folder in samples.values() for photo in folder]
            skipped += [text(request, f"zip.{n.code}", name=n.name) for n in notes]
        else:
            photos.append(path)
        if len(photos) > train.MAX_IMAGES:
            raise gr.Error(text(request, "classify.many.too_many", limit=train.MAX_IMAGES))
    return photos, skipped


def _top5_text(top: list[tuple[str, float]]) -> str:
    return "; ".join(f"{label} {p:.1%}" for label, p in top)


@gpu
def classify_many(
    files: Optional[list[str]],
    model_name: str,
    tuned: dict[str, resnet.Classifier],
    policy: ModelPolicy,
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[pd.DataFrame, str, str]:
    """Many photos in batches through the fast path, each photo's error in its row.

    Args:
        files: photos, and .zip files of photos (read in memory by ``train.zips.read_zip_samples``); at most ``train.MAX_IMAGES``.
        model_name, tuned, policy: as in ``classify``.
        progress: fed by ``predict_many`` after each batch.

    Returns:
        ``(table of file, top-1, probability, top-5 and error; summary line; path of the same table as CSV)``.
    """
    photos, skipped = _photos(files, request)
    classifier = resolve(model_name, tuned, policy, request)
    desc = text(request, "classify.many.progress")
    start = time.perf_counter()
    results = classifier.predict_many(photos, on_progress=lambda done, total: progress((done, total), desc=desc))
    seconds = time.perf_counter() - start
    rows = [
        [r.name, None, None, None, error_text(request, r.error)] if r.error else [r.name, r.top[0][0], round(r.top[0][1], 4), _top5_text(r.top), None]
        for r in results
    ]
    table = pd.DataFrame(rows, columns=[text(request, key) for key in MANY_COLUMNS])
    csv = session_dir(request) / "photos.csv"
    atomic_write(csv, lambda tmp: table.to_csv(tmp, index=False))  # the download is the table shown
    failed = sum(r.error is not None for r in results)
    status = text(
        request, "classify.many.done", model=model_name, classified=len(results) - failed, total=len(results), seconds=f"{seconds:.1f}",
        per_photo=f"{1000 * seconds / len(results):.0f}", batch=default_batch_size(classifier.device),
    )
    if failed:
        status += text(request, "classify.many.failed", failed=failed)
    if skipped:
        status += text(request, "classify.many.skipped", notes="; ".join(skipped[:3]) + (" ..." if len(skipped) > 3 else ""))
    return table, status, str(csv)


@gpu
def classify_all_depths(image: Any, policy: ModelPolicy, request: gr.Request = None) -> tuple[pd.DataFrame, str]:
    """One photo through the checkpoint of every depth (``resnet.hub.DEFAULT_CHECKPOINTS``) that is cached or reachable.

    Args:
        image: the upload, as in ``classify``.
        policy: what a visitor may load; checkpoints load through ``ui.models.MODELS`` (its budget and Hub rules).

    Returns:
        ``(table: depth, checkpoint, top-1, probability, forward ms, published ImageNet top-1, agreement; a line
        saying how many answered and why the others are missing)``.
    """
    path = upload_path(image, request)

    def load(source: str) -> resnet.Classifier:  # through the shared cache: its memory budget and Hub rules hold
        try:
            checkpoint, allow_local = policy.source_for(source)
        except Refused as e:
            raise gr.Error(e.message(request)) from e
        return MODELS.get(checkpoint, allow_local=allow_local)

    try:
        rows = resnet.compare_checkpoints(path, {arch: checkpoint for arch, (checkpoint, _) in DEFAULT_CHECKPOINTS.items()}, load=load)
    except ImageError as e:
        raise _bad_file(request, e) from e
    answered = [r for r in rows if r["label"] is not None]
    values = [
        [r["name"], r["source"], r["label"], round(r["probability"], 4), round(r["forward_ms"], 1), r["imagenet_top1"],
         r["agrees_with_majority"], r["agrees_with_deepest"]]
        for r in answered
    ]
    table = pd.DataFrame(values, columns=[text(request, key) for key in DEPTH_COLUMNS])
    missing = [r for r in rows if r["label"] is None]
    for r in missing:  # the library's message may name folders: the server's log gets it, the page gets the reason
        print(f"ResNet Studio: {r['name']} is not available: {r['error']}", file=sys.stderr, flush=True)
    line = text(request, "classify.depths.answered", answered=len(answered), total=len(rows))
    if missing:
        line += text(request, "classify.depths.missing", reasons=" ".join(text(request, f"load.{r['reason']}", name=r["source"]) for r in missing))
    return table, line


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
    batch = auto_batch(resnet.default_device()) if batch is None else batch
    BATCHERS.configure(max_batch=batch)
    with gr.Tab(static("tab.classify")):
        last = gr.State(None, time_to_live=3600)  # this session's last Prediction: other classes' maps without a forward pass
        with gr.Row():
            with gr.Column():
                image = gr.Image(type="filepath", sources=["upload", "webcam", "clipboard"], label=static("classify.photo"), elem_id="classify-image")
                model = gr.Dropdown(list(checkpoints), value=default_model, label=static("classify.model"), allow_custom_value=True, elem_id="model-picker")
                button = gr.Button(static("classify.button"), variant="primary", elem_id="classify-button")
                gr.Examples(
                    [[str(p)] for p in sorted(EXAMPLES.glob("*.*")) if p.suffix in (".png", ".jpg")],
                    inputs=[image],
                    label=static("classify.examples"),
                )
            with gr.Column():
                with gr.Row():
                    top5 = gr.Label(num_top_classes=5, label=static("classify.top5"), elem_id="top5")
                    overlay = gr.Image(label=static("classify.overlay"), elem_id="gradcam", interactive=False, format="png")
                timing = gr.Markdown(elem_id="timing")
                gr.Markdown(static("classify.hint"))
                target = gr.Textbox(visible=False)  # /explain's class, for API clients
        with gr.Accordion(static("classify.many.title"), open=False):
            files = gr.File(file_count="multiple", file_types=["image", ".zip"], label=static("classify.many.files"), elem_id="many-files")
            many_button = gr.Button(static("classify.many.button"), elem_id="many-button")
            many_status = gr.Markdown(elem_id="many-status")
            many_table = gr.Dataframe(label=static("classify.many.table"), interactive=False, elem_id="many-table")
            many_csv = gr.File(label=static("classify.many.csv"), elem_id="many-csv")
        with gr.Accordion(static("classify.depths.title"), open=False):
            gr.Markdown(static("classify.depths.intro"))
            depths_button = gr.Button(static("classify.depths.button"), elem_id="depths-button")
            depths_table = gr.Dataframe(interactive=False, elem_id="depths-table")
            depths_line = gr.Markdown(elem_id="depths-line")

    button.click(
        classify, [image, model, tuned, policy], [top5, overlay, timing, last], api_name="classify", preprocess=False,
        concurrency_id="classify", concurrency_limit=max(concurrency, batch), time_limit=120,
    ).success(top_class_title, None, overlay, api_visibility="private", queue=False)
    # A click's event data comes from the page only (/explain is the API for a chosen class); no network run to queue for.
    top5.select(class_map, last, overlay, api_visibility="private", queue=False)
    target.submit(
        explain, [image, model, target, tuned, policy], overlay, api_name="explain", preprocess=False, concurrency_id="classify", time_limit=120,
    )
    many_button.click(
        classify_many, [files, model, tuned, policy], [many_table, many_status, many_csv], api_name="classify_many",
        concurrency_id="classify_many", concurrency_limit=1, time_limit=1200,
    )
    depths_button.click(
        classify_all_depths, [image, policy], [depths_table, depths_line], api_name="classify_all_depths", preprocess=False,
        concurrency_id="classify_all_depths", concurrency_limit=1, time_limit=600,
    )
    return model
