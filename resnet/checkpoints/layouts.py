"""Reading the ``config.json`` of the three checkpoint layouts into a ``ModelConfig``.

- timm (``timm/resnet50.a1_in1k``): ``architecture`` and ``pretrained_cfg``; weights
  already carry torchvision's key names.
- transformers (``microsoft/resnet-50``): ``depths``, ``hidden_sizes``, ``layer_type``,
  ``id2label``; preprocessing from ``preprocessor_config.json``; weights renamed to
  torchvision's names by :func:`rename_transformers_keys`.
- ResNet Studio's own (``resnet.checkpoints.saving``): arch, labels and preprocessing.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import torch

from resnet.model import ARCHS
from resnet.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

from .config import FORMAT, CheckpointError, ModelConfig, imagenet_labels

__all__ = ["layout_of", "read_config", "rename_transformers_keys"]


def layout_of(raw: dict[str, Any], source: str) -> str:
    """``"resnet-studio"``, ``"timm"`` or ``"transformers"``: which layout a ``config.json`` is in."""
    if raw.get("format") == FORMAT:
        return FORMAT
    if "architecture" in raw or "pretrained_cfg" in raw:
        return "timm"
    if raw.get("model_type") == "resnet" or "ResNetForImageClassification" in raw.get("architectures", []):
        return "transformers"
    raise CheckpointError(
        f"{source}: config.json is neither a timm, a transformers nor a ResNet Studio ResNet config "
        f"(keys: {', '.join(sorted(raw)[:8])})"
    )


def read_config(raw: dict[str, Any], source: str, *, preprocessor: Optional[dict[str, Any]] = None) -> ModelConfig:
    """The ``ModelConfig`` a ``config.json`` describes (``preprocessor``: transformers' ``preprocessor_config.json``)."""
    layout = layout_of(raw, source)
    if layout == FORMAT:
        return _config_from_ours(raw, source)
    if layout == "timm":
        return _config_from_timm(raw, source)
    return _config_from_transformers(raw, preprocessor, source)


def _check_arch(arch: Any, source: str) -> str:
    if arch not in ARCHS:
        raise CheckpointError(f"{source}: architecture {arch!r} is not supported; ResNet Studio loads {', '.join(ARCHS)}")
    return arch


def _default_labels(num_classes: int) -> tuple[str, ...]:
    return imagenet_labels() if num_classes == 1000 else tuple(f"class {i}" for i in range(num_classes))


def _config_from_ours(raw: dict[str, Any], source: str) -> ModelConfig:
    try:
        labels = tuple(str(label) for label in raw["labels"])
        preprocessing = Preprocessing(
            crop_size=int(raw["crop_size"]),
            resize_size=int(raw["resize_size"]),
            interpolation=raw["interpolation"],
            mean=tuple(raw["mean"]),
            std=tuple(raw["std"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: config.json is incomplete or invalid ({e!r})", reason="damaged") from e
    return ModelConfig(_check_arch(raw.get("arch"), source), labels, preprocessing, layout=FORMAT, training=raw.get("training"))


def _config_from_timm(raw: dict[str, Any], source: str) -> ModelConfig:
    arch = _check_arch(raw.get("architecture"), source)
    if raw.get("model_args"):
        raise CheckpointError(f"{source}: timm model_args {raw['model_args']} change the architecture; not supported")
    cfg = raw.get("pretrained_cfg", {})
    num_classes = int(raw.get("num_classes", cfg.get("num_classes", 1000)))
    input_size = cfg.get("input_size", [3, 224, 224])
    preprocessing = Preprocessing.from_crop_pct(
        int(input_size[-1]),
        float(cfg.get("crop_pct", 0.875)),
        interpolation=cfg.get("interpolation", "bilinear"),
        mean=tuple(cfg.get("mean", IMAGENET_MEAN)),
        std=tuple(cfg.get("std", IMAGENET_STD)),
    )
    names = cfg.get("label_names") or raw.get("label_names")
    labels = tuple(str(n) for n in names) if names and len(names) == num_classes else _default_labels(num_classes)
    return ModelConfig(arch, labels, preprocessing, layout="timm")


# (layer_type, depths) -> our architecture; transformers' ResNet is v1.5 like ours.
_TRANSFORMERS_ARCHS = {
    ("basic", (2, 2, 2, 2)): "resnet18",
    ("basic", (3, 4, 6, 3)): "resnet34",
    ("bottleneck", (3, 4, 6, 3)): "resnet50",
    ("bottleneck", (3, 4, 23, 3)): "resnet101",
    ("bottleneck", (3, 8, 36, 3)): "resnet152",
}
_PIL_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def _config_from_transformers(raw: dict[str, Any], preprocessor: Optional[dict[str, Any]], source: str) -> ModelConfig:
    key = (raw.get("layer_type", "bottleneck"), tuple(raw.get("depths", ())))
    arch = _TRANSFORMERS_ARCHS.get(key)
    widths = [64, 128, 256, 512] if key[0] == "basic" else [256, 512, 1024, 2048]
    unsupported = (
        arch is None
        or list(raw.get("hidden_sizes", widths)) != widths
        or raw.get("embedding_size", 64) != 64
        or raw.get("hidden_act", "relu") != "relu"
        or raw.get("downsample_in_first_stage", False)
        or raw.get("downsample_in_bottleneck", False)
    )
    if unsupported:
        raise CheckpointError(
            f"{source}: this transformers ResNet (layer_type={key[0]}, depths={list(key[1])}) is not one of "
            f"{', '.join(ARCHS)}"
        )
    id2label = raw.get("id2label") or {}
    labels = tuple(str(id2label[str(i)]) for i in range(len(id2label))) if id2label else imagenet_labels()

    preprocessing = Preprocessing()
    if preprocessor:
        size = preprocessor.get("size", 224)
        crop = int(size.get("shortest_edge", 224) if isinstance(size, dict) else size)
        preprocessing = Preprocessing.from_crop_pct(
            crop,
            float(preprocessor.get("crop_pct") or 224 / 256),
            interpolation=_PIL_RESAMPLE.get(int(preprocessor.get("resample", 2)), "bilinear"),
            mean=tuple(preprocessor.get("image_mean", IMAGENET_MEAN)),
            std=tuple(preprocessor.get("image_std", IMAGENET_STD)),
        )
    return ModelConfig(arch, labels, preprocessing, layout="transformers")


_TRANSFORMERS_RENAMES = [
    (r"^resnet\.embedder\.embedder\.convolution\.", "conv1."),
    (r"^resnet\.embedder\.embedder\.normalization\.", "bn1."),
    (r"^resnet\.encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.convolution\.", "layer{s}.{b}.downsample.0."),
    (r"^resnet\.encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.normalization\.", "layer{s}.{b}.downsample.1."),
    (r"^resnet\.encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.convolution\.", "layer{s}.{b}.conv{c}."),
    (r"^resnet\.encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.normalization\.", "layer{s}.{b}.bn{c}."),
    (r"^classifier\.1\.", "fc."),
]


def rename_transformers_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers' ``ResNetForImageClassification`` names -> torchvision's."""
    renamed = {}
    for key, value in state_dict.items():
        new = key
        for pattern, template in _TRANSFORMERS_RENAMES:
            match = re.match(pattern, key)
            if match:
                # transformers counts stages and convolutions from 0, torchvision from 1.
                stage, block, conv = (list(map(int, match.groups())) + [0, 0, 0])[:3]
                new = template.format(s=stage + 1, b=block, c=conv + 1) + key[match.end() :]
                break
        renamed[new] = value
    return renamed
