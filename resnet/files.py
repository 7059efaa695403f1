"""Files written so that an interrupted write never leaves a half-written one behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

__all__ = ["atomic_write"]


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
