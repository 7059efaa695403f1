"""The experiment: the plain and the residual net of each depth trained in lockstep on the same batches, then scored.

The running training error is the error of the training batches as they are trained on
(train mode), averaged over the last ``SMOOTHING`` steps. At the end each network's error is
measured again over the whole training set and over the held-out set, in eval mode.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet.cifar import cifar_resnet
from resnet.devices import default_device
from train.data import DataError

from .config import CURVE_POINTS, MILESTONES, PRESETS, SMOOTHING, WARMUP_DEPTH, WARMUP_SHARE, LabConfig, batch_order, lr_at
from .data import LabData, load_data
from .results import LabResult, NetworkResult
from .twins import TwinResNet

__all__ = ["Progress", "run"]

Progress = Callable[[dict[str, Any]], None]


class _Window:
    """A network's result and the running window of its last ``SMOOTHING`` batches."""

    def __init__(self, result: NetworkResult) -> None:
        self.result = result
        self.errors: deque[float] = deque(maxlen=SMOOTHING)
        self.losses: deque[float] = deque(maxlen=SMOOTHING)

    def add(self, loss: float, error: float, seconds: float) -> None:
        self.losses.append(loss)
        self.errors.append(error)
        self.result.steps_done += 1
        self.result.seconds += seconds

    def record(self) -> dict[str, Any]:
        """Append the window's means to the curves; returns them as a progress event."""
        r = self.result
        error, loss = sum(self.errors) / len(self.errors), sum(self.losses) / len(self.losses)
        r.train_error.append((r.steps_done, error))
        r.loss.append((r.steps_done, loss))
        return {"network": r.name, "step": r.steps_done, "train_error": error, "loss": loss}


def _sgd(model: nn.Module, lr: float) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)


def _sgd_step(optimizer: torch.optim.Optimizer, loss: Tensor, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


class _Single:
    """One network and its optimiser (``LabConfig.stacked=False``)."""

    def __init__(self, model: nn.Module, result: NetworkResult, *, lr: float) -> None:
        self.model, self.optimizer = model, _sgd(model, lr)
        self.windows = [_Window(result)]

    def step(self, x: Tensor, y: Tensor, lr: float) -> None:
        start = time.perf_counter()
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        _sgd_step(self.optimizer, loss, lr)
        loss_value, error = torch.stack((loss.detach(), (logits.argmax(1) != y).float().mean())).tolist()  # waits for the device
        self.windows[0].add(loss_value, error, time.perf_counter() - start)

    def trained(self) -> list[nn.Module]:
        return [self.model]


class _Twins:
    """A plain net and its residual twin trained as one ``TwinResNet``, with one optimiser."""

    def __init__(self, plain: nn.Module, residual: nn.Module, results: tuple[NetworkResult, NetworkResult], *, lr: float) -> None:
        device = plain.fc.weight.device
        # On a CPU, oneDNN runs these narrow convolutions about a tenth faster on channels-last tensors (benchmarks/lab.py).
        self.memory_format = torch.channels_last if device.type == "cpu" else torch.contiguous_format
        self.twin = TwinResNet(plain, residual).to(device, memory_format=self.memory_format)
        self.optimizer = _sgd(self.twin, lr)
        self.windows = [_Window(r) for r in results]

    def step(self, x: Tensor, y: Tensor, lr: float) -> None:
        start = time.perf_counter()
        logits = self.twin(x.contiguous(memory_format=self.memory_format))  # (N, 2, classes)
        losses = F.cross_entropy(logits.transpose(1, 2), y[:, None].expand(-1, 2), reduction="none").mean(0)
        _sgd_step(self.optimizer, losses.sum(), lr)  # the halves share no parameter: each gets its own loss's gradient
        errors = (logits.argmax(2) != y[:, None]).float().mean(0)
        (loss_plain, loss_residual), (error_plain, error_residual) = torch.stack((losses.detach(), errors)).tolist()
        seconds = (time.perf_counter() - start) / 2
        self.windows[0].add(loss_plain, error_plain, seconds)
        self.windows[1].add(loss_residual, error_residual, seconds)

    def trained(self) -> list[nn.Module]:
        return list(self.twin.unstack())


@torch.no_grad()
def _error(model: nn.Module, images: Tensor, labels: Tensor, normalize: Callable[[Tensor], Tensor], device: torch.device) -> Optional[float]:
    """Eval-mode error over a whole set, 500 images at a time; None for an empty set."""
    if len(labels) == 0:
        return None
    model.eval()
    wrong = sum(int((model(normalize(images[i : i + 500]).to(device)).argmax(1).cpu() != labels[i : i + 500]).sum()) for i in range(0, len(labels), 500))
    model.train()
    return wrong / len(labels)


def _trainers(config: LabConfig, classes: int, device: torch.device) -> list[_Single | _Twins]:
    """Per depth, the plain net and its residual twin from the same initial weights: one ``_Twins`` or two ``_Single``."""
    trainers: list[_Single | _Twins] = []
    for depth in config.depths:
        nets, results = [], []
        for plain in (True, False):
            generator = torch.Generator().manual_seed(config.seed)
            model = cifar_resnet(depth, width=config.width, plain=plain, shortcut=config.shortcut, num_classes=classes, generator=generator)
            nets.append(model.to(device))
            results.append(NetworkResult(f"{'plain' if plain else 'residual'}-{depth}", depth, plain, sum(p.numel() for p in model.parameters())))
        if config.stacked:
            trainers.append(_Twins(*nets, (results[0], results[1]), lr=config.lr))
        else:
            trainers += [_Single(model, result, lr=config.lr) for model, result in zip(nets, results)]
    return trainers


def _load(config: LabConfig, data: Optional[str | Path]) -> LabData:
    lab_set = load_data(data, image_size=config.image_size, seed=config.seed)
    if len(lab_set.train_y) < config.batch_size:
        raise DataError(
            f"{lab_set.source} has {len(lab_set.train_y)} training images, fewer than one batch of {config.batch_size}: use more images",
            code="lab_too_few", count=len(lab_set.train_y), batch=config.batch_size,
        )
    return lab_set


def _settings(config: LabConfig, lab_set: LabData, device: torch.device) -> dict[str, Any]:
    """The run's settings as ``LabResult.settings`` reports them."""
    settings = {key: value for key, value in asdict(config).items() if key != "stacked"}
    return {
        **settings, "depths": list(config.depths), "momentum": 0.9, "weight_decay": 1e-4,
        "milestones": [round(m * config.steps) for m in MILESTONES],
        "warmup": {"min_depth": WARMUP_DEPTH, "steps": round(WARMUP_SHARE * config.steps), "lr": config.lr / 10},
        "smoothing": SMOOTHING, "device": str(device), **lab_set.describe(),
    }


def _train(trainers: list[_Single | _Twins], lab_set: LabData, config: LabConfig, device: torch.device, on_progress: Progress, should_stop: Callable[[], bool]) -> bool:
    """Every network takes every step on the same batch; returns whether ``should_stop`` ended the run."""
    normalize = lab_set.normalizer()
    order = batch_order(len(lab_set.train_y), config.batch_size, seed=config.seed)
    every = max(1, config.steps // CURVE_POINTS)
    for step in range(config.steps):
        if should_stop():
            return True
        index = next(order)
        x, y = normalize(lab_set.train_x[index]).to(device), lab_set.train_y[index].to(device)
        for trainer in trainers:
            trainer.step(x, y, lr_at(step, steps=config.steps, lr=config.lr, depth=trainer.windows[0].result.depth))
            if (step + 1) % every == 0 or step + 1 == config.steps:
                for window in trainer.windows:
                    on_progress({**window.record(), "steps": config.steps})
    return False


def run(
    config: Optional[LabConfig] = None,
    *,
    data: Optional[str | Path] = None,
    device: Optional[torch.device | str] = None,
    on_progress: Optional[Progress] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> LabResult:
    """Train the plain and the residual net of each depth on the same batches, in the same order, with the same schedule.

    SGD with momentum 0.9, weight decay 1e-4, ``lr`` (0.1 in the paper) divided by 10 at half and three
    quarters of the steps; nets of 110 layers or more warm up at ``lr / 10`` for the first 5% of the steps.
    Twins of one depth start from the same weights (both drawn from a generator seeded with ``config.seed``).

    Args:
        config: the settings; default ``PRESETS["default"]``.
        data: None or ``"digits"`` for the UCI handwritten digits shipped with the package, ``"patches"``
            for patches of the example photos (the class is the photo a patch comes from), an
            ImageFolder folder or a .zip of class folders, or ``"cifar10"``; see ``load_data``.
        device: where to train; default ``resnet.devices.default_device()``.
        on_progress: called every ``steps // 200`` steps (and at the last) with a plain dict per network:
            ``network``, ``step``, ``steps``, ``train_error``, ``loss``.
        should_stop: checked between steps; returning True ends the run with the curves so far
            (``stopped=True``, no final errors).

    Returns:
        A ``LabResult`` with networks ``"plain-20"``, ``"residual-20"``, ... in that order.

    Raises:
        ValueError: a bad depth, size or setting; ``train.DataError`` for unusable data (also for fewer
            training images than ``batch_size``).
    """
    config = config or PRESETS["default"]
    config.check()
    device = torch.device(device) if device is not None else default_device()
    lab_set = _load(config, data)
    trainers = _trainers(config, len(lab_set.classes), device)
    report = on_progress or (lambda event: None)
    stopped = _train(trainers, lab_set, config, device, report, should_stop or (lambda: False))

    normalize, networks, models = lab_set.normalizer(), {}, {}
    for trainer in trainers:
        for window, model in zip(trainer.windows, trainer.trained()):
            r = window.result
            if stopped and r.steps_done and (not r.train_error or r.train_error[-1][0] < r.steps_done):
                report({**window.record(), "steps": config.steps})  # the steps since the last point: the curve ends where training did
            if not stopped:
                start = time.perf_counter()
                r.final_train_error = _error(model, lab_set.train_x, lab_set.train_y, normalize, device)
                r.held_out_error = _error(model, lab_set.held_x, lab_set.held_y, normalize, device)
                r.seconds += time.perf_counter() - start
            networks[r.name], models[r.name] = r, model.eval()
    return LabResult(networks, _settings(config, lab_set, device), stopped, models)
