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
import json
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
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

__all__ = [
    "CIFAR10_URL", "DIGITS", "PATCHES", "PRESETS", "PAPER_TABLE6", "SMOOTHING", "LabData", "LabResult", "NetworkResult",
    "batch_order", "describe", "describe_text", "load_data", "lr_at", "main", "run",
]

# Settings the app offers; their times and errors on 2 CPU cores are in docs/LAB.md. Width 8 on 16-pixel
# images is what makes the four nets of depth 20 and 56 train in two to three minutes there.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"depths": (20, 56), "steps": 300, "width": 8, "image_size": 16},
    "default": {"depths": (20, 56), "steps": 800, "width": 8, "image_size": 16},
    "longer": {"depths": (20, 32, 44, 56), "steps": 2000, "width": 8, "image_size": 16},
}
SMOOTHING = 20  # steps: the running training error is the mean error of the last 20 training batches
CURVE_POINTS = 200  # points per curve at most: one every steps // 200 steps
MILESTONES = (0.5, 0.75)  # lr / 10 at these shares of the steps: the paper's 32k and 48k of 64k iterations
WARMUP_DEPTH = 110  # the paper trains 110 layers at lr / 10 until it starts learning (about 400 iterations)
WARMUP_SHARE = 0.05
Progress = Callable[[dict[str, Any]], None]


@dataclass
class NetworkResult:
    """One network's run: curves as ``(step, value)`` pairs, errors as fractions in [0, 1].

    Attributes:
        final_train_error: over the whole training set, eval mode; None when the run was stopped.
        held_out_error: over the held-out set, eval mode; None when stopped or nothing is held out.
        seconds: wall time of its training steps and final evaluation.
    """

    name: str  # "plain-20", "residual-56", ...
    depth: int
    plain: bool
    params: int
    train_error: list[tuple[int, float]] = field(default_factory=list)  # running, over the last SMOOTHING batches
    loss: list[tuple[int, float]] = field(default_factory=list)  # the same, for the cross-entropy loss
    final_train_error: Optional[float] = None
    held_out_error: Optional[float] = None
    seconds: float = 0.0
    steps_done: int = 0


@dataclass
class LabResult:
    """What ``run`` returns: one ``NetworkResult`` per network, the settings used and whether it was stopped.

    ``models`` holds the trained networks (eval mode), e.g. for per-layer response statistics;
    it is not part of ``to_dict`` / ``to_json``.
    """

    networks: dict[str, NetworkResult]
    settings: dict[str, Any]
    stopped: bool = False
    models: dict[str, nn.Module] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Networks, settings and the stopped flag as JSON-able values."""
        return {"networks": {k: asdict(v) for k, v in self.networks.items()}, "settings": self.settings, "stopped": self.stopped}

    def to_json(self, path: Optional[str | Path] = None) -> str:
        """``to_dict`` as indented JSON, also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text


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


class _Trainer:
    """One network, its optimiser, its running window and its result."""

    def __init__(self, model: nn.Module, result: NetworkResult, *, lr: float) -> None:
        self.model, self.result = model, result
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
        self.errors: deque[float] = deque(maxlen=SMOOTHING)
        self.losses: deque[float] = deque(maxlen=SMOOTHING)

    def step(self, x: Tensor, y: Tensor, lr: float) -> None:
        start = time.perf_counter()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.losses.append(loss.item())  # .item() waits for the device, so the time below is the step's own
        self.errors.append((logits.argmax(1) != y).float().mean().item())
        self.result.steps_done += 1
        self.result.seconds += time.perf_counter() - start

    def record(self) -> dict[str, Any]:
        r = self.result
        error, loss = sum(self.errors) / len(self.errors), sum(self.losses) / len(self.losses)
        r.train_error.append((r.steps_done, error))
        r.loss.append((r.steps_done, loss))
        return {"network": r.name, "step": r.steps_done, "train_error": error, "loss": loss}


@torch.no_grad()
def _error(model: nn.Module, images: Tensor, labels: Tensor, normalize: Callable[[Tensor], Tensor], device: torch.device) -> Optional[float]:
    """Eval-mode error over a whole set, 500 images at a time; None for an empty set."""
    if len(labels) == 0:
        return None
    model.eval()
    wrong = sum(int((model(normalize(images[i : i + 500]).to(device)).argmax(1).cpu() != labels[i : i + 500]).sum()) for i in range(0, len(labels), 500))
    model.train()
    return wrong / len(labels)


def run(
    depths: Sequence[int] = PRESETS["default"]["depths"],
    *,
    steps: int = PRESETS["default"]["steps"],
    width: int = PRESETS["default"]["width"],
    image_size: int = PRESETS["default"]["image_size"],
    data: Optional[str | Path] = None,
    seed: int = 0,
    shortcut: str = "A",
    batch_size: int = 64,
    lr: float = 0.1,
    device: Optional[torch.device | str] = None,
    on_progress: Optional[Progress] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> LabResult:
    """Train the plain and the residual net of each depth on the same batches, in the same order, with the same schedule.

    SGD with momentum 0.9, weight decay 1e-4, ``lr`` (0.1 in the paper) divided by 10 at half and three
    quarters of the steps; nets of 110 layers or more warm up at ``lr / 10`` for the first 5% of the steps.
    Twins of one depth start from the same weights (both drawn from a generator seeded with ``seed``).

    Args:
        depths: layers of each pair, each 6n+2 (20, 32, 44, 56, 110, ...).
        steps: SGD steps per network.
        width: filters of the first stage (the paper's 16; 8 is four times cheaper).
        image_size: side of the images, in pixels (8 to 64).
        data: None or ``"digits"`` for the UCI handwritten digits shipped with the package, ``"patches"``
            for patches of the photos in examples/ (the class is the photo a patch comes from), an
            ImageFolder folder or a .zip of class folders, or ``"cifar10"``; see ``load_data``.
        seed: seeds the data, the initial weights and the batch order.
        shortcut: ``"A"`` (zero-padded identity, the paper's CIFAR choice) or ``"B"`` (projections).
        batch_size: images per step.
        lr: peak learning rate.
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
    depths = [int(d) for d in depths]
    if not depths or len(set(depths)) != len(depths):
        raise ValueError(f"depths must be one or more different 6n+2 values, got {depths}")
    for label, value, ok in (("steps", steps, steps >= 1), ("width", width, width >= 1), ("lr", lr, lr > 0)):
        if not ok:
            raise ValueError(f"{label} must be positive, got {value}")
    if not 8 <= image_size <= 64:
        raise ValueError(f"image_size must be 8 to 64 pixels, got {image_size}")
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be 'A' or 'B', got {shortcut!r}")
    for depth in depths:
        blocks_per_stage(depth)  # raises now, naming a depth that is not 6n+2
    device = torch.device(device) if device is not None else default_device()
    lab_set: LabData = load_data(data, image_size=image_size, seed=seed)
    if len(lab_set.train_y) < batch_size:
        raise DataError(
            f"{lab_set.source} has {len(lab_set.train_y)} training images, fewer than one batch of {batch_size}: use more images",
            code="lab_too_few", count=len(lab_set.train_y), batch=batch_size,
        )
    normalize = lab_set.normalizer()
    order = batch_order(len(lab_set.train_y), batch_size, seed=seed)

    trainers = []
    for depth in depths:
        for plain in (True, False):
            generator = torch.Generator().manual_seed(seed)
            model = cifar_resnet(depth, width=width, plain=plain, shortcut=shortcut, num_classes=len(lab_set.classes), generator=generator)
            name = f"{'plain' if plain else 'residual'}-{depth}"
            result = NetworkResult(name, depth, plain, sum(p.numel() for p in model.parameters()))
            trainers.append(_Trainer(model.to(device), result, lr=lr))

    settings = {
        "depths": depths, "steps": steps, "width": width, "image_size": image_size, "batch_size": batch_size, "lr": lr,
        "momentum": 0.9, "weight_decay": 1e-4, "milestones": [round(m * steps) for m in MILESTONES],
        "warmup": {"min_depth": WARMUP_DEPTH, "steps": round(WARMUP_SHARE * steps), "lr": lr / 10}, "smoothing": SMOOTHING,
        "seed": seed, "shortcut": shortcut, "device": str(device), **lab_set.describe(),
    }
    every = max(1, steps // CURVE_POINTS)
    stopped = False
    for step in range(steps):
        if should_stop is not None and should_stop():
            stopped = True
            break
        index = next(order)
        x, y = normalize(lab_set.train_x[index]).to(device), lab_set.train_y[index].to(device)
        for t in trainers:
            t.step(x, y, lr_at(step, steps=steps, lr=lr, depth=t.result.depth))
            if (step + 1) % every == 0 or step + 1 == steps:
                event = t.record()
                if on_progress is not None:
                    on_progress({**event, "steps": steps})

    for t in trainers:
        r = t.result
        if stopped and r.steps_done and (not r.train_error or r.train_error[-1][0] < r.steps_done):
            event = t.record()  # the steps since the last point, so the curve ends where training did
            if on_progress is not None:
                on_progress({**event, "steps": steps})
        if not stopped:
            start = time.perf_counter()
            t.result.final_train_error = _error(t.model, lab_set.train_x, lab_set.train_y, normalize, device)
            t.result.held_out_error = _error(t.model, lab_set.held_x, lab_set.held_y, normalize, device)
            t.result.seconds += time.perf_counter() - start
        t.model.eval()
    return LabResult({t.result.name: t.result for t in trainers}, settings, stopped, {t.result.name: t.model for t in trainers})


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
    settings = dict(PRESETS[args.preset])
    settings.update({k: v for k, v in vars(args).items() if k in ("depths", "steps", "width", "image_size") and v is not None})

    bars: dict[str, Any] = {}

    def show(event: dict[str, Any]) -> None:
        from tqdm import tqdm

        if event["network"] not in bars:
            bars[event["network"]] = tqdm(total=event["steps"], desc=event["network"], position=len(bars), dynamic_ncols=True)
        bar = bars[event["network"]]
        bar.update(event["step"] - bar.n)
        bar.set_postfix(error=f"{event['train_error']:.3f}", loss=f"{event['loss']:.3f}")

    try:
        result = run(**settings, data=args.data, seed=args.seed, shortcut=args.shortcut, device=args.device, on_progress=None if args.no_progress else show)
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
