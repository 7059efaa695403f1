"""Saving a checkpoint in ResNet Studio's layout and pushing it to the Hub.

This follows huggingface_hub's ``ModelHubMixin`` conventions: ``config.json`` +
``model.safetensors`` + a ``README.md`` model card (``resnet.checkpoints.card``; an existing card is
never overwritten); ``push_to_hub`` saves to a temporary folder and uploads it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Optional

from torch import nn

from resnet.files import atomic_write

from .card import model_card
from .config import ModelConfig

__all__ = ["push_checkpoint", "save_checkpoint"]


def save_checkpoint(model: nn.Module, config: ModelConfig, folder: str | os.PathLike, *, onnx_card: bool = False) -> Path:
    """Write ``config.json``, ``model.safetensors`` and (if absent) a ``README.md`` model card.

    ``onnx_card``: the card also says how to run the ``model.onnx`` saved next to it (``resnet.checkpoints.card.model_card``).

    Each file is written to a temporary name and renamed into place, so an
    interrupted save never leaves a half-written checkpoint behind.
    """
    from safetensors.torch import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    # Bytes written by Python, not safetensors' save_file, which creates its file readable by its owner alone
    # (mode 600): the zip a user downloads would then unpack a model nobody else on the machine can read.
    atomic_write(folder / "model.safetensors", lambda path: Path(path).write_bytes(save(tensors, metadata={"format": "pt"})))
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
