"""The residual learning lab: the degradation experiment of the paper's Fig. 6, small enough for a laptop CPU.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), section 4.2: a deeper
plain net ends with a *higher training error* than a shallower one (it is harder to optimise;
this is not overfitting), while the residual twin of the deeper net trains well. ``run``
trains the plain and the residual net of each depth in lockstep: at every step every network
takes the same batch, with the same schedule, so what differs is the architecture alone.

    python -m train.lab                                   # the default preset: depths 20 and 56
    python -m train.lab --preset quick --out lab.json --plot lab.png
    python -m train.lab --data patches --preset quick       # patches of the example photos instead of the digits
    python -m train.lab --data cifar10 --width 16 --image-size 32 --steps 64000 --depths 20 32 44 56

The running training error is the error of the training batches as they are trained on
(train mode), averaged over the last ``SMOOTHING`` steps. At the end each network's error is
measured again over the whole training set and over the held-out set, in eval mode.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet.cifar import SHORTCUTS, blocks_per_stage, cifar_resnet
from resnet.devices import default_device

from .data import DataError
from .lab_data import CIFAR10_URL, DIGITS, PATCHES, LabData, load_data
from .lab_describe import PAPER_TABLE6, describe, describe_text
from .lab_results import LabResult, NetworkResult
from .lab_twins import TwinResNet

__all__ = [
    "CIFAR10_URL", "DIGITS", "PATCHES", "PRESETS", "PAPER_TABLE6", "SMOOTHING", "LabConfig", "LabData", "LabResult",
    "NetworkResult", "batch_order", "describe", "describe_text", "load_data", "lr_at", "main", "run",
]

SMOOTHING = 20  # steps: the running training error is the mean error of the last 20 training batches
CURVE_POINTS = 200  # points per curve at most: one every steps // 200 steps
MILESTONES = (0.5, 0.75)  # lr / 10 at these shares of the steps: the paper's 32k and 48k of 64k iterations
WARMUP_DEPTH = 110  # the paper trains 110 layers at lr / 10 until it starts learning (about 400 iterations)
WARMUP_SHARE = 0.05
Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class LabConfig:
    """The settings of a lab run.

    Attributes:
        depths: layers of each plain/residual pair, each 6n+2 (20, 32, 44, 56, 110, ...).
        steps: SGD steps per network.
        width: filters of the first stage (the paper's 16; 8 is four times cheaper).
        image_size: side of the images, in pixels (8 to 64).
        batch_size: images per step.
        lr: peak learning rate (the paper's 0.1).
        shortcut: ``"A"`` (zero-padded identity, the paper's CIFAR choice) or ``"B"`` (projections).
        seed: seeds the data, the initial weights and the batch order.
        stacked: train each plain net and its residual twin as one network (``TwinResNet``): the same
            mathematics with half the operators per step; False trains the four networks one by one
            (the slower path, kept to compare with).
    """

    depths: tuple[int, ...] = (20, 56)
    steps: int = 800
    width: int = 8
    image_size: int = 16
    batch_size: int = 64
    lr: float = 0.1
    shortcut: str = "A"
    seed: int = 0
    stacked: bool = True

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting out of range."""
        if not self.depths or len(set(self.depths)) != len(self.depths):
            raise ValueError(f"depths must be one or more different 6n+2 values, got {list(self.depths)}")
        for label, value in (("steps", self.steps), ("width", self.width), ("lr", self.lr)):
            if not value > 0:
                raise ValueError(f"{label} must be positive, got {value}")
        if not 8 <= self.image_size <= 64:
            raise ValueError(f"image_size must be 8 to 64 pixels, got {self.image_size}")
        if self.shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be 'A' or 'B', got {self.shortcut!r}")
        for depth in self.depths:
            blocks_per_stage(depth)  # raises, naming a depth that is not 6n+2


# Settings the app offers; their times and errors on 2 CPU cores are in docs/LAB.md. Width 8 on 16-pixel
# images is what makes the four nets of depth 20 and 56 train in about a minute there.
PRESETS: dict[str, LabConfig] = {
    "quick": LabConfig(steps=300),
    "default": LabConfig(steps=800),
    "longer": LabConfig(depths=(20, 32, 44, 56), steps=2000),
}


def batch_order(num_items: int, batch_size: int, *, seed: int) -> Iterator[Tensor]:
    """Endless batches of indices: a new permutation each epoch, drawn from a generator seeded with ``seed``.

    Args:
        num_items: size of the training set.
        batch_size: indices a batch; an epoch's last incomplete batch is dropped.
        seed: the order depends on it alone.

    Returns:
        An iterator of int64 tensors of ``batch_size`` indices.
    """
    if not 1 <= batch_size <= num_items:
        raise ValueError(f"batch_size must be between 1 and the {num_items} training images, got {batch_size}")
    return _batches(num_items, batch_size, torch.Generator().manual_seed(seed))


def _batches(num_items: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    while True:
        perm = torch.randperm(num_items, generator=generator)
        for start in range(0, num_items - batch_size + 1, batch_size):
            yield perm[start : start + batch_size]


def lr_at(step: int, *, steps: int, lr: float, depth: int) -> float:
    """The paper's schedule: ``lr``, divided by 10 at each of ``MILESTONES``; deep nets warm up first.

    Args:
        step: the step, from 0.
        steps: steps in the run.
        lr: the peak learning rate.
        depth: the network's; from ``WARMUP_DEPTH`` layers on the first ``WARMUP_SHARE`` of the steps run at ``lr / 10``.

    Returns:
        The learning rate of that step.
    """
    if depth >= WARMUP_DEPTH and step < WARMUP_SHARE * steps:
        return lr / 10
    return lr * 0.1 ** sum(step >= share * steps for share in MILESTONES)


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
        self.twin = TwinResNet(plain, residual).to(plain.fc.weight.device)
        self.optimizer = _sgd(self.twin, lr)
        self.windows = [_Window(r) for r in results]

    def step(self, x: Tensor, y: Tensor, lr: float) -> None:
        start = time.perf_counter()
        logits = self.twin(x)  # (N, 2, classes)
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
        device: where to train; default ``resnet.default_device()``.
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m train.lab``: run a preset (flags override it), print the findings, write JSON / a plot; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m train.lab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=list(PRESETS), default="default", help="settings to start from (default: default)")
    parser.add_argument("--depths", type=int, nargs="+", help="depths, each 6n+2 (preset: 20 56)")
    parser.add_argument("--steps", type=int, help="SGD steps per network")
    parser.add_argument("--width", type=int, help="filters of the first stage (the paper: 16)")
    parser.add_argument("--image-size", type=int, help="image side in pixels")
    parser.add_argument("--data", default=None, help="digits (default: the shipped handwritten digits), patches (of the example photos), cifar10, an ImageFolder folder or a .zip of class folders")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shortcut", choices=SHORTCUTS, default="A", help="A: zero-padded identity (default); B: projections")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--out", help="write the result as JSON here")
    parser.add_argument("--plot", help="draw the curves (the paper's Fig. 6 layout) into this PNG")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k in ("depths", "steps", "width", "image_size", "seed", "shortcut") and v is not None}
    config = replace(PRESETS[args.preset], **{**overrides, "depths": tuple(overrides.get("depths", PRESETS[args.preset].depths))})

    bars: dict[str, Any] = {}

    def show(event: dict[str, Any]) -> None:
        from tqdm import tqdm

        if event["network"] not in bars:
            bars[event["network"]] = tqdm(total=event["steps"], desc=event["network"], position=len(bars), dynamic_ncols=True)
        bar = bars[event["network"]]
        bar.update(event["step"] - bar.n)
        bar.set_postfix(error=f"{event['train_error']:.3f}", loss=f"{event['loss']:.3f}")

    try:
        result = run(config, data=args.data, device=args.device, on_progress=None if args.no_progress else show)
    except ValueError as e:  # DataError included
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        for bar in bars.values():
            bar.close()
    print(describe_text(result))
    if args.out:
        result.to_json(args.out)
    if args.plot:
        from .lab_plot import plot_curves

        plot_curves(result).save(args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
