"""Files: written so that an interrupted write never leaves a half-written one behind, and named in messages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

__all__ = ["atomic_write", "image_name"]


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Write through ``write(tmp)``, fsync, then rename over ``path``; on failure ``path`` is untouched."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def image_name(image: Any, position: int = 0, *, unnamed: str = "image {number}", use_filename: bool = False, folders: bool = False) -> str:
    """What to call an image in a message: a path's base name, else its file object's ``name``, else ``unnamed``.

    Args:
        image: a path, or an object that may carry a ``name`` (an upload, a named ``BytesIO``), e.g. a PIL image.
        position: its place among the images given (0-based); ``unnamed`` may show it as ``{number}`` (from 1).
        unnamed: the name of an image without one; ``{number}``: ``position + 1``, ``{kind}``: its type's name.
        use_filename: a PIL image's ``filename`` (``Image.open``) names it too, where it has no ``name``.
        folders: keep the folders in a file object's ``name`` (a path's are always dropped).
    """
    if isinstance(image, (str, os.PathLike)):
        return os.path.basename(os.fspath(image))
    name = getattr(image, "name", None) or (getattr(image, "filename", None) if use_filename else None)  # uploads, BytesIO
    if isinstance(name, str) and name:
        return name if folders else os.path.basename(name)
    return unnamed.format(number=position + 1, kind=type(image).__name__)
