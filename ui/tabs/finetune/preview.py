"""Live preview after a fine-tune: webcam frames, or a photo, through the session's newest fine-tuned model."""

from __future__ import annotations

from typing import Any, Optional

import base64
import binascii

import gradio as gr

import resnet
from resnet.transforms import MAX_IMAGE_BYTES, ImageError
from ui.i18n import error_text, text
from ui.models import tuned_label
from ui.session import upload_path

__all__ = ["STREAM_EVERY_S", "preview"]

# A frame every quarter second. The stream event keeps only the newest frame while one is being
# classified (trigger_mode="always_last"), so frames never queue behind each other.
STREAM_EVERY_S = 0.25


def _frame(frame: Any, request: Optional[gr.Request]) -> Any:
    """What ``resnet.transforms.load_image`` reads: a webcam stream sends each frame inline, as a ``data:`` URL; an upload is a file."""
    source = upload_path(frame, request)
    if not (isinstance(source, str) and source.startswith("data:image/")):
        return source
    encoded = source.partition(",")[2]
    if len(encoded) > MAX_IMAGE_BYTES * 4 // 3 + 4:  # too large before decoding it
        raise ImageError("the frame is over the size limit", code="too_large", name="frame", limit_mb=MAX_IMAGE_BYTES // 2**20)
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as e:
        raise ImageError("the frame is not valid base64", code="corrupt") from e


def preview(frame: Any, tuned: dict[str, resnet.Classifier], request: gr.Request = None) -> tuple[Any, str]:
    """The top classes of the session's newest fine-tuned model for one webcam frame or photo.

    Args:
        frame: the frame or photo (gradio's file data, decoded here under ``resnet.transforms.load_image``'s limits); None: nothing yet.
        tuned: this session's fine-tuned classifiers; the newest one answers.

    Returns:
        ``({label: probability} for up to five classes, a line naming the model)``.
    """
    if frame is None:
        return gr.skip()  # one skip leaves every output as it is
    if not tuned:  # said in the line, not raised: a stream would raise it at every frame
        return {}, text(request, "preview.no_model")
    name, classifier = list(tuned.items())[-1]
    try:
        top = classifier.predict(_frame(frame, request))
    except ImageError as e:
        return {}, text(request, "classify.bad_file", reason=error_text(request, e))
    return dict(top), text(request, "preview.model", name=tuned_label(name, request))
