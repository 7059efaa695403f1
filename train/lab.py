"""The residual learning lab: the degradation experiment of the paper's Fig. 6, small enough for a laptop CPU.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), section 4.2: a deeper
plain net ends with a *higher training error* than a shallower one (it is harder to optimise;
this is not overfitting), while the residual twin of the deeper net trains well. ``run``
trains the plain and the residual net of each depth in lockstep: at every step every network
takes the same batch, with the same schedule, so what differs is the architecture alone.

    python -m train.lab                                   # the default preset: depths 20 and 56
    python -m train.lab --preset quick --out lab.json --plot lab.png
    python -m train.lab --data cifar10 --width 16 --image-size 32 --steps 64000 --depths 20 32 44 56

The running training error is the error of the training batches as they are trained on
(train mode), averaged over the last ``SMOOTHING`` steps. At the end each network's error is
measured again over the whole training set and over the held-out set, in eval mode.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import Tensor, nn

from resnet.cifar import SHORTCUTS, blocks_per_stage, cifar_resnet
from resnet.devices import default_device
from resnet.transforms import load_image

from .data import DataError, image_folder, in_memory, random_patches, read_zip_samples, stratified_split

__all__ = [
    "PRESETS", "PAPER_TABLE6", "SMOOTHING", "LabData", "LabResult", "NetworkResult",
    "batch_order", "describe", "describe_text", "load_data", "lr_at", "main", "run",
]

# Settings the app offers; their times on 2 CPU cores are in docs/LAB.md. Width 8 on 16-pixel
# patches is what makes the four nets of depth 20 and 56 train in about three minutes there.
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
# The paper's Table 6 (CIFAR-10 test error %, option A, 64k iterations): depth -> (params in millions, error).
# Plain nets are not in the table: Fig. 6 shows them only as curves (plain-110 above 60% error).
PAPER_TABLE6: dict[int, tuple[float, float]] = {20: (0.27, 8.75), 32: (0.46, 7.51), 44: (0.66, 7.17), 56: (0.85, 6.97), 110: (1.7, 6.43), 1202: (19.4, 7.93)}
# The offline data: patches of the photos the app ships; the class is the photo a patch comes from.
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PATCHES_PER_CLASS = (256, 64)  # training, held out
SHRINK_TO = 12  # image sizes: each photo's shorter side is shrunk to this, so a patch shows part of a scene, not grain
GRID = 4  # each photo is cut into 4 x 4 tiles; patches come from the white squares (training) or the black (held out)
MAX_IMAGES = 60_000  # the user's folder or zip; all of it is held in memory
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@dataclass
class LabData:
    """Images as uint8 tensors (N, 3, S, S) with their labels, the class names and where they came from."""

    train_x: Tensor
    train_y: Tensor
    held_x: Tensor
    held_y: Tensor
    classes: list[str]
    source: str

    def normalizer(self) -> Callable[[Tensor], Tensor]:
        """A function from uint8 images to floats, less the training set's per-channel mean, over its std."""
        channels = self.train_x.transpose(0, 1).reshape(3, -1)
        stats = torch.tensor([[c.float().mean(), c.float().std()] for c in channels])  # a channel at a time: CIFAR-10 is 150 MB
        mean, std = stats[:, 0].view(1, 3, 1, 1), stats[:, 1].clamp_min(1.0).view(1, 3, 1, 1)
        return lambda images: (images.float() - mean) / std

    def describe(self) -> dict[str, Any]:
        """The data as settings: source, classes and set sizes."""
        return {"data": self.source, "classes": self.classes, "train_images": len(self.train_y), "held_out_images": len(self.held_y)}


def load_data(data: Optional[str | Path], *, image_size: int, seed: int) -> LabData:
    """The lab's images, at ``image_size`` pixels square, held in memory.

    Args:
        data: ``None``: patches of the photos in examples/, the class being the photo a patch comes
            from; a fixed training set of 256 a class from one half of a 4 x 4 checkerboard of tiles
            of each photo, and 64 held out from the other half (so no patch overlaps the other set).
            A folder (``<class>/<image>``) or a .zip of class folders: centre-cropped and resized,
            a fifth of each class held out. ``"cifar10"``: CIFAR-10's training and test sets through
            torchvision, from ``$CIFAR10_ROOT`` (default ~/.cache/resnet-studio/cifar10), downloaded if absent.
        image_size: side of the images in pixels.
        seed: seeds the patch positions and the split.

    Returns:
        A ``LabData``.

    Raises:
        train.DataError: the folder or zip is unusable, or CIFAR-10 could not be fetched (the message says what to do).
    """
    if data is None:
        return _photo_patches(image_size, seed)
    if str(data) == "cifar10":
        return _cifar10(image_size)
    return _folder_images(Path(data), image_size, seed)


def _stack(images: Sequence[Image.Image], labels: Sequence[int], size: int) -> list[Tensor]:
    pixels = torch.from_numpy(np.stack([np.asarray(im.convert("RGB")) for im in images])) if images else torch.zeros(0, size, size, 3)
    return [pixels.permute(0, 3, 1, 2).to(torch.uint8).contiguous(), torch.tensor(labels, dtype=torch.long)]


def _photo_patches(image_size: int, seed: int) -> LabData:
    paths = sorted(p for p in EXAMPLES.iterdir() if p.suffix.lower() in (".png", ".jpg"))
    parts: tuple[list, list] = ([], [])
    for target, path in enumerate(paths):
        photo = load_image(path)
        scale = SHRINK_TO * image_size / min(photo.size)
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BICUBIC)
        w, h = photo.width // GRID, photo.height // GRID
        for part, (count, out) in enumerate(zip(PATCHES_PER_CLASS, parts)):
            tiles = [(i * w, j * h, (i + 1) * w, (j + 1) * h) for i in range(GRID) for j in range(GRID) if (i + j) % 2 == part]
            for k, box in enumerate(tiles):
                n = count // len(tiles) + (k < count % len(tiles))
                out += [(p, target) for p in random_patches(photo, image_size, n, seed=(seed * 100 + target) * 100 + k, box=box)]
    tensors = [t for part in parts for t in _stack(*zip(*part), image_size)]
    return LabData(*tensors, [p.stem for p in paths], f"photo patches ({EXAMPLES.name}/)")


def _folder_images(path: Path, image_size: int, seed: int) -> LabData:
    if path.suffix.lower() == ".zip":
        samples, notes = read_zip_samples(path, max_images=MAX_IMAGES)
        dataset = in_memory(samples, max_images=MAX_IMAGES)
        source = f"{path.name} ({len(notes)} files skipped)" if notes else path.name
    else:
        dataset, source = image_folder(path), path.name
    if len(dataset) > MAX_IMAGES:
        raise DataError(f"{path} holds {len(dataset)} images, over the lab's limit of {MAX_IMAGES}; use fewer")
    tensors = []
    for split in stratified_split(dataset.targets, 0.2, seed):
        images = [ImageOps.fit(dataset[i][0], (image_size, image_size), Image.Resampling.BICUBIC) for i in split]
        tensors += _stack(images, [dataset.targets[i] for i in split], image_size)
    return LabData(*tensors, dataset.classes, source)


def _cifar10(image_size: int) -> LabData:
    from torchvision.datasets import CIFAR10  # torchvision loads torch._dynamo: only when asked for

    root = Path(os.environ.get("CIFAR10_ROOT", Path.home() / ".cache" / "resnet-studio" / "cifar10"))
    try:
        sets = [CIFAR10(str(root), train=train, download=True) for train in (True, False)]
    except (OSError, RuntimeError) as e:  # URLError is an OSError; a broken archive is a RuntimeError
        raise DataError(
            f"CIFAR-10 could not be fetched into {root} ({e}). On a machine with network access, download {CIFAR10_URL}, "
            f"unpack it into {root} (so that {root}/cifar-10-batches-py exists) or set CIFAR10_ROOT to the folder holding "
            "cifar-10-batches-py; or leave data unset to use the offline photo patches."
        ) from e
    tensors = []
    for s in sets:
        x = torch.from_numpy(s.data).permute(0, 3, 1, 2).contiguous()
        if image_size != x.shape[-1]:  # 5,000 at a time: all 50,000 as floats would take 600 MB
            resize = lambda c: F.interpolate(c.float(), size=(image_size, image_size), mode="bilinear", antialias=True)  # noqa: E731
            x = torch.cat([resize(chunk).round().clamp(0, 255).to(torch.uint8) for chunk in x.split(5000)])
        tensors += [x, torch.tensor(s.targets, dtype=torch.long)]
    return LabData(*tensors, list(sets[0].classes), "CIFAR-10")


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
        data: None for patches of the photos in examples/ (the class is the photo a patch comes from),
            an ImageFolder folder or a .zip of class folders, or ``"cifar10"``; see ``load_data``.
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
        ValueError: a bad depth, size or setting; ``train.DataError`` for unusable data.
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
    normalize = lab_set.normalizer()
    order = batch_order(len(lab_set.train_y), batch_size, seed=seed)  # raises now if batch_size does not fit the data

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


def _error_of(net: NetworkResult) -> float:
    """The whole-set training error, or the last running error of a stopped run."""
    return net.final_train_error if net.final_train_error is not None else net.train_error[-1][1]


def describe(result: LabResult) -> list[tuple[str, dict[str, Any]]]:
    """What the run shows, as ``(message code, parameters)`` pairs for a UI to phrase in its language.

    Codes: ``measure`` (which error is compared), ``plain_deeper_worse`` / ``plain_deeper_not_worse``
    (the deepest plain net against the shallowest), ``residual_better`` / ``residual_not_better`` (per
    depth), ``long_training`` (a note on training length), ``paper_resnet`` (Table 6, per depth the paper
    lists) and ``paper_plain`` (what the paper says of plain nets). Errors are fractions in [0, 1].
    ``describe_text`` gives the English wording.

    Args:
        result: a ``LabResult``; networks without a single curve point are left out.

    Returns:
        The messages, in reading order.
    """
    nets = {name: net for name, net in result.networks.items() if net.train_error}
    depths = sorted({net.depth for net in nets.values()})
    steps = max((net.steps_done for net in nets.values()), default=0)
    final = all(net.final_train_error is not None for net in nets.values())
    messages: list[tuple[str, dict[str, Any]]] = [("measure", {"final": final, "steps": steps, "smoothing": result.settings["smoothing"]})]
    plain = {d: _error_of(nets[f"plain-{d}"]) for d in depths if f"plain-{d}" in nets}
    residual = {d: _error_of(nets[f"residual-{d}"]) for d in depths if f"residual-{d}" in nets}
    if len(plain) >= 2:
        low, high = min(plain), max(plain)
        code = "plain_deeper_worse" if plain[high] > plain[low] else "plain_deeper_not_worse"
        messages.append((code, {"shallow": low, "deep": high, "shallow_error": plain[low], "deep_error": plain[high], "difference": plain[high] - plain[low]}))
    for d in depths:
        if d in plain and d in residual:
            code = "residual_better" if residual[d] < plain[d] else "residual_not_better"
            messages.append((code, {"depth": d, "plain_error": plain[d], "residual_error": residual[d], "difference": plain[d] - residual[d]}))
    messages.append(("long_training", {"steps": steps, "paper_iterations": 64_000}))
    for d in depths:
        if d in PAPER_TABLE6:
            messages.append(("paper_resnet", {"depth": d, "params_millions": PAPER_TABLE6[d][0], "test_error_percent": PAPER_TABLE6[d][1]}))
    messages.append(("paper_plain", {"plain_110_error_above_percent": 60}))
    return messages


_ENGLISH = {
    "measure": "Compared: {what} after {steps} steps.",
    "plain_deeper_worse": "Degradation: plain-{deep} ends with a higher training error than plain-{shallow} "
    "({deep_error:.1%} vs {shallow_error:.1%}, {difference:+.1%}): the deeper plain net is harder to optimise.",
    "plain_deeper_not_worse": "No degradation this time: plain-{deep} ends at {deep_error:.1%} training error, "
    "plain-{shallow} at {shallow_error:.1%} ({difference:+.1%}).",
    "residual_better": "At {depth} layers the residual net fits better than its plain twin: {residual_error:.1%} vs {plain_error:.1%}.",
    "residual_not_better": "At {depth} layers the residual net does not beat its plain twin: {residual_error:.1%} vs {plain_error:.1%}.",
    "long_training": "Note: deeper residual nets overtake shallower ones only after long training "
    "(the paper trains {paper_iterations:,} iterations; this run {steps:,} steps).",
    "paper_resnet": "Paper, Table 6: ResNet-{depth} ({params_millions}M parameters) has {test_error_percent}% CIFAR-10 test error.",
    "paper_plain": "Paper: plain nets appear only as curves (Fig. 6); their error rises with depth, plain-110's is above {plain_110_error_above_percent}%.",
}


def describe_text(result: LabResult) -> str:
    """``describe`` in English, one sentence a line.

    Args:
        result: a ``LabResult``.

    Returns:
        The text.
    """
    lines = []
    for code, params in describe(result):
        if code == "measure":
            what = "the training error over the whole training set (eval mode)" if params["final"] else f"the running training error (last {params['smoothing']} batches; the run was stopped)"
            params = {**params, "what": what}
        lines.append(_ENGLISH[code].format(**params))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m train.lab``: run a preset (flags override it), print the findings, write JSON / a plot; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m train.lab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=list(PRESETS), default="default", help="settings to start from (default: default)")
    parser.add_argument("--depths", type=int, nargs="+", help="depths, each 6n+2 (preset: 20 56)")
    parser.add_argument("--steps", type=int, help="SGD steps per network")
    parser.add_argument("--width", type=int, help="filters of the first stage (the paper: 16)")
    parser.add_argument("--image-size", type=int, help="image side in pixels")
    parser.add_argument("--data", default=None, help="ImageFolder folder, .zip of class folders, or cifar10 (default: photo patches)")
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
