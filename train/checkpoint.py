"""A training run's files and its resumable state: one complete checkpoint folder per epoch, and the metrics.

Layout of ``out_dir``:
    config.json, model.safetensors, README.md   the best model so far; ``Classifier.from_pretrained(out_dir)``
    checkpoints/epoch-0003/                       a complete checkpoint per epoch (the last two are kept):
        config.json, model.safetensors, state.pt  state.pt: ``RunState``, the optimizer, the scaler, the TrainConfig
    metrics.csv, log.json                         one row / record per epoch

An epoch's checkpoint is written to a temporary folder, flushed to disk, then
renamed into place, so a crash at any moment leaves only complete checkpoints.
Resume rebuilds the run from the latest one: weights, optimiser and scaler state,
steps taken, history and best epoch. Nothing random is saved: each epoch's data
order and augmentation are drawn afresh from ``(seed, epoch)``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import torch
from torch import nn

from resnet.checkpoints.config import ModelConfig
from resnet.checkpoints.saving import save_checkpoint
from resnet.files import atomic_write

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["KEEP", "RunState", "latest_checkpoint", "resume", "save", "save_epoch", "load_epoch", "write_metrics"]

KEEP = 2  # epoch folders kept: if the newest is damaged after it was written, the one before still resumes


def latest_checkpoint(out_dir: str | os.PathLike) -> Optional[Path]:
    """The newest complete ``checkpoints/epoch-NNNN`` folder in ``out_dir``, or None."""
    folder = Path(out_dir) / "checkpoints"
    if not folder.is_dir():
        return None
    complete = sorted(p for p in folder.glob("epoch-*") if p.is_dir() and (p / "state.pt").is_file())
    return complete[-1] if complete else None


@dataclass
class RunState:
    """How far a run has got: what ``state.pt`` holds besides the optimiser and scaler."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: Optional[int] = None
    best_score: Optional[float] = None  # the held-out top-1, or minus the training loss when nothing is held out

    def add_epoch(self, record: dict[str, Any]) -> bool:
        """Record a completed epoch (``record["epoch"]`` is 1-based); True when it is the best so far."""
        self.history.append(record)
        self.epoch = record["epoch"]
        score = record.get("val_top1", -record["train_loss"])
        improved = self.best_score is None or score > self.best_score
        if improved:
            self.best_epoch, self.best_score = self.epoch, score
        return improved


def resume(out_dir: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> Optional[RunState]:
    """Load the latest complete checkpoint in ``out_dir`` into ``model``, ``optimizer`` and ``scaler``.

    Returns:
        The run's state at that checkpoint, or None when ``out_dir`` has no complete checkpoint.
    """
    checkpoint = latest_checkpoint(out_dir)
    if checkpoint is None:
        return None
    state = load_epoch(checkpoint, model)
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    # Older checkpoints also hold the global RNG state ("rng"): ignored, nothing draws from it any more.
    return RunState(state["epoch"], state["step"], state["history"], state["best"]["epoch"], state["best"]["score"])


def save(
    out_dir: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    *,
    model_config: ModelConfig,
    config: TrainConfig,
    run: RunState,
    improved: bool,
) -> None:
    """After an epoch: its checkpoint, the best model at the top of ``out_dir`` when ``improved``, and the metrics.

    Args:
        out_dir: the run's output folder.
        model: the unwrapped network.
        optimizer, scaler: their state goes into ``state.pt``.
        model_config: arch, labels and preprocessing; the epoch's settings and numbers are added to its ``training``.
        config: the run's settings.
        run: the run's state, the finished epoch's record last in its history.
        improved: whether that epoch is the best so far.
    """
    out_dir = Path(out_dir)
    training = {**asdict(config), "epochs_done": run.epoch, "best_epoch": run.best_epoch, **_round(run.history[-1])}
    epoch_config = replace(model_config, training={**(model_config.training or {}), **training})
    if improved:
        save_checkpoint(model, epoch_config, out_dir)
    state = {
        "epoch": run.epoch,
        "step": run.step,
        "history": run.history,
        "best": {"epoch": run.best_epoch, "score": run.best_score},
        "train_config": asdict(config),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
    }
    save_epoch(out_dir, run.epoch, model, epoch_config, state)
    write_metrics(out_dir, run.history)


def _round(record: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in record.items()}


def save_epoch(out_dir: Path, epoch: int, model: nn.Module, model_config: ModelConfig, state: dict[str, Any]) -> Path:
    """Write ``checkpoints/epoch-NNNN`` (the model, its config and ``state``) atomically; keep the last ``KEEP``.

    Args:
        out_dir: the run's output folder.
        epoch: epochs completed (1-based), which names the folder.
        model: the unwrapped network.
        model_config: saved as the folder's ``config.json``.
        state: saved as ``state.pt``; tensors, numbers, strings and containers of them only
            (it is read back with ``weights_only=True``).

    Returns:
        The checkpoint folder.
    """
    folder = out_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".tmp-*"):  # left by a run killed mid-save
        shutil.rmtree(stale)
    tmp = folder / f".tmp-epoch-{epoch:04d}-{os.getpid()}"
    save_checkpoint(model, model_config, tmp)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(tmp / "state.pt", lambda path: Path(path).write_bytes(buffer.getvalue()))
    final = folder / f"epoch-{epoch:04d}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(folder)
    for old in sorted(p for p in folder.glob("epoch-*") if p.is_dir())[:-KEEP]:
        shutil.rmtree(old)
    return final


def load_epoch(checkpoint: Path, model: nn.Module) -> dict[str, Any]:
    """Load ``checkpoint``'s weights into ``model`` (strictly) and return its ``state.pt``."""
    from safetensors.torch import load_file

    model.load_state_dict(load_file(checkpoint / "model.safetensors"), strict=True)
    return torch.load(checkpoint / "state.pt", map_location="cpu", weights_only=True)


def write_metrics(out_dir: Path, history: list[dict[str, Any]]) -> None:
    """``metrics.csv`` and ``log.json``: one row / record per epoch in ``history``."""
    columns = list(dict.fromkeys(k for record in history for k in record))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    atomic_write(out_dir / "metrics.csv", lambda path: Path(path).write_text(text.getvalue(), encoding="utf-8"))
    log = json.dumps(history, indent=1) + "\n"
    atomic_write(out_dir / "log.json", lambda path: Path(path).write_text(log, encoding="utf-8"))


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows has no directory handles to flush)."""
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
