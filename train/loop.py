"""The training loop: ``fit``, with resume (its settings and result are in ``train.config``, held-out evaluation in ``train.evaluate``).

One loop serves everything: the ``python -m train`` command (one process or
several under ``torchrun``), and the app's short fine-tunes (with other defaults).
With ``out_dir`` it writes a checkpoint per epoch and the metrics (see
``train.checkpoint`` for the layout), and ``resume`` continues from the last one.

On a GPU the loop keeps the device fed: batches are copied without blocking from pinned
memory, may be augmented there (``transforms``, see ``train.device_augment``) or already lie there whole
(``train.gpu.DeviceTensorSet``); the optimiser is fused where torch has a fused kernel; losses and
counts are summed on the device and read once an epoch, so the host never waits on a step.

Nothing here touches a global random generator: the data order comes from the
loader's own generator, augmentation from the data set's (``train.augment``), both
seeded from ``(seed, epoch)``. That is what makes a resumed run repeat an
uninterrupted one, and lets the app train several users' models at once in threads.
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from resnet.config import ModelConfig
from resnet.devices import autocast_dtype

from . import checkpoint
from .checkpoint import RunState
from .config import FitResult, TrainConfig, lr_at
from .evaluate import evaluate, sum_dtype, to_device
from .device_augment import BatchAugment, DeviceTransforms, epoch_generator
from .gpu import batches

__all__ = ["amp_dtype", "fit", "set_trainable"]

EpochCallback = Callable[[dict[str, Any]], Optional[bool]]


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


def amp_dtype(amp: str, device: torch.device) -> Optional[torch.dtype]:
    """The dtype ``TrainConfig.amp`` autocasts to on ``device``; None for fp32 (``"off"``, or ``"auto"`` where
    ``resnet.devices.fast_dtype`` says the hardware has no fast reduced precision).

    Only the forward pass's matrix products run in it: parameters, their gradients and the optimiser's
    state stay fp32 (the master weights), and autocast keeps norms' statistics and the loss in fp32.
    """
    if amp == "off":
        return None
    if amp == "auto":
        return autocast_dtype(device)
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs a CUDA device; use 'bf16' or 'off'")
    return torch.bfloat16 if amp == "bf16" else torch.float16


def _make_optimizer(model: nn.Module, config: TrainConfig, param_groups: Optional[Sequence[dict[str, Any]]]) -> torch.optim.Optimizer:
    """SGD (Nesterov), AdamW or Adam over ``param_groups`` (default: every trainable parameter), each group with an ``lr_scale``.

    On CUDA the fused implementation is used: one kernel for the whole update instead of several per parameter.
    """
    groups = [dict(g) for g in param_groups] if param_groups else [{"params": [p for p in model.parameters() if p.requires_grad]}]
    for g in groups:
        g["params"] = [g["params"]] if isinstance(g["params"], torch.Tensor) else list(g["params"])  # read twice below
        g.setdefault("lr_scale", 1.0)
    fused = all(p.is_cuda and p.is_floating_point() for g in groups for p in g["params"])
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True, fused=fused)
    kind = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return kind(groups, lr=config.lr, weight_decay=config.weight_decay, fused=fused)


@dataclass
class _Trainer:
    """What every training step uses."""

    model: nn.Module  # possibly wrapped in DistributedDataParallel, or compiled: what the steps call
    inner: nn.Module  # the unwrapped network: what is clipped, saved, restored and evaluated
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    device: torch.device
    amp_dtype: Optional[torch.dtype]
    channels_last: bool
    grad_clip: Optional[float]
    transform: Optional[BatchAugment] = None  # applied to each batch on the device
    generator: Optional[torch.Generator] = None  # the transform's random numbers, set afresh each epoch


def _train_step(t: _Trainer, x: torch.Tensor, y: torch.Tensor, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step at ``lr`` (times each group's ``lr_scale``).

    Returns:
        The batch's mean loss and correct count, as tensors on the device: reading them would wait for the step.
    """
    for g in t.optimizer.param_groups:
        g["lr"] = lr * g["lr_scale"]
    x, y = to_device(x, y, t.device, t.channels_last, t.transform, t.generator)
    with torch.autocast(t.device.type, dtype=t.amp_dtype or torch.float32, enabled=t.amp_dtype is not None):
        logits = t.model(x)
        loss = t.criterion(logits.float(), y)
    t.optimizer.zero_grad(set_to_none=True)
    t.scaler.scale(loss).backward()
    if t.grad_clip:
        t.scaler.unscale_(t.optimizer)
        nn.utils.clip_grad_norm_(t.inner.parameters(), t.grad_clip)
    t.scaler.step(t.optimizer)
    t.scaler.update()
    return loss.detach(), (logits.argmax(1) == y).sum()


def _rank0_decides(flag: bool, world_size: int) -> bool:
    """Rank 0's ``flag`` on every rank: all processes must stop at the same step, or the others hang."""
    if world_size == 1:
        return flag
    box = [flag]
    dist.broadcast_object_list(box, src=0)
    return bool(box[0])


def _train_epoch(
    t: _Trainer,
    loader: DataLoader,
    run: RunState,
    lr_for: Callable[[int], float],
    *,
    should_stop: Optional[Callable[[], bool]],
    world_size: int,
    bar: Optional[str],
) -> Optional[dict[str, float]]:
    """One pass over ``loader``, counting steps in ``run``.

    Returns:
        The epoch's training loss, top-1 and last learning rate; None when ``should_stop``
        asked to stop before one of its steps.
    """
    loss_sum = torch.zeros((), dtype=sum_dtype(t.device), device=t.device)
    correct, seen = torch.zeros((), dtype=torch.long, device=t.device), 0
    steps: Any = loader
    if bar is not None:
        from tqdm import tqdm

        steps = tqdm(loader, desc=bar, leave=False, dynamic_ncols=True)
    try:
        for x, y in steps:
            if should_stop is not None and _rank0_decides(bool(should_stop()), world_size):
                return None
            lr = lr_for(run.step)
            loss, hits = _train_step(t, x, y, lr)
            run.step += 1
            loss_sum += loss.to(loss_sum.dtype) * len(y)
            correct += hits
            seen += len(y)
            if bar is not None and run.step % 10 == 1:  # showing the loss waits for the step: not at every one
                steps.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}")
    finally:
        if bar is not None:
            steps.close()
    return {"train_loss": loss_sum.item() / max(seen, 1), "train_top1": correct.item() / max(seen, 1), "lr": t.optimizer.param_groups[0]["lr"]}


def _callbacks_stop(on_epoch: Sequence[EpochCallback], record: dict[str, Any]) -> bool:
    """Give every callback its own copy of ``record``; True when any of them asked to stop."""
    answers = [bool(callback(dict(record))) for callback in on_epoch]  # a list, not any(): each callback hears of each epoch
    return any(answers)


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
    should_stop: Optional[Callable[[], bool]] = None,
    progress: bool = False,
    rank: int = 0,
    world_size: int = 1,
    transforms: Optional[DeviceTransforms] = None,
    compile: bool = False,
) -> FitResult:
    """Train ``model`` for ``config.epochs`` epochs, evaluating on ``val_set`` after each.

    Args:
        model: the network, possibly wrapped in ``DistributedDataParallel``.
        train_set: a dataset of ``(tensor, class index)``. One with a ``set_epoch(epoch)``
            method (``train.augment.AugmentedSubset``) is told each epoch before it is read.
            A ``train.gpu.DeviceTensorSet`` is sliced on the device, with no loader.
        val_set: held-out ``(tensor, class index)`` pairs (or a ``DeviceTensorSet``), or None.
        config: optimisation settings.
        num_classes: size of the output layer.
        device: where to train; default: where the model's parameters are.
        param_groups: optimiser groups; a group's ``lr_scale`` multiplies the scheduled LR.
            Default: every parameter that requires grad, scale 1.
        out_dir: where checkpoints and metrics go (rank 0 writes); None writes nothing.
        model_config: arch, labels and preprocessing saved with each checkpoint (needed with ``out_dir``).
        resume: continue from the latest complete checkpoint in ``out_dir``, if there is one.
        on_epoch: callables given each epoch's record (plain numbers); if one returns True,
            training stops after every callback has been called.
        should_stop: asked before every training step (rank 0's answer counts); True ends
            the run there, without evaluating or saving the unfinished epoch.
        progress: show a tqdm bar per epoch (rank 0).
        rank: this process's place in a distributed run.
        world_size: the number of processes in it.
        transforms: for data sets of uint8 images: ``transforms.train`` augments each training batch
            on the device, drawing from a generator there seeded from ``(seed, epoch, rank)``;
            ``transforms.eval`` prepares held-out batches.
        compile: run the training steps through ``torch.compile(model)``; evaluation and
            checkpoints use the network itself.

    Returns:
        A ``FitResult``.
    """
    inner = getattr(model, "module", model)
    device = device or next(inner.parameters()).device
    if out_dir is not None and model_config is None:
        raise ValueError("model_config is needed to write checkpoints to out_dir")
    autocast_to = amp_dtype(config.amp, device)
    channels_last = config.channels_last and device.type != "mps"
    if channels_last and inner is model:
        # A DistributedDataParallel model must be converted before it is wrapped (python -m train does).
        inner.to(memory_format=torch.channels_last)
    optimizer = _make_optimizer(inner, config, param_groups)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_to == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    stepped = torch.compile(model) if compile else model
    t = _Trainer(stepped, inner, optimizer, scaler, criterion, device, autocast_to, channels_last, config.grad_clip, transforms.train if transforms else None)

    steps_per_epoch = max(1, math.ceil(len(train_set) / (config.batch_size * world_size)))
    lr_for = functools.partial(
        lr_at, total_steps=steps_per_epoch * config.epochs, base_lr=config.lr,
        warmup_steps=int(config.warmup_epochs * steps_per_epoch), min_lr=config.min_lr, schedule=config.schedule,
    )
    run = (checkpoint.resume(out_dir, inner, optimizer, scaler) if resume and out_dir is not None else None) or RunState()

    confusion, stopped_early, stopped_epoch = None, False, None
    for epoch in range(run.epoch, config.epochs):
        started = time.perf_counter()
        # The order depends on (seed, epoch, rank) alone and a sample's augmentation on (seed, epoch, index): a resumed run repeats both.
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        loader = batches(train_set, config.batch_size, shuffle=True, seed=config.seed, epoch=epoch, workers=config.workers, device=device, rank=rank, world_size=world_size)
        if transforms is not None:
            t.generator = epoch_generator(device, seed=config.seed, epoch=epoch, rank=rank)
        _train_mode(inner)
        bar = f"epoch {epoch + 1}/{config.epochs}" if progress and rank == 0 else None
        stats = _train_epoch(t, loader, run, lr_for, should_stop=should_stop, world_size=world_size, bar=bar)
        if stats is None:
            stopped_epoch = epoch + 1  # the last complete epoch's checkpoint stands
            break

        record: dict[str, Any] = {"epoch": epoch + 1, **stats}
        if val_set is not None and len(val_set) > 0:
            metrics = evaluate(
                inner, val_set, batch_size=config.batch_size, device=device, num_classes=num_classes, amp_dtype=autocast_to,
                channels_last=channels_last, workers=config.workers, transform=transforms.eval if transforms else None,
            )
            record.update(val_loss=metrics["loss"], val_top1=metrics["top1"], val_top5=metrics["top5"])
            confusion = metrics["confusion"]
        record["seconds"] = time.perf_counter() - started
        improved = run.add_epoch(record)

        stop = _callbacks_stop(on_epoch, record)
        if config.early_stopping and run.epoch - run.best_epoch >= config.early_stopping:
            stop = True
        stop = _rank0_decides(stop, world_size)
        if out_dir is not None and rank == 0:
            checkpoint.save(out_dir, inner, optimizer, scaler, model_config=model_config, config=config, run=run, improved=improved)
        if world_size > 1:
            dist.barrier()
        if stop:
            stopped_early = run.epoch < config.epochs
            break

    best_top1 = run.best_score if run.history and "val_top1" in run.history[-1] else None
    return FitResult(run.history, run.best_epoch, best_top1, stopped_early, confusion, stopped=stopped_epoch is not None, stopped_epoch=stopped_epoch)
