"""The short on-device fine-tune the app runs: ``fit`` with fine-tuning defaults.

Strategies:
    "head"        freeze the backbone and train a new linear head. The frozen backbone
                  runs once: features of a few augmented views per image are computed
                  up front and the head trains on those, so each epoch costs almost nothing.
    "last-stage"  also train layer4.
    "full"        train everything, the backbone at a tenth of the head's learning rate.

"full" from a random initialisation (an architecture name) trains from scratch, with a recipe
of its own (``train.presets.SCRATCH``): ``train.presets.default_strategy`` names it for such a start, and
``train.presets.random_features`` says when a strategy would train a head on a random backbone's features. Before training, ``train.checks`` looks at the data: its errors stop
the fine-tune (``DataCheckError``), its warnings come back in ``FinetuneResult.warnings``.

``finetune`` (at the end) runs its steps in order: the settings (``_train_config``), the data decoded and checked,
the starting model and what of it trains on which inputs (``train.starting_model``: ``starting_point``,
``fit_inputs``), ``fit``, then the result packaged (``_result``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from resnet import Classifier
from resnet.checkpoints.config import ModelConfig
from resnet.devices import default_device
from resnet.transforms import Preprocessing

from .checks import DataCheckError, Problem, check_decoded
from .config import FinetuneOptions, FitOptions, FitResult, Hooks, TrainConfig
from .data import LabelledImages, in_memory, stratified_split
from .loop import fit
from .mistakes import Mistake, held_out_mistakes
from .presets import FINETUNE, SCRATCH, finetune_defaults, scratch_start
from .starting_model import Start, fit_inputs, starting_point

__all__ = ["FinetuneResult", "MAX_IMAGES", "OVERFIT_GAP", "finetune", "overfitting"]

MAX_IMAGES = 500  # a fine-tune in the app must finish in minutes on a laptop CPU
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


def _train_config(source: Classifier | str, strategy: str, epochs: Optional[int], options: FinetuneOptions) -> TrainConfig:
    """``fit``'s settings: the recipe for this start and strategy (``presets``), with what the caller chose instead."""
    defaults = finetune_defaults(source, strategy)  # raises for an unknown strategy
    recipe = SCRATCH if scratch_start(source, strategy) else FINETUNE
    if epochs is None:
        epochs = defaults["epochs"]
    elif epochs < 1:
        raise ValueError(f"epochs must be at least 1 (or None for the {strategy!r} default of {defaults['epochs']}), got {epochs}")
    return TrainConfig(
        epochs=epochs, batch_size=recipe.batch_size if options.batch_size is None else options.batch_size,
        lr=defaults["lr"] if options.lr is None else options.lr,  # TrainConfig rejects lr <= 0, naming it
        optimizer="adamw", weight_decay=recipe.weight_decay, schedule=recipe.schedule, warmup_epochs=recipe.warmup_share * epochs,
        label_smoothing=0.1, seed=options.seed, amp=options.amp,  # TrainConfig rejects an unknown amp, naming it
    )


def _by_class(pairs: Sequence[tuple[Any, str]]) -> dict[str, list[Any]]:
    """``[(image, class name)]`` as ``{class name: [images]}``, classes in order of first appearance."""
    grouped: dict[str, list[Any]] = {}
    for image, name in pairs:
        grouped.setdefault(name, []).append(image)
    return grouped


def _check(grouped: Mapping[str, Sequence[Any]], data: LabelledImages, preprocessing: Preprocessing) -> list[Problem]:
    """What ``train.checks`` finds in the decoded data: its errors raise ``DataCheckError``; the warnings are returned."""
    problems = check_decoded(grouped, data, min_side=preprocessing.crop_size)
    if any(p.severity == "error" for p in problems):
        raise DataCheckError([p for p in problems if p.severity == "error"])
    return problems


def _training_record(
    start: Start, data: LabelledImages, split: tuple[list[int], list[int]], strategy: str, config: TrainConfig, options: FinetuneOptions,
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """How the model was trained, as its ``ModelConfig.training`` (and so its model card) records it."""
    last = history[-1] if history else {}
    return {
        "base": start.base,
        "strategy": strategy,
        "epochs": config.epochs,
        "epochs_done": len(history),
        "lr": config.lr,
        "images": len(data),
        "held_out_images": len(split[1]),
        "held_out_top1": round(last["val_top1"], 4) if "val_top1" in last else None,
        "rotate90": options.rotate90,
    }


def _result(
    fitted: FitResult, start: Start, data: LabelledImages, split: tuple[list[int], list[int]], training: dict[str, Any], device: torch.device,
    problems: list[Problem],
) -> FinetuneResult:
    """The fine-tuned classifier with its history, held-out accuracy per class, confusion and held-out images."""
    labels = tuple(data.classes)
    # The last epoch's held-out evaluation ran on the final weights: its confusion matrix is the result's.
    confusion = fitted.confusion.numpy() if fitted.confusion is not None else np.zeros((len(labels), len(labels)), dtype=np.int64)
    per_class = {label: (float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else None) for i, label in enumerate(labels)}
    classifier = Classifier(start.model, ModelConfig(start.arch, labels, start.preprocessing, training=training), device=device)
    return FinetuneResult(
        classifier, fitted.history, per_class, confusion, stopped=fitted.stopped, stopped_epoch=fitted.stopped_epoch,
        held_out=[data.items[i] for i in split[1]], warnings=problems,
    )


def finetune(
    source: Classifier | str,
    samples: Mapping[str, Sequence[Any]] | Sequence[tuple[Any, str]],
    *,
    strategy: str = "head",
    epochs: Optional[int] = None,
    options: Optional[FinetuneOptions] = None,
    device: Optional[str | torch.device] = None,
    on_progress: Optional[Progress] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> FinetuneResult:
    """Fine-tune a ResNet on a handful of labelled images.

    Args:
        source: a ``Classifier`` (left unchanged), a Hub repo id or folder, or an
            architecture name such as ``"resnet18"`` (random initialisation: works offline).
        samples: ``{class name: [images]}`` or ``[(image, class name)]``; images as
            ``resnet.transforms.load_image`` accepts them. At most ``MAX_IMAGES``.
        strategy: ``"head"``, ``"last-stage"`` or ``"full"`` ("full" from an architecture name trains from scratch).
        epochs: at least 1; None: the default for the start and strategy (``finetune_defaults``).
        options: learning rate, batch size, held-out share, seed, cached views, quarter turns and
            precision (``FinetuneOptions``); None: its defaults.
        device: default: CUDA, then MPS, then CPU.
        on_progress: called with plain dicts: ``{"stage": "features", "progress": f}``
            while features are computed, then each epoch's record with ``"stage": "train"``.
        should_stop: asked before every training step; True ends the fine-tune there, and
            the result holds the epochs completed, with ``stopped`` set.

    Returns:
        A ``FinetuneResult``.

    Raises:
        ValueError: an unknown strategy, ``epochs`` below 1 (``FinetuneOptions`` refuses ``views`` below 1).
        train.data.DataError: fewer than two classes, a class without images, too many
            images, or unreadable images (named); ``train.checks.DataCheckError`` (a ``DataError``)
            for the errors ``train.checks`` finds, such as a class with a single image.
    """
    options = options or FinetuneOptions()
    config = _train_config(source, strategy, epochs, options)  # raises for an unknown strategy or epochs
    scratch = scratch_start(source, strategy)
    # 1) the data: decoded, then checked against the start's input size
    grouped = samples if isinstance(samples, Mapping) else _by_class(samples)
    data = in_memory(grouped, max_images=MAX_IMAGES)
    device = torch.device(device) if device is not None else default_device()
    generator = torch.Generator().manual_seed(options.seed)  # a random initialisation's numbers: see FinetuneOptions.seed
    start = starting_point(source, generator, scratch=scratch)
    problems = _check(grouped, data, start.preprocessing)
    # 2) the starting model with a new head, and what of it trains on which inputs
    start.model.reset_classifier(len(data.classes), generator=generator)
    start.model.to(device)
    split = stratified_split(data.targets, options.held_out, options.seed)
    report = on_progress or (lambda record: None)
    inputs = fit_inputs(start, data, split, strategy, options, scratch=scratch, device=device, report=report)
    if inputs.module is not start.model:  # the head alone, on cached features: fp32, no image layout
        config.channels_last, config.amp = False, "off"

    # 3) fit
    def on_epoch(record: dict[str, Any]) -> None:
        report({"stage": "train", "epochs": config.epochs, "progress": record["epoch"] / config.epochs, **record})

    fitted = fit(
        inputs.module, inputs.train, inputs.val, config, num_classes=len(data.classes),
        options=FitOptions(device=device, param_groups=inputs.groups), hooks=Hooks(on_epoch=[on_epoch], should_stop=should_stop),
    )
    # 4) the result: a classifier that records how it was trained
    start.model.eval().to(memory_format=torch.contiguous_format)  # the standard layout, as a loaded checkpoint has
    training = _training_record(start, data, split, strategy, config, options, fitted.history)
    return _result(fitted, start, data, split, training, device, problems)
