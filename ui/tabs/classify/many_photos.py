"""Classify's "Many photos at once": photos and .zip files of photos, in batches through the fast path, into a table and a CSV."""

from __future__ import annotations

import time
from typing import Any, Optional, Sequence

import gradio as gr
import pandas as pd

import resnet
from resnet.batching import default_batch_size
from resnet.files import atomic_write
from train.data import DataError
from train.finetune import MAX_IMAGES
from train.zips import read_zip_samples
from ui.i18n import error_text, text
from ui.models import ModelPolicy, resolve
from ui.session import gpu, session_dir
from ui.tables import Styler, in_percent

__all__ = ["MANY_COLUMNS", "MANY_WIDTHS", "classify_many"]

MANY_COLUMNS = ("classify.column.file", "classify.column.top1", "classify.column.probability", "classify.column.top5", "classify.column.error")
# Share of the width per column, so that the error stays in view at 1280 px (long cells wrap instead).
MANY_WIDTHS = ["18%", "16%", "10%", "32%", "24%"]


def _photos(files: Optional[Sequence[str]], request: Optional[gr.Request]) -> tuple[list[Any], list[str]]:
    """The uploaded photos, with the photos inside any .zip read in memory; and what the zips skipped, worded."""
    if not files:
        raise gr.Error(text(request, "classify.many.none"), print_exception=False)
    photos: list[Any] = []
    skipped: list[str] = []
    for path in files:
        if str(path).lower().endswith(".zip"):
            try:  # the fine-tune tab's zip reader: sizes, ratios, paths checked; nothing written to disk
                samples, notes = read_zip_samples(path, max_images=MAX_IMAGES, class_folders=False)
            except DataError as e:
                raise gr.Error(error_text(request, e), print_exception=False) from e
            photos += [photo for folder in samples.values() for photo in folder]
            skipped += [text(request, f"zip.{n.code}", name=n.name) for n in notes]
        else:
            photos.append(path)
        if len(photos) > MAX_IMAGES:
            raise gr.Error(text(request, "classify.many.too_many", limit=MAX_IMAGES), print_exception=False)
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
) -> tuple[Styler, str, str]:
    """Many photos in batches through the fast path, each photo's error in its row.

    Args:
        files: photos, and .zip files of photos (read in memory by ``train.zips.read_zip_samples``); at most ``train.finetune.MAX_IMAGES``.
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
    columns = [text(request, key) for key in MANY_COLUMNS]
    table = pd.DataFrame(rows, columns=columns)
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
    return in_percent(table, columns[2], decimals=1), status, str(csv)  # the probability as the top 5 says it
