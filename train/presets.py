"""Named settings for ``python -m train --preset NAME``: flag values; flags given explicitly win.

``seed-tiny-imagenet`` is the tutorial this project's Tiny ImageNet numbers start from, as it
is written: ResNet-18 (7x7 stem and max-pool), every image resized to 224 px, ``ToTensor``,
``Normalize`` with the ImageNet mean and std and no augmentation, Adam at 1e-3, batch 64,
15 epochs, fp32, the contiguous layout, no loader workers, each image prepared in the loader.

``tiny-imagenet`` is what we recommend for the same data on a GPU. Tiny ImageNet's images
are 64 px. The usual change for such small inputs is a 3x3 stride-1 stem without the max-pool,
which ``resnet.build`` cannot make (its checkpoints name only an architecture, and every
architecture has the 7x7 stem), so the recipe keeps the stock ResNet-18 and upsamples the input
to 128 px on the device instead: the last stage then sees 4x4 maps rather than 2x2, at a
third of the tutorial's 224 px cost. SGD with Nesterov momentum at batch 256, a linear warm-up
of two epochs then a cosine decay, label smoothing 0.1, weight decay 5e-4, random-resized crops
keeping at least 35% of the area, and flips, in bf16 where the device computes it fast, in the
channels-last layout, with the decoded set kept on the device when it fits.

The app's fine-tunes have recipes too, chosen by where they start and what they train:
``finetune_defaults`` (epochs and learning rate), ``Recipe`` (``FINETUNE`` from trained weights,
``SCRATCH`` from a random initialisation) and ``default_strategy`` (what to train from a start).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from resnet import ARCHS, Classifier
from resnet.transforms import Preprocessing

__all__ = [
    "FINETUNE", "PRESETS", "Preset", "Recipe", "SCRATCH", "SCRATCH_PREPROCESSING", "STRATEGIES", "STRATEGY_DEFAULTS",
    "default_strategy", "finetune_defaults", "preset", "random_features", "scratch_start",
]


@dataclass(frozen=True)
class Preset:
    """A named set of ``python -m train`` flag values.

    Attributes:
        name: what ``--preset`` takes.
        summary: one line for ``--help``.
        values: argparse destinations (``batch_size``, ``input_size``, ...) and their values.
    """

    name: str
    summary: str
    values: Mapping[str, Any]


_TUTORIAL = Preset(
    "seed-tiny-imagenet",
    "the tutorial as written: ResNet-18, Resize(224) + ToTensor + Normalize, Adam 1e-3, batch 64, 15 epochs, fp32",
    MappingProxyType({
        "arch": "resnet18",
        "weights": None,  # trained from a random initialisation
        "input_size": 224,
        "resize_size": 224,  # Resize(224) of a square image: the whole image, no crop
        "epochs": 15,
        "batch_size": 64,
        "optimizer": "adam",
        "lr": 1e-3,
        "weight_decay": 0.0,  # torch.optim.Adam's default
        "schedule": "constant",
        "warmup_epochs": 0.0,
        "label_smoothing": 0.0,  # plain nn.CrossEntropyLoss()
        "amp": "off",
        "channels_last": False,
        "workers": 0,
        "pipeline": "cpu",
        "augment": "none",
        "data_on_device": "off",
        "compile": False,
    }),
)

_RECOMMENDED = Preset(
    "tiny-imagenet",
    "our recipe for Tiny ImageNet on a GPU: 128 px on the device, SGD Nesterov, cosine with warm-up, label smoothing, bf16",
    MappingProxyType({
        "arch": "resnet18",
        "weights": None,
        "input_size": 128,
        "resize_size": 128,  # evaluation: the whole 64 px image, upsampled
        "decode_size": 64,  # Tiny ImageNet's own size: decoded once, upsampled by the crop on the device
        "epochs": 30,
        "batch_size": 256,
        "optimizer": "sgd",
        "lr": 0.2,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "cosine",
        "warmup_epochs": 2.0,
        "label_smoothing": 0.1,
        "amp": "auto",
        "channels_last": True,
        "workers": -1,
        "pipeline": "auto",
        "augment": "random-resized-crop",
        "min_crop_scale": 0.35,  # at 64 px, torchvision's 8% would leave crops of 18 px
        "data_on_device": "auto",
        "compile": False,  # compiling takes minutes; turn it on with --compile for long runs
    }),
)

PRESETS: Mapping[str, Preset] = MappingProxyType({p.name: p for p in (_TUTORIAL, _RECOMMENDED)})


def preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        ValueError: no preset has that name.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


STRATEGIES = ("head", "last-stage", "full")
# Few epochs, small constant learning rate (AdamW), as nanoGPT's fine-tuning config does.
STRATEGY_DEFAULTS = {
    "head": {"epochs": 20, "lr": 3e-3},
    "last-stage": {"epochs": 6, "lr": 1e-3},
    "full": {"epochs": 6, "lr": 1e-3},
    "scratch": {"epochs": 20, "lr": 2e-3},  # "full" from a random initialisation: see SCRATCH
}


@dataclass(frozen=True)
class Recipe:
    """What else, besides epochs and learning rate, differs between fine-tuning a trained network and training one from scratch."""

    schedule: str  # TrainConfig.schedule
    warmup_share: float  # linear warm-up, as a share of all epochs
    weight_decay: float  # AdamW's
    crop_scale: tuple[float, float]  # RandomCropFlip's range of the crop's share of the image area
    batch_size: int  # images per step unless finetune is given another


FINETUNE = Recipe(schedule="constant", warmup_share=0.0, weight_decay=1e-4, crop_scale=(0.08, 1.0), batch_size=32)
# From scratch, on a few dozen photos: a random network needs warm-up before full steps (its first gradients are
# large and noisy) and a decay to settle; strong weight decay and crops that keep at least a quarter of the photo
# stand in for the data it lacks; smaller batches give it more steps per epoch.
SCRATCH = Recipe(schedule="cosine", warmup_share=0.1, weight_decay=0.05, crop_scale=(0.25, 1.0), batch_size=16)
# A random start owes nothing to 224 px: at 112 px an epoch costs a quarter as much, which buys the extra epochs.
SCRATCH_PREPROCESSING = Preprocessing.from_crop_pct(112, 0.875)


def finetune_defaults(source: Classifier | str, strategy: str) -> dict[str, Any]:
    """The epochs and learning rate ``finetune`` uses for this start and strategy when they are not given.

    Raises:
        ValueError: an unknown strategy.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    return dict(STRATEGY_DEFAULTS["scratch" if scratch_start(source, strategy) else strategy])


def default_strategy(source: Classifier | str) -> str:
    """The strategy to start from ``source`` with: "full" (the scratch recipe) from a random initialisation, else "head"."""
    return "full" if _random_start(source) else "head"


def random_features(source: Classifier | str, strategy: str) -> bool:
    """True when ``strategy`` would leave a randomly initialised backbone (mostly) frozen: the head then learns from
    random features, and held-out accuracy stays near chance. ``finetune`` trains it anyway (it is quick, and shows why
    pretrained features matter); a page should say so, or pick "full"."""
    return _random_start(source) and strategy != "full"


def _random_start(source: Classifier | str) -> bool:
    return isinstance(source, str) and source in ARCHS


def scratch_start(source: Classifier | str, strategy: str) -> bool:
    """True when ``finetune`` trains from scratch: "full" from a random initialisation (an architecture name)."""
    return strategy == "full" and _random_start(source)
