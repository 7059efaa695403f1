"""The Classify tab: a photo through a listed checkpoint or this session's fine-tuned model; top-5, timing, Grad-CAM."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import gradio as gr
from PIL import Image

import resnet
from resnet.transforms import ImageError

from .i18n import error_text, static, text
from .models import ModelPolicy, resolve
from .session import gpu, upload_path

__all__ = ["classify", "explain", "tab"]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@gpu
def classify(
    image: Any, model_name: str, tuned: dict[str, resnet.Classifier], policy: ModelPolicy, request: gr.Request = None
) -> tuple[dict[str, float], str]:
    """Top-5 classes of a photo, and how long the prediction took."""
    path = upload_path(image, request)
    classifier = resolve(model_name, tuned, policy, request)
    start = time.perf_counter()
    try:
        top = classifier.predict(path)  # the top 5, or every class of a smaller model
    except ImageError as e:
        raise gr.Error(text(request, "classify.bad_file", reason=error_text(request, e))) from e
    ms = 1000 * (time.perf_counter() - start)
    return dict(top), text(request, "classify.timing", model=model_name, ms=f"{ms:.0f}", device=classifier.device.type)


@gpu
def explain(image: Any, model_name: str, tuned: dict[str, resnet.Classifier], policy: ModelPolicy, request: gr.Request = None) -> Image.Image:
    """Grad-CAM overlay for the top class."""
    path = upload_path(image, request)
    classifier = resolve(model_name, tuned, policy, request)
    try:
        return classifier.explain(path).overlay
    except ImageError as e:
        raise gr.Error(text(request, "classify.bad_file", reason=error_text(request, e))) from e


def tab(checkpoints: Sequence[str], default_model: str, tuned: gr.State, policy: gr.State, *, concurrency: int) -> gr.Dropdown:
    """Declare the Classify tab and wire it; returns the model picker (fine-tuning adds to it)."""
    with gr.Tab(static("tab.classify")):
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
                top5 = gr.Label(num_top_classes=5, label=static("classify.top5"), elem_id="top5")
                timing = gr.Markdown(elem_id="timing")
                overlay = gr.Image(label=static("classify.overlay"), elem_id="gradcam", interactive=False)

    event = button.click(
        classify, [image, model, tuned, policy], [top5, timing], api_name="classify", preprocess=False,
        concurrency_id="classify", concurrency_limit=concurrency, time_limit=120,
    )
    event.success(explain, [image, model, tuned, policy], overlay, api_name="explain", preprocess=False, concurrency_id="classify", time_limit=120)
    return model
