"""The example photos the project ships, found the same way in a checkout and in an installed copy.

``examples/`` (real photos with their licences, and ``textures/``) is a data folder at the top of the
repository, beside ``resnet/``, ``train/`` and ``ui/``; ``pip install`` puts it beside them in the same
folder (pyproject's package data). So "the ``examples`` folder next to this package" is one rule that holds
in both places. It is not looked up by import name (``importlib.resources.files("examples")``): that search
walks ``sys.path``, whose first entry under ``python -m`` is the working folder, so a user's own
``examples/`` there would be merged into the shipped one or hide it.

This module sits in ``resnet`` because the lab (``train``) and the page (``ui``) both read these photos and
both import ``resnet``, while ``resnet`` and ``train`` never import ``ui``. Files that one package alone reads
stay inside that package, read relative to it: ``resnet/checkpoints/imagenet_classes.txt``, ``train/lab/digits.npz``,
``ui/tabs/lesson/lesson_lab_run.json``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXAMPLES", "TEXTURES", "example_photos"]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TEXTURES = EXAMPLES / "textures"  # three texture photos: the fine-tune tab's sample set
PHOTO_SUFFIXES = (".png", ".jpg")


def example_photos() -> list[Path]:
    """The example photos (the textures aside), sorted by name.

    Returns:
        Paths of the ``.png`` and ``.jpg`` files directly in ``examples/``.
    """
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
