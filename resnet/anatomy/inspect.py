"""Looking inside a ResNet: what each stage outputs, how strongly each layer responds, and its plain twin.

``stage_outputs`` and ``layer_responses`` run one eval-mode forward pass through
``resnet.anatomy.hooks.forward_with_hooks``, which removes the hooks and restores every module's train/eval
mode in ``finally``: an input that fails halfway leaves the model as it was. The pictures of these
numbers are in ``resnet.anatomy.views``.

Any network with torchvision's names works: a stem (``conv1``, ``bn1``, ``relu``, ``maxpool``), stages
``layer1`` ... ``layerN``, blocks whose convolution ``convK`` is followed by its norm ``bnK``.
"""

from __future__ import annotations

import math
import re
import statistics
from typing import Sequence

import torch
from torch import Tensor, nn

from resnet.cifar import CifarResNet
from resnet.model import ResNet

from .hooks import SHORTCUT_NAMES, Hook, forward_with_hooks, named_stages

__all__ = [
    "Responses",
    "check_pair",
    "describe_responses",
    "layer_responses",
    "never_trained",
    "plain_twin",
    "stage_outputs",
    "top_channels",
]

Responses = Sequence[tuple[str, float]]

_CONV = re.compile(r"conv(\d+)")


def _check_batch(x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a batch tensor (N, C, H, W), got {tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")


def stage_outputs(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """The feature maps after the stem and after each stage, from one eval-mode forward pass.

    Args:
        model: a ResNet with torchvision's names; its train/eval modes are kept and no hooks remain.
        x: a batch (N, 3, H, W) on the model's device.

    Returns:
        ``{"stem": ..., "layer1": ..., ..., "layerN": ...}``: "stem" is the output of the last module before
        the first stage (the max-pool of an ImageNet ResNet, the ReLU of a CIFAR one), each (N, C, H', W').
    """
    _check_batch(x)
    stages = named_stages(model)
    stage_of = {module: name for name, module in stages}
    found: dict[str, Tensor] = {}

    def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
        name = stage_of.get(module)
        if name is None and found.keys() & stage_of.values():
            return  # the head, after the stages
        # A copy: a later in-place operation (ReLU, +=) may write over the tensor the hook saw.
        found[name or "stem"] = output.detach().clone()

    forward_with_hooks(model, x, [(module, hook) for _, module in model.named_children()])
    if "stem" not in found:
        raise ValueError(f"{type(model).__name__} runs no stem module before {stages[0][0]}")
    return {"stem": found["stem"], **{name: found[name] for name, _ in stages}}


def _conv_bn_pairs(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(dotted name of a 3x3 convK, the bnK beside it)`` for every such pair in ``model``."""
    pairs = []
    for prefix, parent in model.named_modules():
        for name, conv in parent.named_children():
            m = _CONV.fullmatch(name)
            bn = getattr(parent, f"bn{m.group(1)}", None) if m else None
            if isinstance(conv, nn.Conv2d) and tuple(conv.kernel_size) == (3, 3) and isinstance(bn, nn.BatchNorm2d):
                pairs.append((f"{prefix}.{name}" if prefix else name, bn))
    return pairs


def layer_responses(model: nn.Module, x: Tensor) -> list[tuple[str, float]]:
    """The standard deviation of each 3x3 layer's response, as in He et al. (2016), Fig. 7.

    A response is the output of the BatchNorm after a 3x3 convolution, before the shortcut is added and
    before the ReLU; its std is taken over every element (all images, channels and positions), unbiased.

    Args:
        model: a ResNet with torchvision's names; its train/eval modes are kept and no hooks remain.
        x: a batch (N, 3, H, W) on the model's device.

    Returns:
        ``(convolution name, std)`` in forward order, e.g. ``("layer1.0.conv2", 0.83)``.
    """
    _check_batch(x)
    found: list[tuple[str, float]] = []

    def hook_for(name: str) -> Hook:
        # Measured at once: the in-place ReLU that follows overwrites the tensor.
        return lambda module, inputs, output: found.append((name, float(output.float().std())))

    forward_with_hooks(model, x, [(bn, hook_for(name)) for name, bn in _conv_bn_pairs(model)])
    return found


def plain_twin(model: nn.Module) -> nn.Module:
    """The plain network with ``model``'s weights: the same layers, no shortcuts (He et al. 2016, section 4.1).

    Built as ``resnet.build(arch, plain=True)`` (or ``cifar_resnet(..., plain=True)``) would be, on the meta
    device so nothing is drawn, then loaded with ``model``'s state dict minus the shortcut projections.

    Args:
        model: a ``resnet.model.ResNet`` or ``resnet.cifar.CifarResNet``.

    Returns:
        The twin, on ``model``'s device and dtype, in ``model``'s train/eval mode.

    Raises:
        TypeError: ``model`` is of another class.
        ValueError: its weights do not fit the twin except for shortcut weights.
    """
    with torch.device("meta"):
        if isinstance(model, ResNet):
            blocks = [len(stage) for _, stage in named_stages(model)]
            twin = ResNet(type(model.layer1[0]), blocks, model.fc.out_features, plain=True)
        elif isinstance(model, CifarResNet):
            twin = CifarResNet(len(model.layer1), width=model.conv1.out_channels, num_classes=model.fc.out_features, plain=True)
        else:
            raise TypeError(f"plain_twin takes a resnet.model.ResNet or resnet.cifar.CifarResNet, got {type(model).__name__}")
    param = next(model.parameters())
    twin = twin.to_empty(device=param.device).to(param.dtype)
    state = {k: v for k, v in model.state_dict().items() if not any(f".{s}." in k for s in SHORTCUT_NAMES)}
    result = twin.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"the plain twin does not take these weights: missing {result.missing_keys}, unexpected {result.unexpected_keys}")
    return twin.train(model.training)


def check_pair(residual: Responses, plain: Responses) -> None:
    """Raise ``ValueError`` unless ``residual`` and ``plain`` are non-empty and list the same layers, in order.

    Args:
        residual: ``layer_responses`` of the residual network.
        plain: ``layer_responses`` of its plain twin.
    """
    if not residual or [n for n, _ in residual] != [n for n, _ in plain]:
        raise ValueError(
            f"residual and plain must list the same layers, got {len(residual)} and {len(plain)} "
            f"({[n for n, _ in residual][:3]}... vs {[n for n, _ in plain][:3]}...)"
        )


def describe_responses(residual: Responses, plain: Responses) -> tuple[str, dict[str, float]]:
    """Whether the residual net's responses are generally smaller than its plain twin's, as a message code.

    Args:
        residual: ``layer_responses`` of the residual network.
        plain: ``layer_responses`` of its plain twin, on the same input.

    Returns:
        ``(code, parameters)``, free of any language: code ``"responses_smaller"`` (more than half the layers
        respond less and the median ratio is below 1), ``"responses_larger"`` (the reverse) or
        ``"responses_mixed"``; parameters ``share`` (fraction of layers where the residual std is smaller),
        ``median_ratio`` (median of residual std / plain std) and ``layers``.
    """
    check_pair(residual, plain)
    pairs = [(r, p) for (_, r), (_, p) in zip(residual, plain)]
    share = sum(r < p for r, p in pairs) / len(pairs)
    median = statistics.median(r / p if p > 0 else (1.0 if r == 0 else math.inf) for r, p in pairs)
    if share > 0.5 and median < 1:
        code = "responses_smaller"
    elif share < 0.5 and median > 1:
        code = "responses_larger"
    else:
        code = "responses_mixed"
    return code, {"share": share, "median_ratio": median, "layers": len(pairs)}


def top_channels(fmap: Tensor, k: int) -> list[int]:
    """The channels of a feature map ranked by mean activation.

    Args:
        fmap: one image's feature map (C, H, W).
        k: how many to return (all C if there are fewer).

    Returns:
        Channel indices, highest mean first; equal means keep the lower index first.
    """
    means = fmap.detach().float().mean(dim=(1, 2))
    return torch.argsort(means, descending=True, stable=True)[:k].tolist()


def never_trained(model: nn.Module) -> bool:
    """Whether every BatchNorm of ``model`` still holds the statistics it was built with: random weights.

    Training in train mode moves each norm's running mean away from 0 and its running variance away
    from 1 at the first batch; a network that never saw data keeps both exactly.

    Args:
        model: any network.

    Returns:
        True when ``model`` has BatchNorm layers and each has running mean 0 and running variance 1 everywhere.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None]
    return bool(norms) and all(bool((m.running_mean == 0).all() and (m.running_var == 1).all()) for m in norms)
