"""The training loop: ``fit``, with resume (its settings and result are in ``train.config``, held-out evaluation in ``train.evaluate``).

One loop serves everything: the ``python -m train`` command (one process or
several under ``torchrun``), and the app's short fine-tunes (with other defaults).
``fit`` takes its settings grouped: ``TrainConfig`` (optimisation), ``FitOptions`` (device,
processes, parameter groups), ``Checkpoints`` (a checkpoint per epoch and the metrics, see
``train.checkpoint`` for the layout; ``resume`` continues from the last one) and ``Hooks``
(callbacks). The small helpers above it are its steps, in the order it runs them.

On a GPU the loop keeps the device fed: batches are copied without blocking from pinned
memory, may be augmented there (``transforms``, see ``train.device_augment``) or already lie there whole
(``train.pipeline.DeviceTensorSet``); the optimiser is fused where torch has a fused kernel; losses and
counts are summed on the device and read once an epoch, so the host never waits on a step.

Nothing here touches a global random generator: the data order comes from the
loader's own generator, augmentation from the data set's (``train.augment``), both
seeded from ``(seed, epoch)``. That is what makes a resumed run repeat an
uninterrupted one, and lets the app train several users' models at once in threads.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from resnet.devices import autocast_dtype

from . import checkpoint
from .checkpoint import RunState
from .config import Checkpoints, EpochCallback, FitOptions, FitResult, Hooks, TrainConfig
from .data import BatchOrder
from .device_augment import BatchAugment, DeviceTransforms, epoch_generator
from .evaluate import evaluate, sum_dtype, to_device
from .pipeline import batches
from .schedule import lr_schedule, make_optimizer

__all__ = ["Checkpoints", "FitOptions", "Hooks", "amp_dtype", "fit", "set_trainable"]


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


def _trainer(model: nn.Module, config: TrainConfig, options: FitOptions) -> _Trainer:
    """The optimiser, loss, precision and memory layout every step of the run uses."""
    inner = getattr(model, "module", model)
    device = options.device or next(inner.parameters()).device
    autocast_to = amp_dtype(config.amp, device)
    channels_last = config.channels_last and device.type != "mps"
    if channels_last and inner is model:
        # A DistributedDataParallel model must be converted before it is wrapped (python -m train does).
        inner.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(inner, config, options.param_groups)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_to == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    stepped = torch.compile(model) if options.compile else model
    transform = options.transforms.train if options.transforms else None
    return _Trainer(stepped, inner, optimizer, scaler, criterion, device, autocast_to, channels_last, config.grad_clip, transform)


def _fit_epoch(
    t: _Trainer, train_set: Dataset, run: RunState, lr_for: Callable[[int], float], epoch: int, config: TrainConfig, options: FitOptions, hooks: Hooks,
) -> Optional[dict[str, float]]:
    """Epoch ``epoch`` (0-based): its batch order, augmentation and training mode, then ``_train_epoch`` (None: ``hooks.should_stop`` ended it)."""
    # The order depends on (seed, epoch, rank) alone and a sample's augmentation on (seed, epoch, index): a resumed run repeats both.
    if hasattr(train_set, "set_epoch"):
        train_set.set_epoch(epoch)
    order = BatchOrder(seed=config.seed, epoch=epoch, rank=options.rank, world_size=options.world_size)
    loader = batches(train_set, config.batch_size, shuffle=True, order=order, workers=config.workers, device=t.device)
    if options.transforms is not None:
        t.generator = epoch_generator(t.device, seed=config.seed, epoch=epoch, rank=options.rank)
    _train_mode(t.inner)
    bar = f"epoch {epoch + 1}/{config.epochs}" if hooks.progress and options.rank == 0 else None
    return _train_epoch(t, loader, run, lr_for, should_stop=hooks.should_stop, world_size=options.world_size, bar=bar)


def _held_out(t: _Trainer, val_set: Dataset, config: TrainConfig, num_classes: int, transforms: Optional[DeviceTransforms]) -> dict[str, Any]:
    """The network's loss, top-1, top-5 and confusion on ``val_set`` (``train.evaluate.evaluate``)."""
    return evaluate(
        t.inner, val_set, batch_size=config.batch_size, device=t.device, num_classes=num_classes, amp_dtype=t.amp_dtype,
        channels_last=t.channels_last, workers=config.workers, transform=transforms.eval if transforms else None,
    )


def _after_epoch(
    t: _Trainer, run: RunState, record: dict[str, Any], improved: bool, config: TrainConfig, options: FitOptions, hooks: Hooks,
    checkpoints: Optional[Checkpoints],
) -> bool:
    """Tell the callbacks, save a checkpoint (rank 0) and wait for every rank; True when the run stops here."""
    stop = _callbacks_stop(hooks.on_epoch, record)
    if config.early_stopping and run.epoch - run.best_epoch >= config.early_stopping:
        stop = True
    stop = _rank0_decides(stop, options.world_size)
    if checkpoints is not None and options.rank == 0:
        checkpoint.save(
            checkpoints.out_dir, t.inner, t.optimizer, t.scaler, model_config=checkpoints.model_config, config=config, run=run, improved=improved,
        )
    if options.world_size > 1:
        dist.barrier()
    return stop


def fit(
    model: nn.Module,
    train_set: Dataset,
    val_set: Optional[Dataset],
    config: TrainConfig,
    *,
    num_classes: int,
    options: Optional[FitOptions] = None,
    checkpoints: Optional[Checkpoints] = None,
    hooks: Optional[Hooks] = None,
) -> FitResult:
    """Train ``model`` for ``config.epochs`` epochs, evaluating on ``val_set`` after each.

    Args:
        model: the network, possibly wrapped in ``DistributedDataParallel``.
        train_set: a dataset of ``(tensor, class index)``. One with a ``set_epoch(epoch)``
            method (``train.augment.AugmentedSubset``) is told each epoch before it is read.
            A ``train.pipeline.DeviceTensorSet`` is sliced on the device, with no loader.
        val_set: held-out ``(tensor, class index)`` pairs (or a ``DeviceTensorSet``), or None.
        config: optimisation settings.
        num_classes: size of the output layer.
        options: device, optimiser groups, device transforms, compiling, rank and world size
            (``FitOptions``); None: its defaults (one process, where the model is).
        checkpoints: where to write a checkpoint per epoch and the metrics, and whether to resume
            from the last one (``Checkpoints``); None writes nothing.
        hooks: the per-epoch callbacks, the stop question asked before every step, and the
            progress bar (``Hooks``); None: none of them.

    Returns:
        A ``FitResult``.
    """
    options, hooks = options or FitOptions(), hooks or Hooks()
    t = _trainer(model, config, options)
    lr_for = lr_schedule(config, steps_per_epoch=max(1, math.ceil(len(train_set) / (config.batch_size * options.world_size))))
    resumed = checkpoint.resume(checkpoints.out_dir, t.inner, t.optimizer, t.scaler) if checkpoints and checkpoints.resume else None
    run = resumed or RunState()

    confusion, stopped_early, stopped_epoch = None, False, None
    for epoch in range(run.epoch, config.epochs):
        started = time.perf_counter()
        stats = _fit_epoch(t, train_set, run, lr_for, epoch, config, options, hooks)
        if stats is None:
            stopped_epoch = epoch + 1  # the last complete epoch's checkpoint stands
            break
        record: dict[str, Any] = {"epoch": epoch + 1, **stats}
        if val_set is not None and len(val_set) > 0:
            metrics = _held_out(t, val_set, config, num_classes, options.transforms)
            record.update(val_loss=metrics["loss"], val_top1=metrics["top1"], val_top5=metrics["top5"])
            confusion = metrics["confusion"]
        record["seconds"] = time.perf_counter() - started
        improved = run.add_epoch(record)
        if _after_epoch(t, run, record, improved, config, options, hooks, checkpoints):
            stopped_early = run.epoch < config.epochs
            break

    best_top1 = run.best_score if run.history and "val_top1" in run.history[-1] else None
    return FitResult(run.history, run.best_epoch, best_top1, stopped_early, confusion, stopped=stopped_epoch is not None, stopped_epoch=stopped_epoch)
