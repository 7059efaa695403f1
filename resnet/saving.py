"""Saving a checkpoint in ResNet Studio's layout, its model card, and pushing it to the Hub.

This follows huggingface_hub's ``ModelHubMixin`` conventions: ``config.json`` +
``model.safetensors`` + a ``README.md`` model card (an existing card is never
overwritten); ``push_to_hub`` saves to a temporary folder and uploads it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Optional

from torch import nn

from .config import ModelConfig
from .export import model_card_section
from .files import atomic_write

__all__ = ["LIBRARY_NAME", "model_card", "push_checkpoint", "save_checkpoint"]

LIBRARY_NAME = "resnet-studio"


def save_checkpoint(model: nn.Module, config: ModelConfig, folder: str | os.PathLike, *, onnx_card: bool = False) -> Path:
    """Write ``config.json``, ``model.safetensors`` and (if absent) a ``README.md`` model card.

    ``onnx_card``: the card also says how to run the ``model.onnx`` saved next to it (``model_card``).

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
        atomic_write(card, lambda path: Path(path).write_text(model_card(config, onnx=onnx_card), encoding="utf-8"))
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


def model_card(config: ModelConfig, *, onnx: bool = False) -> str:
    """A model card: metadata for the Hub, then what the model is and how to load it.

    ``onnx``: also how to run the ``model.onnx`` and ``preprocessing.json`` next to it (``resnet.export.model_card_section``).
    """
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
""" + (model_card_section(config) if onnx else "")
