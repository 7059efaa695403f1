"""Checkpoints from the Hugging Face Hub and local folders, in three layouts.

- timm (``timm/resnet50.a1_in1k``): ``config.json`` with ``architecture`` and
  ``pretrained_cfg``; ``model.safetensors`` with torchvision's key names.
- transformers (``microsoft/resnet-50``): ``config.json`` with ``depths``,
  ``hidden_sizes``, ``layer_type``, ``id2label``; keys renamed to ours on load;
  preprocessing from ``preprocessor_config.json``.
- ResNet Studio's own (``save_checkpoint``): ``config.json`` with arch, labels and
  preprocessing, ``model.safetensors`` and a ``README.md`` model card.

This follows huggingface_hub's ``ModelHubMixin`` conventions (a folder or a repo
id through one path, ``config.json`` + ``model.safetensors`` + model card, an
existing card never overwritten, ``push_to_hub`` = save to a temporary folder and
upload), but loads strictly: every key and shape must match. Weights come from
safetensors, or ``torch.load(weights_only=True)`` for ``.bin``/``.pth``; nothing
is ever unpickled.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from .model import ARCHS, ResNet, build
from .transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

__all__ = [
    "CheckpointError",
    "DEFAULT_CHECKPOINTS",
    "ModelConfig",
    "imagenet_labels",
    "load_checkpoint",
    "save_checkpoint",
    "push_checkpoint",
    "parse_source",
    "atomic_write",
]

# One checkpoint per depth, with the ImageNet-1k top-1 (%) torchvision publishes for these weights
# (timm's *.tv_in1k / *.tv2_in1k repos hold torchvision's weights; tests check the numbers).
DEFAULT_CHECKPOINTS: dict[str, tuple[str, float]] = {
    "resnet18": ("timm/resnet18.tv_in1k", 69.758),
    "resnet34": ("timm/resnet34.tv_in1k", 73.314),
    "resnet50": ("timm/resnet50.tv2_in1k", 80.858),
    "resnet101": ("timm/resnet101.tv2_in1k", 81.886),
    "resnet152": ("timm/resnet152.tv2_in1k", 82.284),
}

FORMAT = "resnet-studio"
FORMAT_VERSION = 1
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
LIBRARY_NAME = "resnet-studio"


class CheckpointError(RuntimeError):
    """A checkpoint could not be found, fetched or loaded; the message says why and what to do."""


@dataclass(frozen=True)
class ModelConfig:
    """What a checkpoint says about itself.

    Attributes:
        arch: one of ``resnet.ARCHS``.
        labels: class names in output order.
        preprocessing: how inputs must be prepared.
        source: the repo id or folder it came from.
        revision: the commit it was loaded at (Hub sources only).
        layout: ``"timm"``, ``"transformers"`` or ``"resnet-studio"``.
        training: how it was trained, when this project trained it.
    """

    arch: str
    labels: tuple[str, ...]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    source: str = ""
    revision: Optional[str] = None
    layout: str = FORMAT
    training: Optional[dict[str, Any]] = None

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def to_json_dict(self) -> dict[str, Any]:
        """The project's ``config.json`` content."""
        data: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "arch": self.arch,
            "num_classes": self.num_classes,
            "labels": list(self.labels),
            **self.preprocessing.to_dict(),
        }
        if self.training:
            data["training"] = self.training
        return data


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in torchvision's order (from its weight metadata)."""
    text = (Path(__file__).with_name("imagenet_classes.txt")).read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


def parse_source(source: str, revision: Optional[str] = None) -> tuple[str, Optional[str]]:
    """Split ``"owner/name@revision"`` into repo id and revision; local folders pass through."""
    if os.path.isdir(source) or "@" not in source:
        return source, revision
    repo_id, _, at = source.partition("@")
    if revision is not None and revision != at:
        raise ValueError(f"two revisions given for {repo_id}: {at!r} in the source and {revision!r} as an argument")
    return repo_id, at


def load_checkpoint(source: str, revision: Optional[str] = None) -> tuple[ResNet, ModelConfig]:
    """Load a ResNet and its config from a Hub repo id (optionally ``id@revision``) or a local folder.

    Args:
        source: e.g. ``"timm/resnet50.a1_in1k"``, ``"microsoft/resnet-50@main"`` or ``"runs/r18"``.
        revision: a branch, tag or commit on the Hub.

    Returns:
        The model in eval mode on the CPU, and its ``ModelConfig``.

    Raises:
        CheckpointError: not found, not reachable, unsupported, or weights that do not match.
    """
    repo_id, revision = parse_source(str(source), revision)
    fetch = _local_fetcher(repo_id) if os.path.isdir(repo_id) else _hub_fetcher(repo_id, revision)
    config_path = fetch("config.json", required=True)
    raw = _read_json(config_path, repo_id)
    resolved = _snapshot_revision(config_path) if not os.path.isdir(repo_id) else None

    if raw.get("format") == FORMAT:
        config = _config_from_ours(raw, repo_id)
    elif "architecture" in raw or "pretrained_cfg" in raw:
        config = _config_from_timm(raw, repo_id)
    elif raw.get("model_type") == "resnet" or "ResNetForImageClassification" in raw.get("architectures", []):
        preprocessor = fetch("preprocessor_config.json", required=False)
        config = _config_from_transformers(raw, _read_json(preprocessor, repo_id) if preprocessor else None, repo_id)
    else:
        raise CheckpointError(
            f"{repo_id}: config.json is neither a timm, a transformers nor a ResNet Studio ResNet config "
            f"(keys: {', '.join(sorted(raw)[:8])})"
        )
    config = replace(config, source=repo_id, revision=resolved)

    state_dict = _read_weights(fetch, repo_id)
    if config.layout == "transformers":
        state_dict = _rename_transformers_keys(state_dict)
    with torch.device("meta"):  # no random initialisation to throw away: the checkpoint's tensors are assigned
        model = build(config.arch, num_classes=config.num_classes)
    _load_strict(model, state_dict, repo_id)
    return model.eval(), config


def save_checkpoint(model: nn.Module, config: ModelConfig, folder: str | os.PathLike) -> Path:
    """Write ``config.json``, ``model.safetensors`` and (if absent) a ``README.md`` model card.

    Each file is written to a temporary name and renamed into place, so an
    interrupted save never leaves a half-written checkpoint behind.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / "model.safetensors", lambda path: save_file(tensors, str(path), metadata={"format": "pt"}))
    text = json.dumps(config.to_json_dict(), indent=2, sort_keys=True) + "\n"
    atomic_write(folder / "config.json", lambda path: Path(path).write_text(text, encoding="utf-8"))
    card = folder / "README.md"
    if not card.exists():
        atomic_write(card, lambda path: Path(path).write_text(model_card(config), encoding="utf-8"))
    return folder


def push_checkpoint(
    model: nn.Module,
    config: ModelConfig,
    repo_id: str,
    *,
    token: Optional[str] = None,
    private: Optional[bool] = None,
    commit_message: str = "Upload ResNet Studio model",
) -> str:
    """Create ``repo_id`` on the Hub if needed and upload the saved checkpoint; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(model, config, tmp)
        info = api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
    return str(info)


def model_card(config: ModelConfig) -> str:
    """A model card: metadata for the Hub, then what the model is and how to load it."""
    from huggingface_hub import ModelCardData

    training = config.training or {}
    base = training.get("base")
    data = ModelCardData(
        library_name=LIBRARY_NAME,
        pipeline_tag="image-classification",
        tags=["image-classification", "resnet", LIBRARY_NAME],
        base_model=base if base and "/" in str(base) and not os.path.isdir(str(base)) else None,
    )
    labels = ", ".join(config.labels[:20]) + (" ..." if len(config.labels) > 20 else "")
    trained = "\n".join(f"- {k}: {v}" for k, v in sorted(training.items())) or "- not recorded"
    p = config.preprocessing
    return f"""---
{data.to_yaml()}
---

# {config.arch} ({config.num_classes} classes)

A {config.arch} image classifier saved by ResNet Studio.

Labels: {labels}

## Training

{trained}

## Preprocessing

Resize the shorter side to {p.resize_size} px ({p.interpolation}), centre-crop {p.crop_size} px,
normalise with mean {list(p.mean)} and std {list(p.std)}.

## Use

```python
import resnet

classifier = resnet.Classifier.from_pretrained("<this repo id or folder>")
print(classifier.predict("photo.jpg", top_k=3))
```
"""


# --- reading files --------------------------------------------------------------------------

Fetch = Callable[..., Optional[str]]


def _local_fetcher(folder: str) -> Fetch:
    def fetch(filename: str, *, required: bool) -> Optional[str]:
        path = os.path.join(folder, filename)
        if os.path.isfile(path):
            return path
        if required:
            raise CheckpointError(f"{folder} has no {filename}; a checkpoint folder needs config.json and model.safetensors")
        return None

    return fetch


def _hub_fetcher(repo_id: str, revision: Optional[str]) -> Fetch:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    def fetch(filename: str, *, required: bool) -> Optional[str]:
        try:
            return hf_hub_download(repo_id, filename, revision=revision)
        except HFValidationError as e:
            raise CheckpointError(f"{repo_id!r} is neither a local folder nor a valid Hub repo id (owner/name): {e}") from e
        except GatedRepoError as e:
            raise CheckpointError(
                f"{repo_id} is gated on the Hugging Face Hub: accept its terms on the Hub, then log in "
                "with `hf auth login` or set HF_TOKEN"
            ) from e
        except RepositoryNotFoundError as e:
            raise CheckpointError(
                f"no model repository {repo_id} on the Hugging Face Hub (or it is private: log in with "
                "`hf auth login` or set HF_TOKEN). Check the name, e.g. timm/resnet50.a1_in1k"
            ) from e
        except RevisionNotFoundError as e:
            raise CheckpointError(f"{repo_id} has no revision {revision!r}") from e
        except LocalEntryNotFoundError as e:
            if not required:
                return None
            cache = constants.HF_HUB_CACHE
            if constants.HF_HUB_OFFLINE:
                raise CheckpointError(
                    f"{repo_id}: {filename} is not in the local Hugging Face cache ({cache}) and HF_HUB_OFFLINE=1 "
                    "forbids downloading it. Unset HF_HUB_OFFLINE to download it, point HF_HUB_CACHE or HF_HOME "
                    "at a cache that holds it, or pass a local folder with config.json and model.safetensors"
                ) from e
            raise CheckpointError(
                f"{repo_id}: could not reach the Hugging Face Hub and {filename} is not in the local cache "
                f"({cache}). Check the network or proxy, or set HF_HUB_OFFLINE=1 and use a cached checkpoint "
                "or a local folder with config.json and model.safetensors"
            ) from e
        except EntryNotFoundError as e:
            if not required:
                return None
            raise CheckpointError(f"{repo_id} has no file {filename}") from e

    return fetch


def _snapshot_revision(path: str) -> Optional[str]:
    """The commit hash in a Hugging Face cache path ``.../snapshots/<commit>/file``."""
    match = re.search(r"snapshots[/\\]([0-9a-f]{40})[/\\]", path)
    return match.group(1) if match else None


def _read_json(path: str, source: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{source}: {os.path.basename(path)} is not valid JSON ({e}); the file is damaged") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{source}: {os.path.basename(path)} must hold a JSON object, not {type(data).__name__}")
    return data


def _read_weights(fetch: Fetch, source: str) -> dict[str, torch.Tensor]:
    for filename in WEIGHT_FILES:
        path = fetch(filename, required=False)
        if path is None:
            continue
        try:
            if filename.endswith(".safetensors"):
                from safetensors.torch import load_file

                return load_file(path, device="cpu")
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # safetensors and torch.load raise several types for damaged files
            raise CheckpointError(
                f"{source}: {filename} is corrupted or truncated ({e}). Delete it (for the Hub cache: "
                "`hf cache delete`) and download it again"
            ) from e
    raise CheckpointError(f"{source} has no weights: expected one of {', '.join(WEIGHT_FILES)}")


def _load_strict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    expected = model.state_dict()
    # BatchNorm fills in a missing step counter itself; some exporters leave it out.
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}" + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}" + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""))
        if wrong:
            parts.append(f"shape mismatches (checkpoint vs model) {wrong[:3]}")
        raise CheckpointError(f"{source}: the weights do not match the architecture: {'; '.join(parts)}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}, strict=True, assign=True)


# --- the three layouts ----------------------------------------------------------------------


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
        raise CheckpointError(f"{source}: config.json is incomplete or invalid ({e!r})") from e
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


def _rename_transformers_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
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


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Write through ``write(tmp)``, fsync, then rename over ``path``; on failure ``path`` is untouched."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
