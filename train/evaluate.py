"""Held-out evaluation (``evaluate``), and moving a batch to the device as evaluation and training steps both do."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn
from torch.utils.data import Dataset

from resnet.anatomy.hooks import hooked

from .device_augment import BatchAugment
from .pipeline import batches

__all__ = ["evaluate", "sum_dtype", "to_device"]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int,
    device: torch.device,
    num_classes: int,
    amp_dtype: Optional[torch.dtype] = None,
    channels_last: bool = False,
    workers: int = 0,
    transform: Optional[BatchAugment] = None,
) -> dict[str, Any]:
    """Loss, top-1, top-5 and the confusion matrix (rows: true class, columns: predicted) on ``dataset``.

    ``dataset`` may be a ``train.pipeline.DeviceTensorSet``; ``transform`` (a deterministic
    ``train.device_augment.BatchAugment``) turns its uint8 batches into the network's input on ``device``.
    """
    loss_sum, counts, count = torch.zeros((), dtype=sum_dtype(device), device=device), torch.zeros(2, dtype=torch.long, device=device), 0
    confusion = torch.zeros(num_classes**2, dtype=torch.long, device=device)
    k = min(5, num_classes)
    # Eval mode, then each module's own mode back: fine-tuning's frozen BatchNorms stay in eval mode.
    with hooked(model):
        for x, y in batches(dataset, batch_size, shuffle=False, workers=workers, device=device):
            x, y = to_device(x, y, device, channels_last, transform)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                logits = model(x)
            logits = logits.float()
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").to(loss_sum.dtype)
            topk = logits.topk(k, dim=1).indices
            counts += torch.stack([(topk[:, 0] == y).sum(), (topk == y[:, None]).any(dim=1).sum()])
            count += len(y)
            confusion += torch.bincount(y * num_classes + topk[:, 0], minlength=num_classes**2)
    if count == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    top1, top5 = counts.tolist()  # the one wait for the device, after the last batch
    return {"loss": loss_sum.item() / count, "top1": top1 / count, "top5": top5 / count, "confusion": confusion.view(num_classes, num_classes).cpu()}


def sum_dtype(device: torch.device) -> torch.dtype:
    """float64 for sums of losses on the device (as Python floats summed them); MPS has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def to_device(
    x: torch.Tensor,
    y: torch.Tensor,
    device: torch.device,
    channels_last: bool,
    transform: Optional[BatchAugment] = None,
    generator: Optional[torch.Generator] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch on ``device`` (copied without blocking: the loader pins it on CUDA), transformed there, in the model's layout."""
    non_blocking = device.type == "cuda"
    x = x.to(device, non_blocking=non_blocking)
    if transform is not None:
        x = transform(x, generator)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=non_blocking)
