"""The model card (``README.md``) of a saved checkpoint, in one place: the card itself and its ONNX and int8 sections.

``resnet.checkpoints.saving.save_checkpoint`` writes ``model_card`` (with ``onnx_section`` when ``model.onnx`` is saved
beside it); whoever adds a checked ``model-int8.onnx`` appends ``int8_section`` with the measured figures.
The card follows huggingface_hub's conventions: YAML metadata for the Hub, then what the model is and how to
use it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .config import ModelConfig
from .onnx import INPUT_NAME, ONNX_SNIPPET, OUTPUT_NAME

if TYPE_CHECKING:  # only a type here; resnet.checkpoints.int8 needs ONNX Runtime, which a card without int8 never loads
    from .int8 import Int8Report

__all__ = ["LIBRARY_NAME", "int8_section", "model_card", "onnx_section"]

LIBRARY_NAME = "resnet-studio"


def model_card(config: ModelConfig, *, onnx: bool = False) -> str:
    """A model card: metadata for the Hub, then what the model is and how to load it.

    ``onnx``: also how to run the ``model.onnx`` and ``preprocessing.json`` next to it (``onnx_section``).
    """
    from huggingface_hub import ModelCardData

    training = config.training or {}
    base = training.get("base")
    data = ModelCardData(
        library_name=LIBRARY_NAME,
        pipeline_tag="image-classification",
        tags=["image-classification", "resnet", LIBRARY_NAME],
        base_model=base if base and "/" in str(base) and not os.path.isdir(str(base)) else None,
    )
    labels = ", ".join(config.labels[:20]) + (" ..." if len(config.labels) > 20 else "")
    trained = "\n".join(f"- {k}: {v}" for k, v in sorted(training.items())) or "- not recorded"
    p = config.preprocessing
    return f"""---
{data.to_yaml()}
---

# {config.arch} ({config.num_classes} classes)

A {config.arch} image classifier saved by ResNet Studio.

Labels: {labels}

## Training

{trained}

## Preprocessing

Resize the shorter side to {p.resize_size} px ({p.interpolation}), centre-crop {p.crop_size} px,
normalise with mean {list(p.mean)} and std {list(p.std)}.

## Use

```python
import resnet

classifier = resnet.Classifier.from_pretrained("<this repo id or folder>")
print(classifier.predict("photo.jpg", top_k=3))
```
""" + (onnx_section(config) if onnx else "")


def onnx_section(config: ModelConfig) -> str:
    """A model card section on running the model with ONNX Runtime (``resnet.checkpoints.onnx.export_onnx``'s files)."""
    p = config.preprocessing
    return f"""
## ONNX

`model.onnx` and `preprocessing.json` sit next to this card in a ResNet Studio download; elsewhere,
`classifier.export_onnx("onnx/")` writes them. The graph takes `{INPUT_NAME}`, float32 of shape (batch, 3, {p.crop_size}, {p.crop_size}), normalised as above,
and returns `{OUTPUT_NAME}` (batch, {config.num_classes}). This reproduces `classifier.predict`'s top-5 with
onnxruntime, Pillow and numpy only (large JPEGs aside: the app decodes those at a reduced scale first):

```python
{ONNX_SNIPPET}
print(top5("photo.jpg"))  # or top5("photo.jpg", "path/to/the/folder")
```
"""


def int8_section(report: "Int8Report") -> str:
    """A model card section on ``model-int8.onnx`` (``resnet.checkpoints.int8.quantize_int8``): the measured agreement and latency, or why it was left out."""
    from .int8 import INT8_FILE, int8_flags  # loaded already: the report came from there

    if report.path is None:
        return f"\n## int8\n\n`{INT8_FILE}` is not included. {report.why_left_out()}\n"
    flags = ", ".join(name for name, present in int8_flags().items() if present) or "flags not known"
    ms = [f"{t:.1f} ms" if t else "not measured" for t in (report.fp32_ms, report.int8_ms)]
    return f"""
## int8

`{INT8_FILE}` is this model quantized by ONNX Runtime (static, QDQ, int8 weights per channel, uint8 activations
calibrated ({report.method}) on {report.calibration} of the training images; the first convolution, the global pool and the classifier stay fp32).
It takes and returns the same tensors as `model.onnx`: use the snippet above with its file name.

| | `model.onnx` (fp32) | `{INT8_FILE}` |
|---|---|---|
| one image (batch 1), median, on the CPU that made it ({flags}) | {ms[0]} | {ms[1]} |
| same top-1 as `model.onnx` on the {report.held_out} held-out images | (the reference) | {report.agreement:.1%} |
"""
