"""One way to run a network with hooks, leaving it exactly as it was; and the names that find a ResNet's parts.

``hooked`` is the only place the library registers hooks or switches train/eval around a forward
pass (summary, inspection, the diagram, evaluation, timing): it puts the model in the mode asked,
registers forward hooks and forward pre-hooks, and in ``finally`` removes them and gives every
module back its OWN ``training`` flag. ``model.train(was_training)`` would not do: it flattens a
network whose BatchNorms were frozen in eval mode inside a training one (fine-tuning does that).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

__all__ = ["SHORTCUT_NAMES", "Hook", "PreHook", "forward_with_hooks", "hooked", "named_stages"]

Hook = Callable[[nn.Module, tuple, Any], None]
PreHook = Callable[[nn.Module, tuple], None]

SHORTCUT_NAMES = ("downsample", "shortcut")  # torchvision's name for a block's shortcut, and the CIFAR nets'
_STAGE = re.compile(r"layer(\d+)")


@contextmanager
def hooked(
    model: nn.Module,
    *,
    training: bool = False,
    hooks: Sequence[tuple[nn.Module, Hook]] = (),
    pre_hooks: Sequence[tuple[nn.Module, PreHook]] = (),
) -> Iterator[nn.Module]:
    """``model`` in train or eval mode with hooks registered, for the forward passes run inside the ``with``.

    Gradients are the caller's choice: wrap the passes in ``torch.no_grad()`` or ``torch.inference_mode()``.

    Args:
        model: the network; on exit each of its modules gets its own ``training`` flag back.
        training: the mode inside: False (default) is ``model.eval()``, True ``model.train()``.
        hooks: ``(module, hook)`` pairs registered as forward hooks, called as ``hook(module, inputs, output)``.
        pre_hooks: ``(module, hook)`` pairs registered as forward pre-hooks, called as ``hook(module, inputs)``.

    Yields:
        ``model``. The hooks are removed and the modes restored even when the body raises.

    Example:
        >>> with hooked(model, hooks=[(model.layer1, seen)]), torch.no_grad():  # doctest: +SKIP
        ...     model(x)
    """
    # Module by module: a network with a frozen (eval-mode) part inside a training one gets both back.
    modes = [(module, module.training) for module in model.modules()]
    handles = []
    try:
        for module, pre_hook in pre_hooks:
            handles.append(module.register_forward_pre_hook(pre_hook))
        for module, hook in hooks:
            handles.append(module.register_forward_hook(hook))
        model.train(training)
        yield model
    finally:
        for handle in handles:
            handle.remove()
        for module, was_training in modes:
            module.training = was_training


def forward_with_hooks(model: nn.Module, x: Tensor, hooks: Sequence[tuple[nn.Module, Hook]]) -> Any:
    """``model(x)`` once, in eval mode without gradients, inside ``hooked(model, hooks=hooks)``.

    Args:
        model: the network; each module's own ``training`` flag is put back afterwards.
        x: its input.
        hooks: ``(module, hook)`` pairs; a hook is called as ``hook(module, inputs, output)``.

    Returns:
        The model's output. The hooks are removed and the modes restored even when the forward pass raises.
    """
    with hooked(model, hooks=hooks), torch.no_grad():
        return model(x)


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
