"""What a user gives a fine-tune: the sample set, webcam snapshots, the class slots and a .zip of class folders."""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr
from PIL import Image

from resnet.assets import TEXTURES
from train.data import random_patches
from train.finetune import MAX_IMAGES
from train.zips import read_zip_samples
from ui.i18n import text
from ui.session import session_dir

__all__ = ["CLASS_SLOTS", "add_snapshot", "collect_samples", "sample_set"]

CLASS_SLOTS = 4


def sample_set(request: gr.Request) -> list[Any]:
    """Three texture classes, 16 patches of 224 px (the crop a pretrained model sees) each, cut from the photos in examples/textures."""
    folder = session_dir(request) / "sample-set"
    values: list[Any] = []
    for index, path in enumerate(sorted(TEXTURES.glob("*.png"))):
        photo = Image.open(path).convert("RGB")
        (folder / path.stem).mkdir(parents=True, exist_ok=True)
        files = []
        for n, patch in enumerate(random_patches(photo, 224, 16, seed=index)):
            files.append(str(folder / path.stem / f"{path.stem}-{n:02d}.png"))
            patch.save(files[-1])
        values += [path.stem, files]
    while len(values) < 2 * CLASS_SLOTS:
        values += ["", None]
    return values


def add_snapshot(snapshot: Optional[str], files: Optional[list]) -> list:
    """Append a webcam snapshot to a class's images."""
    files = list(files or [])
    if snapshot:
        files.append(snapshot)
    return files


def collect_samples(zip_file: Any, slots: tuple, request: Optional[gr.Request]) -> tuple[dict[str, list], list]:
    """``{class: [image paths]}`` from the slots' (name, files) pairs and the zip; and what the zip skipped.

    Raises:
        gr.Error: a slot has images but no name.
        train.data.DataError: the zip cannot be read (``read_zip_samples``).
    """
    samples: dict[str, list] = {}
    notes: list = []
    for name, files in zip(slots[0::2], slots[1::2]):
        name = (name or "").strip()
        if not files and not name:
            continue
        if not name:
            raise gr.Error(text(request, "finetune.unnamed"), print_exception=False)
        samples.setdefault(name, []).extend(files or [])  # gr.File gives paths in gradio's upload folder
    if zip_file is not None:
        from_zip, notes = read_zip_samples(zip_file, max_images=MAX_IMAGES)
        for name, images in from_zip.items():
            samples.setdefault(name, []).extend(images)
    return samples, notes
