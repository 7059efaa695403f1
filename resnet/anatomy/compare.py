"""ResNet against other ImageNet networks: parameters and GMACs counted from each architecture, the published
top-1, and the forward time measured now.

The counts need no weights: every network is built on the ``meta`` device and one forward pass runs
under ``torch.utils.flop_counter.FlopCounterMode`` (its FLOPs are 2 x multiply-accumulates, so
attention's matrix products count too, which module hooks on convolutions and linear layers miss).
The published top-1 is torchvision's own figure from each weights enum's ``meta`` (the first
ImageNet weights, ``IMAGENET1K_V1``, for every network alike), except the paper's plain-34, which
only the paper measured. torchvision is imported inside these functions only, so the classify
path's start-up never loads it.

Example:
    >>> rows = compare_networks(timed=("resnet18",))  # doctest: +SKIP
    >>> [(r.label, round(r.gmacs, 2), r.top1) for r in rows][:2]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
from dataclasses import dataclass
from typing import Iterable, Optional

import torch
from torch import nn

from resnet.model import build

from .measure import forward_latency

__all__ = ["NETWORKS", "Network", "NetworkCost", "compare_networks", "count", "published_top1", "to_csv", "to_frame"]

WEIGHTS = "IMAGENET1K_V1"  # the first published weights of every network: one recipe generation for all
PAPER = "He et al. 2015 (the ResNet paper), Table 2, 10-crop testing"


@dataclass(frozen=True)
class Network:
    """One network of the comparison."""

    key: str  # torchvision's builder name, or "plain34" (the paper's plain twin of ResNet-34)
    label: str  # as people write it
    year: int
    resnet: bool = False  # highlighted in the chart
    fig3: bool = False  # one of the paper's Fig. 3 trio: VGG-19, plain-34, ResNet-34


NETWORKS: tuple[Network, ...] = (
    Network("alexnet", "AlexNet", 2012),
    Network("vgg16", "VGG-16", 2014),
    Network("vgg19", "VGG-19", 2014, fig3=True),
    Network("googlenet", "GoogLeNet", 2014),
    Network("inception_v3", "Inception-v3", 2015),
    Network("plain34", "plain-34", 2015, fig3=True),
    Network("resnet18", "ResNet-18", 2015, resnet=True),
    Network("resnet34", "ResNet-34", 2015, resnet=True, fig3=True),
    Network("resnet50", "ResNet-50", 2015, resnet=True),
    Network("resnet101", "ResNet-101", 2015, resnet=True),
    Network("resnet152", "ResNet-152", 2015, resnet=True),
    Network("densenet121", "DenseNet-121", 2016),
    Network("mobilenet_v2", "MobileNetV2", 2018),
    Network("mobilenet_v3_large", "MobileNetV3-Large", 2019),
    Network("efficientnet_b0", "EfficientNet-B0", 2019),
    Network("convnext_tiny", "ConvNeXt-Tiny", 2022),
    Network("vit_b_16", "ViT-B/16", 2020),
)
_BY_KEY = {n.key: n for n in NETWORKS}
# The inference network: torchvision's published weights drop these auxiliary classifiers at load time.
_BUILD_OPTIONS = {"googlenet": {"aux_logits": False, "init_weights": False}, "inception_v3": {"aux_logits": False, "init_weights": False}}
_INPUT_SIZE = {"inception_v3": 299}  # its weights' eval crop; every other network here is evaluated at 224
_PLAIN34_TOP1 = 100 - 28.54  # the paper's top-1 error of plain-34, Table 2


@dataclass(frozen=True)
class NetworkCost:
    """What the comparison says about one network."""

    key: str
    label: str
    year: int
    resnet: bool
    fig3: bool
    input_size: int  # square side of the counted and timed input
    params: int  # parameters of the inference network
    gmacs: float  # multiply-accumulates of one forward pass at ``input_size``, in billions
    top1: float  # published ImageNet-1k top-1, %
    top1_source: str
    forward_ms: Optional[float]  # batch 1, fp32, measured now; None when not timed


def _network(key: str) -> Network:
    if key not in _BY_KEY:
        raise ValueError(f"unknown network {key!r}; choose from {', '.join(_BY_KEY)}")
    return _BY_KEY[key]


def _build(key: str) -> nn.Module:
    """The network in eval mode, on the current default device (``meta`` for counting)."""
    if key == "plain34":
        return build("resnet34", plain=True).eval()
    from torchvision.models import get_model  # this feature only: never on the classify path's start-up

    return get_model(key, weights=None, **_BUILD_OPTIONS.get(key, {})).eval()


@functools.lru_cache(maxsize=None)
def count(key: str) -> tuple[int, float, int]:
    """``(parameters, GMACs, input side)`` of one network, counted on the ``meta`` device (no weights, no memory).

    Raises:
        ValueError: ``key`` is not one of ``NETWORKS``.
    """
    _network(key)
    from torch.utils.flop_counter import FlopCounterMode

    size = _INPUT_SIZE.get(key, 224)
    with torch.device("meta"):
        model = _build(key)
        x = torch.zeros(1, 3, size, size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    params = sum(p.numel() for p in model.parameters())
    return params, counter.get_total_flops() / 2e9, size  # one multiply-accumulate = two FLOPs


@functools.lru_cache(maxsize=None)
def published_top1(key: str) -> tuple[float, str]:
    """The published ImageNet-1k top-1 (%) of one network and where it comes from.

    Raises:
        ValueError: ``key`` is not one of ``NETWORKS``.
    """
    _network(key)
    if key == "plain34":
        return round(_PLAIN34_TOP1, 2), PAPER
    from torchvision.models import get_model_weights

    weights = get_model_weights(key)[WEIGHTS]
    crop = weights.transforms.keywords.get("crop_size", 224)
    source = f"torchvision {type(weights).__name__}.{WEIGHTS}, acc@1 at one {crop} px crop"
    return float(weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]), source


def compare_networks(
    *, timed: Optional[Iterable[str]] = None, device: Optional[torch.device] = None, repeats: int = 3
) -> list[NetworkCost]:
    """Every network of ``NETWORKS``: counted parameters and GMACs, published top-1, forward time measured now.

    Args:
        timed: the keys to time (``None``: all; ``()``: none, which takes a second or two instead of
            a minute on two CPU cores). Untimed rows have ``forward_ms=None``.
        device: where to time (default: CPU). Every network runs at batch 1 in fp32 with random weights:
            the time depends on the architecture, not on the values of its weights.
        repeats: timed passes per network, after one warm-up; the median is kept.

    Returns:
        One ``NetworkCost`` per network, in ``NETWORKS`` order.

    Raises:
        ValueError: a key in ``timed`` is not one of ``NETWORKS``.
    """
    chosen = set(_BY_KEY) if timed is None else {_network(k).key for k in timed}
    device = device or torch.device("cpu")
    rows = []
    for net in NETWORKS:
        params, gmacs, size = count(net.key)
        top1, source = published_top1(net.key)
        forward_ms = None
        if net.key in chosen:
            model = _build(net.key).to(device)
            forward_ms = 1000 * forward_latency(model, (1, 3, size, size), repeats, device)
            del model
        fields = {f.name: getattr(net, f.name) for f in dataclasses.fields(Network)}
        rows.append(NetworkCost(**fields, input_size=size, params=params, gmacs=gmacs, top1=top1, top1_source=source, forward_ms=forward_ms))
    return rows


COLUMNS = ("network", "year", "group", "fig3", "input", "params (M)", "GMACs", "top1", "forward ms", "top1 source")


def to_frame(rows: Iterable[NetworkCost]):
    """The chart's and the table's data: one row per network, ``group`` = ``"resnet"`` / ``"other"``.

    Columns: network, year, group, fig3 (the paper's Fig. 3 trio), input, params (M), GMACs,
    top1, forward ms (NaN where not timed), top1 source.
    """
    import pandas as pd

    return pd.DataFrame(
        [
            (r.label, r.year, "resnet" if r.resnet else "other", r.fig3, r.input_size, round(r.params / 1e6, 2), round(r.gmacs, 3),
             r.top1, math.nan if r.forward_ms is None else round(r.forward_ms, 1), r.top1_source)
            for r in rows
        ],
        columns=COLUMNS,
    )


def to_csv(rows: Iterable[NetworkCost]) -> str:
    """The comparison as CSV text, with exact parameter counts and unrounded GMACs."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["network", "year", "resnet", "fig3", "input", "params", "gmacs", "top1", "forward_ms_batch1_fp32", "top1_source"])
    for r in rows:
        writer.writerow([r.label, r.year, r.resnet, r.fig3, r.input_size, r.params, f"{r.gmacs:.6f}", r.top1,
                         "" if r.forward_ms is None else f"{r.forward_ms:.2f}", r.top1_source])
    return out.getvalue()
