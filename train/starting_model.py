"""Where a fine-tune starts and what of it trains: a private copy of the source network (``starting_point``), then,
for the strategy asked, the frozen parts and the data sets ``fit`` trains on (``fit_inputs``): for "head", the
frozen backbone's pooled features, computed once (``backbone_features``)."""

from __future__ import annotations

import copy
from typing import Any, Callable, NamedTuple, Optional

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from resnet import ARCHS, Classifier, build
from resnet.checkpoints.hub import load_checkpoint
from resnet.transforms import Preprocessing, eval_transform

from .augment import AugmentedSubset, RandomCropFlip
from .augment_extra import RandomRotate90
from .config import FinetuneOptions
from .data import LabelledImages, TransformedSubset, make_loader
from .loop import amp_dtype, set_trainable
from .presets import FINETUNE, SCRATCH, SCRATCH_PREPROCESSING

__all__ = ["BACKBONE_LR_SCALE", "FitInputs", "Start", "backbone_features", "fit_inputs", "starting_point"]

BACKBONE_LR_SCALE = 0.1  # "full": the pretrained backbone moves ten times slower than the new head


class Start(NamedTuple):
    """Where a fine-tune starts: a private copy of the network, its architecture and preprocessing, where it came from."""

    model: nn.Module
    arch: str
    preprocessing: Preprocessing
    base: str


class FitInputs(NamedTuple):
    """What ``fit`` trains (the whole network, or its head alone), on which data sets, in which optimiser groups."""

    module: nn.Module
    train: Dataset
    val: Optional[Dataset]
    groups: Optional[list[dict[str, Any]]]


def starting_point(source: Classifier | str, generator: torch.Generator, *, scratch: bool) -> Start:
    """A private copy of the model to fine-tune, its arch, its preprocessing and where it came from.

    A random initialisation (``source`` an architecture name) draws from ``generator``; from ``scratch``
    it zeroes each block's last norm (Goyal et al., 2017: every block starts as the identity, which
    steadies the first steps) and takes the smaller ``SCRATCH_PREPROCESSING``.
    """
    if isinstance(source, Classifier):
        return Start(copy.deepcopy(source.model).cpu(), source.config.arch, source.config.preprocessing, source.config.source or source.config.arch)
    if source in ARCHS:
        model = build(source, generator=generator, zero_init_residual=scratch)
        return Start(model, source, SCRATCH_PREPROCESSING if scratch else Preprocessing(), f"{source} (random initialisation)")
    model, config = load_checkpoint(str(source))  # not Classifier.from_pretrained: its inference fast path would go unused
    return Start(model, config.arch, config.preprocessing, config.source)


def backbone_features(
    model: nn.Module, images: Dataset, device: torch.device, precision: Optional[torch.dtype], report: Optional[Callable[[float], None]] = None,
) -> TensorDataset:
    """Pooled backbone features of every ``(image tensor, label)`` in ``images``, with their labels, computed under autocast to ``precision`` (None: fp32)."""
    features, targets = [], []
    loader = make_loader(images, 32, shuffle=False)
    model.eval().to(memory_format=torch.channels_last)  # the layout fit() would train the backbone in
    with torch.no_grad(), torch.autocast(device.type, dtype=precision or torch.float32, enabled=precision is not None):
        for n, (x, y) in enumerate(loader, 1):
            x = x.to(device).contiguous(memory_format=torch.channels_last)
            features.append(model.forward_head(model.forward_features(x), pre_logits=True).float())
            targets.append(y.to(device))
            if report:
                report(n / len(loader))
    return TensorDataset(torch.cat(features), torch.cat(targets))


def fit_inputs(
    start: Start, data: LabelledImages, split: tuple[list[int], list[int]], strategy: str, options: FinetuneOptions, *,
    scratch: bool, device: torch.device, report: Callable[[dict[str, Any]], None],
) -> FitInputs:
    """Freeze what ``strategy`` keeps and build the training and held-out sets (for "head", of cached features)."""
    train_idx, val_idx = split
    augment: Any = RandomCropFlip(start.preprocessing, scale=(SCRATCH if scratch else FINETUNE).crop_scale)
    if options.rotate90:
        augment = RandomRotate90(augment)
    held_out = TransformedSubset(data, val_idx, eval_transform(start.preprocessing)) if val_idx else None
    model = start.model
    if strategy == "head" and options.cache_features:
        # The frozen backbone runs once; the head alone is trained, on its outputs. Each view of an image is its own sample.
        views = AugmentedSubset(data, [i for i in train_idx for _ in range(options.views)], augment, seed=options.seed)
        precision = amp_dtype(options.amp, device)
        train_set = backbone_features(model, views, device, precision, lambda share: report({"stage": "features", "progress": share}))
        val_set = backbone_features(model, held_out, device, precision) if held_out is not None else None
        return FitInputs(model.fc, train_set, val_set, None)
    set_trainable(model, {"head": "backbone", "last-stage": "last-stage", "full": "none"}[strategy])
    groups = None
    if strategy == "full" and not scratch:  # from scratch there is no trained backbone to protect
        backbone = [p for name, p in model.named_parameters() if not name.startswith("fc.")]
        groups = [{"params": backbone, "lr_scale": BACKBONE_LR_SCALE}, {"params": list(model.fc.parameters())}]
    return FitInputs(model, AugmentedSubset(data, train_idx, augment, seed=options.seed), held_out, groups)
