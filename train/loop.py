"""The training loop: ``fit`` and ``evaluate``, the LR schedule, checkpoints and resume.

One loop serves everything: the ``python -m train`` command (one process or
several under ``torchrun``), and the app's short fine-tunes (with other defaults).

Checkpoints (when ``out_dir`` is given):
    out_dir/config.json, model.safetensors, README.md   the best model so far; ``Classifier.from_pretrained(out_dir)``
    out_dir/checkpoints/epoch-0003/                       a complete checkpoint per epoch (the last two are kept):
        config.json, model.safetensors, state.pt          state.pt: optimizer, scaler, step, RNG, history
    out_dir/metrics.csv, out_dir/log.json                 one row / record per epoch

An epoch's checkpoint is written to a temporary folder, flushed to disk, then
renamed into place, so a crash at any moment leaves only complete checkpoints.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset

from resnet.devices import autocast_dtype
from resnet.hub import ModelConfig, atomic_write, save_checkpoint

from .data import make_loader

__all__ = ["TrainConfig", "FitResult", "fit", "evaluate", "lr_at", "set_trainable", "latest_checkpoint"]

EpochCallback = Callable[[dict[str, Any]], Optional[bool]]


@dataclass
class TrainConfig:
    """Optimisation settings; every field is a ``python -m train`` flag."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1  # SGD at batch 256 (Goyal et al.); scale it with the batch size
    optimizer: str = "sgd"  # "sgd" or "adamw"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # "cosine" or "constant"
    warmup_epochs: float = 1.0
    min_lr: float = 0.0
    label_smoothing: float = 0.1
    amp: str = "auto"  # "auto" (bf16 where fast), "bf16", "fp16" (CUDA), "off"
    channels_last: bool = True
    grad_clip: Optional[float] = None  # max global gradient norm
    early_stopping: Optional[int] = None  # stop after this many epochs without a better held-out top-1
    seed: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"epochs, batch_size and lr must be positive, got {self.epochs}, {self.batch_size}, {self.lr}")
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise ValueError(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {self.amp!r}")


@dataclass
class FitResult:
    """What ``fit`` returns: one record per epoch, the best held-out epoch, and the last epoch's held-out confusion."""

    history: list[dict[str, Any]]
    best_epoch: Optional[int]
    best_top1: Optional[float]
    stopped_early: bool
    confusion: Optional[torch.Tensor] = None  # rows: true class, columns: predicted; None without held-out data


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


def set_trainable(model: nn.Module, freeze: str) -> None:
    """Freeze part of a ResNet: ``"none"``, ``"stem"`` (conv1, bn1), ``"backbone"`` (all but ``fc``), ``"last-stage"`` (all but layer4 and fc)."""
    trainable_prefixes = {
        "none": ("",),
        "stem": ("layer", "fc"),
        "backbone": ("fc.",),
        "last-stage": ("layer4.", "fc."),
    }
    if freeze not in trainable_prefixes:
        raise ValueError(f"freeze must be one of {sorted(trainable_prefixes)}, got {freeze!r}")
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(trainable_prefixes[freeze]))


def _train_mode(model: nn.Module) -> None:
    """``model.train()``, but norms whose parameters are frozen keep their running statistics."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None and not m.weight.requires_grad:
            m.eval()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int,
    device: torch.device,
    num_classes: int,
    amp_dtype: Optional[torch.dtype] = None,
    channels_last: bool = False,
    workers: int = 0,
) -> dict[str, Any]:
    """Loss, top-1, top-5 and the confusion matrix (rows: true class, columns: predicted) on ``dataset``."""
    was_training = model.training
    model.eval()
    loss_sum, top1, top5, count = 0.0, 0, 0, 0
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    k = min(5, num_classes)
    try:
        for x, y in make_loader(dataset, batch_size, shuffle=False, workers=workers, device=device):
            x, y = _to_device(x, y, device, channels_last)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                logits = model(x)
            logits = logits.float()
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            topk = logits.topk(k, dim=1).indices
            top1 += (topk[:, 0] == y).sum().item()
            top5 += (topk == y[:, None]).any(dim=1).sum().item()
            count += len(y)
            confusion += torch.bincount(y.cpu() * num_classes + topk[:, 0].cpu(), minlength=num_classes**2).view(num_classes, num_classes)
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    return {"loss": loss_sum / count, "top1": top1 / count, "top5": top5 / count, "confusion": confusion}


def fit(
    model: nn.Module,
    train_set: Dataset,
    val_set: Optional[Dataset],
    config: TrainConfig,
    *,
    num_classes: int,
    device: Optional[torch.device] = None,
    param_groups: Optional[Sequence[dict[str, Any]]] = None,
    out_dir: Optional[str | os.PathLike] = None,
    model_config: Optional[ModelConfig] = None,
    resume: bool = False,
    on_epoch: Sequence[EpochCallback] = (),
    progress: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> FitResult:
    """Train ``model`` for ``config.epochs`` epochs, evaluating on ``val_set`` after each.

    Args:
        model: the network, possibly wrapped in ``DistributedDataParallel``.
        train_set, val_set: datasets of ``(tensor, class index)``; ``val_set`` may be None.
        config: optimisation settings.
        num_classes: size of the output layer.
        device: where to train; default: where the model's parameters are.
        param_groups: optimiser groups; a group's ``lr_scale`` multiplies the scheduled LR.
            Default: every parameter that requires grad, scale 1.
        out_dir: where checkpoints and metrics go (rank 0 writes); None writes nothing.
        model_config: arch, labels and preprocessing saved with each checkpoint (needed with ``out_dir``).
        resume: continue from the latest complete checkpoint in ``out_dir``, if there is one.
        on_epoch: callables given each epoch's record (plain numbers); one returning True stops training.
        progress: show a tqdm bar per epoch (rank 0).
        rank, world_size: this process's place in a distributed run.

    Returns:
        A ``FitResult``.
    """
    inner = getattr(model, "module", model)
    device = device or next(inner.parameters()).device
    if out_dir is not None and model_config is None:
        raise ValueError("model_config is needed to write checkpoints to out_dir")
    amp_dtype = _amp_dtype(config.amp, device)
    channels_last = config.channels_last and device.type != "mps"
    if channels_last and inner is model:
        # A DistributedDataParallel model must be converted before it is wrapped (python -m train does).
        inner.to(memory_format=torch.channels_last)

    groups = list(param_groups) if param_groups else [{"params": [p for p in inner.parameters() if p.requires_grad]}]
    for g in groups:
        g.setdefault("lr_scale", 1.0)
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True)
    else:
        optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    steps_per_epoch = max(1, math.ceil(len(train_set) / (config.batch_size * world_size)))
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = int(config.warmup_epochs * steps_per_epoch)
    history: list[dict[str, Any]] = []
    # "score" is the held-out top-1, or minus the training loss when nothing is held out.
    start_epoch, step, best = 0, 0, {"epoch": None, "score": None}

    if resume and out_dir is not None:
        checkpoint = latest_checkpoint(out_dir)
        if checkpoint is not None:
            state = _load_state(checkpoint, inner, optimizer, scaler)
            start_epoch, step, history, best = state["epoch"], state["step"], state["history"], state["best"]

    stopped_early = False
    confusion = None
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        # Order and augmentation depend on (seed, epoch, rank) alone, so a resumed run repeats them exactly.
        _seed_everything(config.seed * 1_000 + epoch, rank)
        loader = make_loader(train_set, config.batch_size, shuffle=True, seed=config.seed, epoch=epoch, workers=config.workers, device=device, rank=rank, world_size=world_size)
        _train_mode(inner)
        loss_sum, correct, seen = 0.0, 0, 0
        batches = loader
        if progress and rank == 0:
            from tqdm import tqdm

            batches = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, dynamic_ncols=True)
        for x, y in batches:
            lr = lr_at(step, total_steps, config.lr, warmup_steps, config.min_lr, config.schedule)
            for g in optimizer.param_groups:
                g["lr"] = lr * g["lr_scale"]
            x, y = _to_device(x, y, device, channels_last)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                logits = model(x)
                loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(inner.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            if batches is not loader:
                batches.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}")

        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / max(seen, 1),
            "train_top1": correct / max(seen, 1),
            "lr": optimizer.param_groups[0]["lr"],
        }
        if val_set is not None and len(val_set) > 0:
            metrics = evaluate(inner, val_set, batch_size=config.batch_size, device=device, num_classes=num_classes, amp_dtype=amp_dtype, channels_last=channels_last, workers=config.workers)
            record.update(val_loss=metrics["loss"], val_top1=metrics["top1"], val_top5=metrics["top5"])
            confusion = metrics["confusion"]
        record["seconds"] = time.perf_counter() - started
        history.append(record)

        score = record.get("val_top1", -record["train_loss"])
        improved = best["score"] is None or score > best["score"]
        if improved:
            best = {"epoch": epoch + 1, "score": score}
        stop = any(bool(callback(dict(record))) for callback in on_epoch)
        if config.early_stopping and epoch + 1 - best["epoch"] >= config.early_stopping:
            stop = True
        if world_size > 1:
            # Every rank must agree: rank 0 decides.
            flag = [stop]
            dist.broadcast_object_list(flag, src=0)
            stop = flag[0]

        if out_dir is not None and rank == 0:
            training = {**asdict(config), "epochs_done": epoch + 1, "best_epoch": best["epoch"], **_round(record)}
            epoch_config = replace(model_config, training={**(model_config.training or {}), **training})
            if improved:
                save_checkpoint(inner, epoch_config, out_dir)
            _save_epoch(Path(out_dir), inner, epoch_config, optimizer, scaler, epoch + 1, step, history, best, config)
            _write_metrics(Path(out_dir), history)
        if world_size > 1:
            dist.barrier()
        if stop:
            stopped_early = epoch + 1 < config.epochs
            break

    best_top1 = best["score"] if history and "val_top1" in history[-1] else None
    return FitResult(history, best["epoch"], best_top1, stopped_early, confusion)


def latest_checkpoint(out_dir: str | os.PathLike) -> Optional[Path]:
    """The newest complete ``checkpoints/epoch-NNNN`` folder in ``out_dir``, or None."""
    folder = Path(out_dir) / "checkpoints"
    if not folder.is_dir():
        return None
    complete = sorted(p for p in folder.glob("epoch-*") if p.is_dir() and (p / "state.pt").is_file())
    return complete[-1] if complete else None


def _amp_dtype(amp: str, device: torch.device) -> Optional[torch.dtype]:
    if amp == "off":
        return None
    if amp == "auto":
        return autocast_dtype(device)
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs a CUDA device; use 'bf16' or 'off'")
    return torch.bfloat16 if amp == "bf16" else torch.float16


def _to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    non_blocking = device.type == "cuda"
    x = x.to(device, non_blocking=non_blocking)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=non_blocking)


def _seed_everything(seed: int, rank: int) -> None:
    random.seed(seed + rank)
    torch.manual_seed(seed + rank)


def _round(record: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in record.items()}


def _save_epoch(out_dir: Path, model: nn.Module, model_config: ModelConfig, optimizer, scaler, epoch: int, step: int, history, best, config: TrainConfig) -> None:
    folder = out_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".tmp-*"):  # left by a run killed mid-save
        shutil.rmtree(stale, ignore_errors=True)
    tmp = folder / f".tmp-epoch-{epoch:04d}-{os.getpid()}"
    save_checkpoint(model, model_config, tmp)
    state = {
        "epoch": epoch,
        "step": step,
        "history": history,
        "best": best,
        "train_config": asdict(config),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(tmp / "state.pt", lambda path: Path(path).write_bytes(buffer.getvalue()))
    final = folder / f"epoch-{epoch:04d}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(folder)
    for old in sorted(p for p in folder.glob("epoch-*") if p.is_dir())[:-2]:
        shutil.rmtree(old, ignore_errors=True)


def _load_state(checkpoint: Path, model: nn.Module, optimizer, scaler) -> dict[str, Any]:
    from safetensors.torch import load_file

    model.load_state_dict(load_file(checkpoint / "model.safetensors"), strict=True)
    state = torch.load(checkpoint / "state.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"]["torch"])
    random.setstate(state["rng"]["python"])
    return state


def _write_metrics(out_dir: Path, history: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for record in history for k in record))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    atomic_write(out_dir / "metrics.csv", lambda path: Path(path).write_text(text.getvalue(), encoding="utf-8"))
    log = json.dumps(history, indent=1) + "\n"
    atomic_write(out_dir / "log.json", lambda path: Path(path).write_text(log, encoding="utf-8"))


def _fsync_dir(folder: Path) -> None:
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
