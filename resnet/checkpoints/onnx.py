"""ONNX export that predicts what the app predicts: ``model.onnx`` + ``preprocessing.json``.

The exported graph is the fp32 eval-mode network (``Classifier.model``, not the fast path),
at a fixed opset, with a dynamic batch axis: input ``pixel_values`` (batch, 3, crop, crop),
float32, already normalised; output ``logits`` (batch, classes). ``preprocessing.json`` holds
the numbers of ``resnet.transforms.eval_transform`` and the labels, and ``ONNX_SNIPPET``
repeats that transform with Pillow and numpy alone, so the app's top-5 can be had with
onnxruntime and nothing from this project.

torch 2.14's default exporter goes through ``torch.export`` and needs the ``onnxscript``
package; the TorchScript exporter (``dynamo=False``) needs nothing beyond torch, and a
ResNet has no control flow for it to miss.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet.files import atomic_write

from .config import ModelConfig

__all__ = ["INPUT_NAME", "ONNX_SNIPPET", "OPSETS", "OUTPUT_NAME", "export_onnx", "preprocessing_json"]

INPUT_NAME = "pixel_values"
OUTPUT_NAME = "logits"
OPSETS = range(7, 21)  # what torch 2.14's TorchScript exporter writes
MODEL_FILE = "model.onnx"
PREPROCESSING_FILE = "preprocessing.json"

# Reproduces Classifier.predict's default top-5 from the two exported files. Kept to Pillow,
# numpy and onnxruntime; the resize and crop rounding are eval_transform's (torchvision's rules).
ONNX_SNIPPET = '''\
import json, numpy as np, onnxruntime as ort
from PIL import Image, ImageOps

def top5(path, folder="."):
    cfg = json.load(open(f"{folder}/preprocessing.json"))
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    r, c, (w, h) = cfg["resize_size"], cfg["crop_size"], image.size
    size = (r, int(r * h / w)) if w <= h else (int(r * w / h), r)
    image = image.resize(size, Image.Resampling[cfg["interpolation"].upper()]) if size != image.size else image
    left, top = round((image.width - c) / 2), round((image.height - c) / 2)
    x = np.asarray(image.crop((left, top, left + c, top + c)), np.float32) / 255
    x = (x - np.float32(cfg["mean"])) / np.float32(cfg["std"])
    session = ort.InferenceSession(f"{folder}/model.onnx", providers=["CPUExecutionProvider"])
    logits = session.run(None, {"pixel_values": x.transpose(2, 0, 1)[None]})[0][0]
    p = np.exp(logits - logits.max()); p /= p.sum()
    return [(cfg["labels"][i], float(p[i])) for i in np.argsort(-p)[:5]]
'''


def preprocessing_json(config: ModelConfig) -> dict[str, Any]:
    """What ``preprocessing.json`` holds: the eval transform's numbers, the tensor names and the labels."""
    return {
        **config.preprocessing.to_dict(),
        "steps": [
            "decode, apply the EXIF orientation, convert to RGB",
            "resize the shorter side to resize_size with Pillow's resample named by interpolation "
            "(longer side: int(resize_size * long / short))",
            "centre-crop crop_size x crop_size (offsets rounded half to even)",
            "divide by 255, subtract mean, divide by std (per RGB channel)",
            "channels first, add a batch axis: float32 (batch, 3, crop_size, crop_size)",
        ],
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "labels": list(config.labels),
    }


def export_onnx(model: nn.Module, config: ModelConfig, folder_or_path: str | os.PathLike, *, opset: int = 17) -> Path:
    """Write ``model.onnx`` and ``preprocessing.json`` for ``model`` (``Classifier.export_onnx`` passes its own).

    Args:
        model: the network to export (e.g. ``Classifier.model``); it is left as it was (a copy is exported,
            on the CPU, in fp32, in eval mode).
        config: its labels and preprocessing (``Classifier.config``), for ``preprocessing.json`` and the input size.
        folder_or_path: a folder (created if needed), or a path ending in ``.onnx``; ``preprocessing.json``
            goes next to the model.
        opset: the ONNX opset, one of ``OPSETS``.

    Returns:
        The path of the ONNX file.

    Raises:
        ValueError: ``opset`` outside ``OPSETS``.
    """
    if opset not in OPSETS:
        raise ValueError(f"opset must be between {OPSETS.start} and {OPSETS.stop - 1}, got {opset!r}")
    target = Path(folder_or_path)
    path = target if target.suffix.lower() == ".onnx" else target / MODEL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).cpu().float().eval().to(memory_format=torch.contiguous_format)
    crop = config.preprocessing.crop_size
    example = torch.zeros(2, 3, crop, crop)  # a batch of two, so no size-1 batch axis can be traced as a constant

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            # All expected here: the legacy exporter is chosen on purpose (see the module docstring), it warns twice
            # that it is legacy, and the input checks it traces as constants test the channels and spatial size, which are fixed.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
            torch.onnx.export(
                model, (example,), str(tmp), dynamo=False, opset_version=opset, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, do_constant_folding=True,
            )

    atomic_write(path, write)
    text = json.dumps(preprocessing_json(config), indent=2) + "\n"
    atomic_write(path.with_name(PREPROCESSING_FILE), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path
