"""What a training run is asked to do (``TrainConfig``, ``FitOptions``, ``Checkpoints``), whom it tells (``Hooks``),
and what it returns (``FitResult``); ``FinetuneOptions`` for ``train.finetune``. The learning-rate schedule is ``train.schedule``'s."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch

from resnet.checkpoints.config import ModelConfig

from .device_augment import DeviceTransforms

__all__ = ["Checkpoints", "EpochCallback", "FinetuneOptions", "FitOptions", "FitResult", "Hooks", "TrainConfig"]

EpochCallback = Callable[[dict[str, Any]], Optional[bool]]


def option(default: Any, help: str) -> Any:
    """A field of a settings dataclass (``TrainConfig``, ``train.pipeline.PipelineConfig``): its default, and the help its ``python -m train`` flag shows."""
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
class FitOptions:
    """How ``fit`` runs beyond the optimisation settings: where, over which parameters, in how many processes.

    Attributes:
        device: where to train; None: where the model's parameters are.
        param_groups: optimiser groups; a group's ``lr_scale`` multiplies the scheduled LR.
            None: every parameter that requires grad, scale 1.
        transforms: for data sets of uint8 images: ``transforms.train`` augments each training batch
            on the device, drawing from a generator there seeded from ``(seed, epoch, rank)``;
            ``transforms.eval`` prepares held-out batches.
        compile: run the training steps through ``torch.compile(model)``; evaluation and
            checkpoints use the network itself.
        rank: this process's place in a distributed run.
        world_size: the number of processes in it.
    """

    device: Optional[torch.device] = None
    param_groups: Optional[Sequence[dict[str, Any]]] = None
    transforms: Optional[DeviceTransforms] = None
    compile: bool = False
    rank: int = 0
    world_size: int = 1


@dataclass
class Checkpoints:
    """Where ``fit`` writes a checkpoint per epoch and the metrics (rank 0; ``train.checkpoint`` has the layout).

    Attributes:
        out_dir: the run's folder.
        model_config: arch, labels and preprocessing saved with each checkpoint.
        resume: continue from the latest complete checkpoint in ``out_dir``, if there is one.
    """

    out_dir: str | os.PathLike
    model_config: ModelConfig
    resume: bool = False

    def __post_init__(self) -> None:
        if self.model_config is None:
            raise ValueError("model_config is needed to write checkpoints to out_dir")


@dataclass
class Hooks:
    """What ``fit`` tells its caller and asks it while it trains.

    Attributes:
        on_epoch: callables given each epoch's record (plain numbers); if one returns True,
            training stops after every callback has been called.
        should_stop: asked before every training step (rank 0's answer counts); True ends
            the run there, without evaluating or saving the unfinished epoch.
        progress: show a tqdm bar per epoch (rank 0).
    """

    on_epoch: Sequence[EpochCallback] = ()
    should_stop: Optional[Callable[[], bool]] = None
    progress: bool = False


@dataclass
class FinetuneOptions:
    """``train.finetune``'s finer settings; the defaults are the app's.

    Attributes:
        lr: None: the default for the start and strategy (``train.presets.finetune_defaults``).
        batch_size: images (or cached feature vectors) per step; None: 16 from scratch, else 32.
        held_out: share of each class kept for evaluation.
        seed: makes the split, the augmentation, the order and a random initialisation repeatable.
            They are drawn from generators of their own, so torch's global one is left alone
            and fine-tunes running at once in threads do not change one another's numbers.
        views: "head" only: augmented views per training image whose features are cached.
        cache_features: "head" only: False runs the frozen backbone every epoch instead
            (slower, same result; kept to measure the difference).
        rotate90: also turn training images by random quarter turns; only for classes that look
            the same whatever way up (textures, cells, aerial views).
        amp: precision of the forward passes, as ``TrainConfig.amp``: ``"auto"`` autocasts to bf16 where
            ``resnet.devices.fast_dtype`` says the hardware computes it fast (AMX or AVX512-BF16 CPUs, CUDA)
            and stays fp32 elsewhere; ``"off"`` keeps everything fp32 (to compare); ``"bf16"`` forces it.
            The weights stay fp32 whatever the choice.
    """

    lr: Optional[float] = None
    batch_size: Optional[int] = None
    held_out: float = 0.2
    seed: int = 0
    views: int = 4
    cache_features: bool = True
    rotate90: bool = False
    amp: str = "auto"

    def __post_init__(self) -> None:
        if self.views < 1:
            raise ValueError(f"views must be at least 1, got {self.views}")


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
