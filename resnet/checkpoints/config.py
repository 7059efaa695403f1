"""What a checkpoint says about itself: architecture, labels, preprocessing; and the error its loading raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from resnet.transforms import Preprocessing

__all__ = ["CheckpointError", "FORMAT", "ModelConfig", "imagenet_labels"]

FORMAT = "resnet-studio"
FORMAT_VERSION = 1



class CheckpointError(RuntimeError):
    """A checkpoint could not be found, fetched or loaded; the message says why and what to do.

    The message is for the person running the code: it may name folders on this machine. An app
    that serves strangers shows its own words for ``reason`` instead.

    Attributes:
        reason: one of ``REASONS``: ``"not_found"`` (no such repo, revision, folder or file),
            ``"gated"``, ``"unreachable"`` (the Hub could not be reached and the files are not cached),
            ``"timeout"`` (the Hub accepted the connection but did not answer in time, and the files
            are not cached), ``"not_cached"`` (offline, and the files are not cached), ``"unsupported"`` (not a
            ResNet this library builds), ``"damaged"`` (unreadable or mismatched files).
    """

    REASONS = ("not_found", "gated", "unreachable", "timeout", "not_cached", "unsupported", "damaged")

    def __init__(self, message: str, *, reason: str = "unsupported") -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown reason {reason!r}; one of {', '.join(self.REASONS)}")
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ModelConfig:
    """What a checkpoint says about itself.

    Attributes:
        arch: one of ``resnet.ARCHS``.
        labels: class names in output order.
        preprocessing: how inputs must be prepared.
        source: the repo id or folder it came from.
        revision: the commit it was loaded at (Hub sources only).
        layout: ``"timm"``, ``"transformers"`` or ``"resnet-studio"``.
        training: how it was trained, when this project trained it.
    """

    arch: str
    labels: tuple[str, ...]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    source: str = ""
    revision: Optional[str] = None
    layout: str = FORMAT
    training: Optional[dict[str, Any]] = None

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def to_json_dict(self) -> dict[str, Any]:
        """The project's ``config.json`` content."""
        data: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "arch": self.arch,
            "num_classes": self.num_classes,
            "labels": list(self.labels),
            **self.preprocessing.to_dict(),
        }
        if self.training:
            data["training"] = self.training
        return data


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in torchvision's order (from its weight metadata)."""
    text = (Path(__file__).with_name("imagenet_classes.txt")).read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)
