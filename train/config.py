"""What a training run is asked to do (``TrainConfig``), what it returns (``FitResult``), and its learning-rate schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

__all__ = ["FitResult", "TrainConfig", "lr_at"]


def option(default: Any, help: str) -> Any:
    """A field of a settings dataclass (``TrainConfig``, ``train.gpu.PipelineConfig``): its default, and the help its ``python -m train`` flag shows."""
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Optimisation settings; every field is a ``python -m train`` flag, its help in the field's metadata."""

    epochs: int = option(10, "number of epochs")
    batch_size: int = option(64, "images per optimiser step, per process")
    lr: float = option(0.1, "peak learning rate")  # SGD at batch 256 (Goyal et al.); scale it with the batch size
    optimizer: str = option("sgd", "sgd (Nesterov momentum), adamw, or adam (L2 weight decay, as torch.optim.Adam)")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(1e-4, "weight decay")
    schedule: str = option("cosine", "cosine (after warm-up) or constant")
    warmup_epochs: float = option(1.0, "linear warm-up length, in epochs (fractions allowed)")
    min_lr: float = option(0.0, "learning rate at the end of the cosine schedule")
    label_smoothing: float = option(0.1, "label smoothing of the cross-entropy loss")
    amp: str = option("auto", "mixed precision: auto (bf16 autocast on CUDA and on CPUs with AMX/AVX512-BF16, fp32 elsewhere), bf16, fp16 (CUDA), off (fp32 everywhere, for comparison)")
    channels_last: bool = option(True, "use the channels-last memory format (faster convolutions on CPU and CUDA)")
    grad_clip: Optional[float] = option(None, "clip the global gradient norm to this value")
    early_stopping: Optional[int] = option(None, "stop after this many epochs without a better held-out top-1")
    seed: int = option(0, "random seed (data order, augmentation, split)")
    workers: int = option(0, "DataLoader worker processes (-1: one per CPU, less one)")

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"epochs, batch_size and lr must be positive, got {self.epochs}, {self.batch_size}, {self.lr}")
        if self.optimizer not in ("sgd", "adamw", "adam"):
            raise ValueError(f"optimizer must be 'sgd', 'adamw' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise ValueError(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {self.amp!r}")
        if self.workers < -1:
            raise ValueError(f"workers must be -1 (one per CPU) or at least 0, got {self.workers}")


@dataclass
class FitResult:
    """What ``fit`` returns.

    Attributes:
        history: one record per completed epoch.
        best_epoch: the epoch with the best held-out top-1 (or training loss, with nothing held out).
        best_top1: its held-out top-1; None without held-out data.
        stopped_early: an ``on_epoch`` callback or early stopping ended the run before ``config.epochs``.
        confusion: the last completed epoch's held-out confusion (rows: true class, columns: predicted).
        stopped: ``should_stop`` ended the run in the middle of an epoch.
        stopped_epoch: the epoch (1-based) it ended in; that epoch is not in ``history``, nor saved.
    """

    history: list[dict[str, Any]]
    best_epoch: Optional[int]
    best_top1: Optional[float]
    stopped_early: bool
    confusion: Optional[torch.Tensor] = None
    stopped: bool = False
    stopped_epoch: Optional[int] = None


def lr_at(step: int, total_steps: int, base_lr: float, warmup_steps: int, min_lr: float = 0.0, schedule: str = "cosine") -> float:
    """Learning rate at optimiser step ``step`` (0-based): linear warm-up, then cosine or constant."""
    # 1) linear warm-up from base_lr / warmup_steps to base_lr
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    # 2) constant schedule: stay at base_lr
    if schedule == "constant":
        return base_lr
    # 3) cosine decay from base_lr to min_lr over the remaining steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
