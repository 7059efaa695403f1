"""Measurements the Architecture tab shows: a comparison of the five depths and gradient flow at initialisation."""

from __future__ import annotations

import statistics
import time
from typing import Any, Optional

import torch
import torch.nn.functional as F

from resnet.checkpoints.hub import DEFAULT_CHECKPOINTS
from resnet.fast import optimize_for_inference
from resnet.model import ARCHS, ResNet, build

from .hooks import hooked
from .summary import summarize

__all__ = ["forward_latency", "compare_depths", "gradient_flow"]


def forward_latency(model: torch.nn.Module, input_size: tuple[int, ...], repeats: int = 5, device: Optional[torch.device] = None) -> float:
    """Median seconds of one eval-mode forward pass (after one warm-up pass); each module keeps its own mode afterwards."""
    device = device or next(model.parameters()).device
    x = torch.randn(input_size, generator=torch.Generator().manual_seed(0)).to(device)
    times = []
    with hooked(model), torch.inference_mode():  # eval mode; each module's own mode back afterwards
        for i in range(repeats + 1):
            start = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i:  # the first pass warms up allocators and kernels
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare_depths(
    input_size: int = 224, repeats: int = 3, device: Optional[torch.device] = None, *, fast: bool = True
) -> list[dict[str, Any]]:
    """Parameters, GMACs, batch-1 forward latency on ``device`` and published top-1 for every depth.

    Args:
        input_size: the input's side in pixels.
        repeats: timed forward passes per depth (the median is kept), after one warm-up pass.
        device: where to time; default the CPU.
        fast: time the network as ``Classifier`` runs it, through ``resnet.fast.optimize_for_inference``
            (BatchNorm folded, ``fast_dtype`` precision, oneDNN kernels on x86 CPUs); False: the eager fp32 network.

    Returns:
        One dict per depth: ``arch``, ``params``, ``gmacs``, ``latency_ms`` (the network alone: no decoding,
        no preprocessing), ``precision`` and ``backend`` it ran in (``"float32"``/``"eager"`` when not fast),
        ``imagenet_top1``, ``checkpoint``.
    """
    device = device or torch.device("cpu")
    rows = []
    for arch in ARCHS:
        model = build(arch, generator=torch.Generator().manual_seed(0)).to(device).eval()
        s = summarize(model, input_size=(1, 3, input_size, input_size))
        timed = optimize_for_inference(model, device, input_size) if fast else model
        checkpoint, top1 = DEFAULT_CHECKPOINTS[arch]
        rows.append(
            {
                "arch": arch,
                "params": s.total_params,
                "gmacs": s.total_macs / 1e9,
                "latency_ms": 1000 * forward_latency(timed, (1, 3, input_size, input_size), repeats, device),
                "precision": str(getattr(timed, "dtype", torch.float32)).removeprefix("torch."),
                "backend": getattr(timed, "backend", "eager"),
                "imagenet_top1": top1,
                "checkpoint": checkpoint,
            }
        )
    return rows


def gradient_flow(
    arch: str, *, plain: bool, input_size: int = 224, batch_size: int = 4, seed: int = 0
) -> list[tuple[str, float]]:
    """Gradient norm of each residual block's parameters after one backward pass at initialisation.

    BatchNorm runs in training mode (batch statistics), as in the first step of training;
    the loss is cross-entropy against random labels on a random batch.

    Returns:
        ``(block name, gradient norm)`` from the first block (``layer1.0``) to the last.
    """
    generator = torch.Generator().manual_seed(seed)  # its own: other users' seeded work runs in other threads
    model: ResNet = build(arch, plain=plain, generator=generator).train()
    x = torch.randn(batch_size, 3, input_size, input_size, generator=generator)
    y = torch.randint(0, model.fc.out_features, (batch_size,), generator=generator)
    F.cross_entropy(model(x), y).backward()
    norms = []
    for stage_name in ("layer1", "layer2", "layer3", "layer4"):
        for index, block in enumerate(getattr(model, stage_name)):
            squares = sum(float(p.grad.double().pow(2).sum()) for p in block.parameters() if p.grad is not None)
            norms.append((f"{stage_name}.{index}", squares**0.5))
    return norms
