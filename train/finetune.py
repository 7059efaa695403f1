"""The short on-device fine-tune the app runs: ``fit`` with fine-tuning defaults.

Strategies:
    "head"        freeze the backbone and train a new linear head. The frozen backbone
                  runs once: features of a few augmented views per image are computed
                  up front and the head trains on those, so each epoch costs almost nothing.
    "last-stage"  also train layer4.
    "full"        train everything, the backbone at a tenth of the head's learning rate.

"full" from a random initialisation (an architecture name) trains from scratch, with a recipe
of its own (``SCRATCH``): ``default_strategy`` names it for such a start, and ``random_features``
says when a strategy would train a head on a random backbone's features. Before training, ``train.checks`` looks at the data: its errors stop
the fine-tune (``DataCheckError``), its warnings come back in ``FinetuneResult.warnings``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from resnet import ARCHS, Classifier, build
from resnet.devices import default_device
from resnet.hub import load_checkpoint
from resnet.config import ModelConfig
from resnet.transforms import Preprocessing, eval_transform

from .augment import AugmentedSubset, RandomCropFlip
from .augment_extra import RandomRotate90
from .checks import DataCheckError, Problem, check_decoded
from .data import TransformedSubset, in_memory, make_loader, stratified_split
from .config import TrainConfig
from .loop import amp_dtype, fit, set_trainable
from .mistakes import Mistake, held_out_mistakes
from .presets import (
    FINETUNE, SCRATCH, SCRATCH_PREPROCESSING, STRATEGIES, STRATEGY_DEFAULTS, Recipe, default_strategy, finetune_defaults, random_features, scratch_start,
)

__all__ = [
    "FINETUNE", "FinetuneResult", "MAX_IMAGES", "OVERFIT_GAP", "Recipe", "SCRATCH", "SCRATCH_PREPROCESSING", "STRATEGIES", "STRATEGY_DEFAULTS",
    "default_strategy", "finetune", "finetune_defaults", "overfitting", "random_features",
]

MAX_IMAGES = 500  # a fine-tune in the app must finish in minutes on a laptop CPU
BACKBONE_LR_SCALE = 0.1  # "full": the pretrained backbone moves ten times slower than the new head
# Training accuracy this far above held-out accuracy at the last epoch: the model learned its training images
# rather than the classes (a few dozen images from scratch do this; a head on pretrained features rarely does).
OVERFIT_GAP = 0.2

Progress = Callable[[dict[str, Any]], None]


def overfitting(history: Sequence[Mapping[str, Any]], *, gap: float = OVERFIT_GAP) -> Optional[tuple[float, float]]:
    """``(training top-1, held-out top-1)`` of the last epoch when the first beats the second by ``gap`` or more, else None.

    Args:
        history: ``FinetuneResult.history`` (or the records ``on_progress`` received so far).
        gap: the difference, as a share (0.2 = 20 points), that counts as fitting the training images far better.
    """
    last = history[-1] if history else {}
    if "train_top1" not in last or "val_top1" not in last:
        return None
    train_top1, val_top1 = float(last["train_top1"]), float(last["val_top1"])
    return (train_top1, val_top1) if train_top1 - val_top1 >= gap else None


@dataclass
class FinetuneResult:
    """A fine-tuned classifier and how it did.

    Attributes:
        classifier: predicts the new labels; ready for ``predict``, ``explain``, ``save_pretrained``.
        history: one record per completed epoch: ``train_loss`` and ``train_top1`` averaged over the epoch's
            augmented training batches as the weights changed (no extra pass), ``val_loss`` and ``val_top1``
            from an evaluation of the held-out images after the epoch.
        per_class_accuracy: held-out top-1 per label (None for a class with no held-out images).
        confusion: held-out counts, rows = true label, columns = predicted label.
        stopped: ``should_stop`` ended the fine-tune before its last epoch was complete.
        stopped_epoch: the epoch (1-based) it ended in, which ``history`` leaves out.
        held_out: the held-out images (upright RGB, as given) with their label indices; they are
            the full decoded photos, so keep a result only as long as its gallery is needed.
        warnings: what ``train.checks`` found doubtful in the data (training went ahead).
    """

    classifier: Classifier
    history: list[dict[str, Any]]
    per_class_accuracy: dict[str, Optional[float]]
    confusion: np.ndarray
    stopped: bool = False
    stopped_epoch: Optional[int] = None
    held_out: list[tuple[Image.Image, int]] = field(default_factory=list, repr=False)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """Class names in output order."""
        return self.classifier.labels

    def mistakes(self, *, limit: int = 24) -> list[Mistake]:
        """The held-out images the fine-tuned model gets wrong (``train.mistakes.held_out_mistakes``)."""
        by_label: dict[str, list[Image.Image]] = {label: [] for label in self.labels}
        for image, target in self.held_out:
            by_label[self.labels[target]].append(image)
        return held_out_mistakes(self.classifier, by_label, limit=limit)



def finetune(
    source: Classifier | str,
    samples: Mapping[str, Sequence[Any]] | Sequence[tuple[Any, str]],
    *,
    strategy: str = "head",
    epochs: Optional[int] = None,
    lr: Optional[float] = None,
    batch_size: Optional[int] = None,
    held_out: float = 0.2,
    seed: int = 0,
    views: int = 4,
    cache_features: bool = True,
    rotate90: bool = False,
    amp: str = "auto",
    device: Optional[str | torch.device] = None,
    on_progress: Optional[Progress] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> FinetuneResult:
    """Fine-tune a ResNet on a handful of labelled images.

    Args:
        source: a ``Classifier`` (left unchanged), a Hub repo id or folder, or an
            architecture name such as ``"resnet18"`` (random initialisation: works offline).
        samples: ``{class name: [images]}`` or ``[(image, class name)]``; images as
            ``resnet.load_image`` accepts them. At most ``MAX_IMAGES``.
        strategy: ``"head"``, ``"last-stage"`` or ``"full"`` ("full" from an architecture name trains from scratch).
        epochs: at least 1; None: the default for the start and strategy (``finetune_defaults``).
        lr: None: the default for the start and strategy.
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
        device: default: CUDA, then MPS, then CPU.
        on_progress: called with plain dicts: ``{"stage": "features", "progress": f}``
            while features are computed, then each epoch's record with ``"stage": "train"``.
        should_stop: asked before every training step; True ends the fine-tune there, and
            the result holds the epochs completed, with ``stopped`` set.

    Returns:
        A ``FinetuneResult``.

    Raises:
        ValueError: an unknown strategy, ``epochs`` below 1 or ``views`` below 1.
        train.data.DataError: fewer than two classes, a class without images, too many
            images, or unreadable images (named); ``train.checks.DataCheckError`` (a ``DataError``)
            for the errors ``train.checks`` finds, such as a class with a single image.
    """
    defaults = finetune_defaults(source, strategy)  # raises for an unknown strategy
    scratch = scratch_start(source, strategy)
    recipe = SCRATCH if scratch else FINETUNE
    if epochs is None:
        epochs = defaults["epochs"]
    elif epochs < 1:
        raise ValueError(f"epochs must be at least 1 (or None for the {strategy!r} default of {defaults['epochs']}), got {epochs}")
    lr = defaults["lr"] if lr is None else lr  # TrainConfig rejects lr <= 0, naming it
    if views < 1:
        raise ValueError(f"views must be at least 1, got {views}")
    grouped = samples if isinstance(samples, Mapping) else _by_class(samples)
    data = in_memory(grouped, max_images=MAX_IMAGES)
    device = torch.device(device) if device is not None else default_device()
    generator = torch.Generator().manual_seed(seed)  # a random initialisation's numbers: see ``seed`` above
    model, arch, preprocessing, base = _starting_point(source, generator, scratch=scratch)
    problems = check_decoded(grouped, data, min_side=preprocessing.crop_size)
    if any(p.severity == "error" for p in problems):
        raise DataCheckError([p for p in problems if p.severity == "error"])
    labels = tuple(data.classes)
    num_classes = len(labels)
    config = TrainConfig(
        epochs=epochs, batch_size=recipe.batch_size if batch_size is None else batch_size, lr=lr, optimizer="adamw",
        weight_decay=recipe.weight_decay, schedule=recipe.schedule, warmup_epochs=recipe.warmup_share * epochs, label_smoothing=0.1, seed=seed,
        amp=amp,  # TrainConfig rejects an unknown value, naming it
    )
    train_idx, val_idx = stratified_split(data.targets, held_out, seed)
    report = on_progress or (lambda record: None)

    def on_epoch(record: dict[str, Any]) -> None:
        report({"stage": "train", "epochs": epochs, "progress": record["epoch"] / epochs, **record})

    model.reset_classifier(num_classes, generator=generator)
    model.to(device)
    groups = None
    augment: Any = RandomCropFlip(preprocessing, scale=recipe.crop_scale)
    if rotate90:
        augment = RandomRotate90(augment)
    if strategy == "head" and cache_features:
        # The frozen backbone runs once; the head alone is trained, on its outputs. Each view of an image is its own sample.
        views_set = AugmentedSubset(data, [i for i in train_idx for _ in range(views)], augment, seed=seed)
        precision = amp_dtype(amp, device)
        train_set = _features(model, views_set, device, precision, lambda share: report({"stage": "features", "progress": share}))
        val_set = _features(model, TransformedSubset(data, val_idx, eval_transform(preprocessing)), device, precision) if val_idx else None
        trained, config.channels_last, config.amp = model.fc, False, "off"
    else:
        set_trainable(model, {"head": "backbone", "last-stage": "last-stage", "full": "none"}[strategy])
        if strategy == "full" and not scratch:  # from scratch there is no trained backbone to protect
            backbone = [p for name, p in model.named_parameters() if not name.startswith("fc.")]
            groups = [{"params": backbone, "lr_scale": BACKBONE_LR_SCALE}, {"params": list(model.fc.parameters())}]
        train_set = AugmentedSubset(data, train_idx, augment, seed=seed)
        val_set = TransformedSubset(data, val_idx, eval_transform(preprocessing)) if val_idx else None
        trained = model
    fitted = fit(trained, train_set, val_set, config, num_classes=num_classes, device=device, param_groups=groups, on_epoch=[on_epoch], should_stop=should_stop)
    history = fitted.history
    model.eval().to(memory_format=torch.contiguous_format)  # the standard layout, as a loaded checkpoint has

    # The last epoch's held-out evaluation ran on the final weights: its confusion matrix is the result's.
    confusion = fitted.confusion.numpy() if fitted.confusion is not None else np.zeros((num_classes, num_classes), dtype=np.int64)
    per_class = {
        label: (float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else None) for i, label in enumerate(labels)
    }
    last = history[-1] if history else {}
    training = {
        "base": base,
        "strategy": strategy,
        "epochs": epochs,
        "epochs_done": len(history),
        "lr": lr,
        "images": len(data),
        "held_out_images": len(val_idx),
        "held_out_top1": round(last["val_top1"], 4) if "val_top1" in last else None,
        "rotate90": rotate90,
    }
    classifier = Classifier(model, ModelConfig(arch, labels, preprocessing, training=training), device=device)
    return FinetuneResult(
        classifier, history, per_class, confusion, stopped=fitted.stopped, stopped_epoch=fitted.stopped_epoch,
        held_out=[data.items[i] for i in val_idx], warnings=problems,
    )


def _by_class(pairs: Sequence[tuple[Any, str]]) -> dict[str, list[Any]]:
    """``[(image, class name)]`` as ``{class name: [images]}``, classes in order of first appearance."""
    grouped: dict[str, list[Any]] = {}
    for image, name in pairs:
        grouped.setdefault(name, []).append(image)
    return grouped


def _starting_point(source: Classifier | str, generator: torch.Generator, *, scratch: bool) -> tuple[nn.Module, str, Preprocessing, str]:
    """A private copy of the model to fine-tune, its arch, its preprocessing and where it came from.

    A random initialisation (``source`` an architecture name) draws from ``generator``; from ``scratch``
    it zeroes each block's last norm (Goyal et al., 2017: every block starts as the identity, which
    steadies the first steps) and takes the smaller ``SCRATCH_PREPROCESSING``.
    """
    if isinstance(source, Classifier):
        return copy.deepcopy(source.model).cpu(), source.config.arch, source.config.preprocessing, source.config.source or source.config.arch
    if source in ARCHS:
        model = build(source, generator=generator, zero_init_residual=scratch)
        return model, source, SCRATCH_PREPROCESSING if scratch else Preprocessing(), f"{source} (random initialisation)"
    model, config = load_checkpoint(str(source))  # not Classifier.from_pretrained: its inference fast path would go unused
    return model, config.arch, config.preprocessing, config.source


def _features(
    model: nn.Module,
    images: Dataset,
    device: torch.device,
    precision: Optional[torch.dtype],
    report: Optional[Callable[[float], None]] = None,
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
