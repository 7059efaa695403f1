"""Build a Hugging Face cache folder by hand, so the real ``hf_hub_download`` code path runs offline.

Layout written (as huggingface_hub itself writes it):
    models--owner--name/refs/main                    -> the commit hash
    models--owner--name/blobs/<sha256>               -> file contents
    models--owner--name/snapshots/<commit>/<file>    -> symlink to ../../blobs/<sha256>

Weights are seeded random torchvision models, so every number can be checked against torchvision.
Also used by ``benchmarks/`` and the app tests.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Optional

import torch
import torchvision
from safetensors.torch import save as safetensors_bytes
from torch import nn


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine terms, so eval-mode outputs are informative."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model


def torchvision_model(arch: str, seed: int = 0, num_classes: int = 1000) -> nn.Module:
    """A seeded, randomly initialised ``torchvision.models.<arch>`` in eval mode."""
    torch.manual_seed(seed)
    return randomize_norms(getattr(torchvision.models, arch)(num_classes=num_classes), seed).eval()


def add_repo(cache_dir: str | os.PathLike, repo_id: str, files: dict[str, bytes], commit: Optional[str] = None) -> str:
    """Write ``files`` as the ``main`` revision of model repo ``repo_id``; returns the commit hash."""
    repo = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    commit = commit or hashlib.sha1(repr(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())).encode()).hexdigest()
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "blobs").mkdir(exist_ok=True)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        blob = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / blob).write_bytes(data)
        link = snapshot / name
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(repo / "blobs" / blob, snapshot))
    return commit


def timm_files(model: nn.Module, arch: str, crop_pct: float, interpolation: str, input_size: int = 224) -> dict[str, bytes]:
    """``config.json`` + ``model.safetensors`` as timm publishes them."""
    config = {
        "architecture": arch,
        "num_classes": model.fc.out_features,
        "num_features": model.fc.in_features,
        "pretrained_cfg": {
            "tag": "test",
            "custom_load": False,
            "input_size": [3, input_size, input_size],
            "fixed_input_size": False,
            "interpolation": interpolation,
            "crop_pct": crop_pct,
            "crop_mode": "center",
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
            "num_classes": model.fc.out_features,
            "pool_size": [7, 7],
            "first_conv": "conv1",
            "classifier": "fc",
        },
    }
    return {"config.json": json.dumps(config).encode(), "model.safetensors": safetensors_bytes(_contiguous(model))}


_TO_TRANSFORMERS = [
    (r"^conv1\.", "resnet.embedder.embedder.convolution."),
    (r"^bn1\.", "resnet.embedder.embedder.normalization."),
    (r"^layer(\d)\.(\d+)\.downsample\.0\.", "resnet.encoder.stages.{s}.layers.{b}.shortcut.convolution."),
    (r"^layer(\d)\.(\d+)\.downsample\.1\.", "resnet.encoder.stages.{s}.layers.{b}.shortcut.normalization."),
    (r"^layer(\d)\.(\d+)\.conv(\d)\.", "resnet.encoder.stages.{s}.layers.{b}.layer.{c}.convolution."),
    (r"^layer(\d)\.(\d+)\.bn(\d)\.", "resnet.encoder.stages.{s}.layers.{b}.layer.{c}.normalization."),
    (r"^fc\.", "classifier.1."),
]


def to_transformers_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision names -> transformers' ``ResNetForImageClassification`` names (written independently of resnet.checkpoints.hub)."""
    out = {}
    for key, value in state_dict.items():
        for pattern, template in _TO_TRANSFORMERS:
            m = re.match(pattern, key)
            if m:
                g = [int(x) for x in m.groups()]
                fields = {"s": g[0] - 1, "b": g[1], "c": g[2] - 1} if len(g) == 3 else ({"s": g[0] - 1, "b": g[1]} if g else {})
                out[template.format(**fields) + key[m.end():]] = value
                break
        else:
            raise KeyError(key)
    return out


def transformers_files(model: nn.Module, depths: list[int], layer_type: str, preprocessor: bool = True) -> dict[str, bytes]:
    """``config.json`` (+ ``preprocessor_config.json``) + ``model.safetensors`` as microsoft/resnet-* publish them."""
    widths = [64, 128, 256, 512] if layer_type == "basic" else [256, 512, 1024, 2048]
    labels = {str(i): f"label {i}" for i in range(model.fc.out_features)}
    config = {
        "architectures": ["ResNetForImageClassification"],
        "model_type": "resnet",
        "depths": depths,
        "hidden_sizes": widths,
        "embedding_size": 64,
        "hidden_act": "relu",
        "layer_type": layer_type,
        "downsample_in_first_stage": False,
        "num_channels": 3,
        "id2label": labels,
        "label2id": {v: int(k) for k, v in labels.items()},
    }
    files = {
        "config.json": json.dumps(config).encode(),
        "model.safetensors": safetensors_bytes(to_transformers_keys(_contiguous(model))),
    }
    if preprocessor:
        files["preprocessor_config.json"] = json.dumps(
            {
                "crop_pct": 0.875,
                "do_normalize": True,
                "do_resize": True,
                "feature_extractor_type": "ConvNextFeatureExtractor",
                "image_mean": [0.485, 0.456, 0.406],
                "image_std": [0.229, 0.224, 0.225],
                "resample": 3,
                "size": 224,
            }
        ).encode()
    return files


def _contiguous(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous() for k, v in model.state_dict().items()}


def build_test_cache(cache_dir: str | os.PathLike) -> dict[str, nn.Module]:
    """The repos the tests and benchmarks use; returns repo id -> the torchvision model holding its weights."""
    references = {
        "timm/resnet50.tv2_in1k": torchvision_model("resnet50", seed=1),
        "timm/resnet18.tv_in1k": torchvision_model("resnet18", seed=2),
        "microsoft/resnet-50": torchvision_model("resnet50", seed=3),
    }
    add_repo(cache_dir, "timm/resnet50.tv2_in1k", timm_files(references["timm/resnet50.tv2_in1k"], "resnet50", 0.965, "bilinear"))
    add_repo(cache_dir, "timm/resnet18.tv_in1k", timm_files(references["timm/resnet18.tv_in1k"], "resnet18", 0.875, "bilinear"))
    add_repo(cache_dir, "microsoft/resnet-50", transformers_files(references["microsoft/resnet-50"], [3, 4, 6, 3], "bottleneck"))
    return references


def tensor_bytes(obj) -> bytes:
    """``torch.save`` output, for ``.bin`` fallback tests."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()
