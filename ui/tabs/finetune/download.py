"""The fine-tuned model's download: checkpoint, ``model.onnx`` + ``preprocessing.json``, ``model-int8.onnx`` when
it predicts what the fp32 model predicts, and a model card with the measured figures. The button and the status
say what the zip really holds."""

from __future__ import annotations

import hashlib
import itertools
import logging
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import gradio as gr
import numpy as np
from PIL import Image

import train
from resnet.checkpoints.card import int8_section
from resnet.transforms import load_image
from ui.i18n import text

__all__ = ["package_model"]

log = logging.getLogger(__name__)

# What the status adds for each ``Int8Report.reason`` (None: the int8 model is in the zip).
_INT8_NOTES = {
    None: "finetune.int8_kept", "disagrees": "finetune.int8_disagrees", "no_held_out": "finetune.int8_no_held_out",
    "no_calibration": "finetune.int8_no_calibration",
}


def package_model(result: train.FinetuneResult, samples: Mapping[str, Sequence[Any]], folder: Path, request: Optional[gr.Request]) -> tuple[str, str, str]:
    """Save ``result``'s model in ``folder`` and zip it.

    Args:
        result: the fine-tune; its held-out images check the int8 model.
        samples: ``{class: [images]}`` as given to ``train.finetune``; those not held out calibrate the int8 model.
        folder: where the files go (``<folder>.zip`` is the archive).
        request: the visitor's, for the language.

    Returns:
        The zip's path, a note for the status (what is missing and why, or the int8 figures), and the button's label.
    """
    try:
        result.classifier.save_pretrained(folder, onnx=True)
    except Exception as e:  # the exporter raises many types; the checkpoint must still reach the user
        log.warning("ONNX export of %s failed: %r", folder.name, e)
        shutil.rmtree(folder, ignore_errors=True)
        result.classifier.save_pretrained(folder)
        note = text(request, "finetune.onnx_failed", reason=type(e).__name__)
    else:
        note = _int8(result, samples, folder, request)
    names = sorted((p.name for p in folder.iterdir()), key=str.lower)
    files = text(request, "finetune.file.separator").join(text(request, "finetune.file.card") if n == "README.md" else n for n in names)
    return shutil.make_archive(str(folder), "zip", folder), note, text(request, "finetune.download_files", files=files)


def _int8(result: train.FinetuneResult, samples: Mapping[str, Sequence[Any]], folder: Path, request: Optional[gr.Request]) -> str:
    """Add ``model-int8.onnx`` when it agrees with fp32 on the held-out images; the card says the figures or why not."""
    classifier = result.classifier
    try:
        from resnet.checkpoints.int8 import MAX_CALIBRATION, quantize_int8  # ONNX Runtime loads when a download is made

        calibration = [classifier.preprocess(image).numpy() for image in itertools.islice(_training_images(samples, result.held_out), MAX_CALIBRATION)]
        report = quantize_int8(folder, calibration, [classifier.preprocess(image).numpy() for image, _ in result.held_out])
    except ImportError as e:  # an install without onnxruntime (it is in requirements.txt)
        log.warning("no int8 model for %s: %r", folder.name, e)
        return text(request, "finetune.int8_no_onnxruntime")
    except Exception as e:  # ONNX Runtime's quantizer raises many types; the fp32 files are already in place
        log.warning("int8 quantization of %s failed: %r", folder.name, e)
        return text(request, "finetune.int8_failed", reason=type(e).__name__)
    with open(folder / "README.md", "a", encoding="utf-8") as card:
        card.write(int8_section(report))
    figures = {
        "agreement": f"{report.agreement or 0:.1%}", "count": report.held_out, "needed": f"{report.threshold:.0%}",
        "fp32_ms": f"{report.fp32_ms or 0:.1f}", "int8_ms": f"{report.int8_ms or 0:.1f}",
    }
    return text(request, _INT8_NOTES[report.reason], **figures)


def _training_images(samples: Mapping[str, Sequence[Any]], held_out: Sequence[tuple[Image.Image, int]]) -> Iterator[Image.Image]:
    """The user's images that were not held out, decoded one at a time, taken evenly across the classes.

    ``train.finetune`` decodes with ``load_image`` too, so a held-out image decodes to the same pixels here.
    """
    held = {_digest(image) for image, _ in held_out}
    classes = [list(images) for images in samples.values()]
    for group in itertools.zip_longest(*classes):
        for source in group:
            if source is None:
                continue
            image = load_image(source)
            if _digest(image) not in held:
                yield image


def _digest(image: Image.Image) -> tuple[tuple[int, int], bytes]:
    return image.size, hashlib.blake2b(np.asarray(image).tobytes(), digest_size=16).digest()
