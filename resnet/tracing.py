"""One forward pass with forward hooks, leaving the model exactly as it was; and the names that find a ResNet's parts.

``forward_with_hooks`` is the only place the inspection and diagram code registers hooks: it removes
them and restores every module's train/eval mode in ``finally``, so an input that fails halfway
leaves no hook behind and no mode changed.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["SHORTCUT_NAMES", "Hook", "forward_with_hooks", "named_stages"]

Hook = Callable[[nn.Module, tuple, Any], None]

SHORTCUT_NAMES = ("downsample", "shortcut")  # torchvision's name for a block's shortcut, and the CIFAR nets'
_STAGE = re.compile(r"layer(\d+)")


def forward_with_hooks(model: nn.Module, x: Tensor, hooks: Sequence[tuple[nn.Module, Hook]]) -> Any:
    """Run ``model(x)`` once in eval mode without gradients, with ``hooks`` registered as forward hooks.

    Args:
        model: the network; each module's own ``training`` flag is put back afterwards.
        x: its input.
        hooks: ``(module, hook)`` pairs; a hook is called as ``hook(module, inputs, output)``.

    Returns:
        The model's output. The hooks are removed and the modes restored even when the forward pass raises.
    """
    # Module by module: a network with a frozen (eval-mode) part inside a training one gets both back.
    modes = [(module, module.training) for module in model.modules()]
    handles = []
    try:
        for module, hook in hooks:
            handles.append(module.register_forward_hook(hook))
        model.eval()
        with torch.no_grad():
            return model(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training


def named_stages(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The stages ``layer1`` ... ``layerN`` of ``model``, in order.

    Args:
        model: a network with torchvision's names.

    Returns:
        ``(name, stage)`` pairs, ordered by the stage's number.

    Raises:
        ValueError: ``model`` has no child named ``layer<N>``.
    """
    found = [(int(m.group(1)), name, module) for name, module in model.named_children() if (m := _STAGE.fullmatch(name))]
    if not found:
        raise ValueError(f"{type(model).__name__} has no stages named layer1, layer2, ...; expected torchvision's names")
    return [(name, module) for _, name, module in sorted(found, key=lambda item: item[0])]
