"""What an architecture diagram is made of: one traced forward pass, read as stem -> stages -> blocks -> layers.

``trace`` runs the model once over zeros through ``resnet.anatomy.hooks.forward_with_hooks`` (hooks removed,
modes restored) and records what each stem layer, stage, block and block layer takes and gives; the
drawing (``resnet.diagram.svg``) only places what this records. The labels are the paper's words
(``3x3 conv, 128, /2``), free of any language of the app's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn

from resnet.anatomy.hooks import SHORTCUT_NAMES, Hook, forward_with_hooks, named_stages

__all__ = ["Block", "Call", "Layout", "Stage", "describe", "dims", "shortcut_label", "trace"]


@dataclass
class Call:
    """One module's call in the traced pass: its dotted name, the module, and the shapes it took and gave."""

    name: str
    module: nn.Module
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


@dataclass
class Block:
    """A block as drawn: its call, where its input comes from, its layers and its shortcut."""

    call: Call
    source: str  # the module whose output it takes
    main: list[Call]  # the residual branch and what follows the addition, in call order
    join: Optional[int]  # index in ``main`` after which the shortcut is added; None: a plain block
    shortcut: Optional[Call]  # the shortcut module's call; None: the identity (or none, in a plain block)


@dataclass
class Stage:
    """A stage (``layer1`` ... ``layerN``) and its blocks, in call order."""

    call: Call
    blocks: list[Block]

    def summary(self) -> str:
        """The stage in one line: ``layer3: 6 x Bottleneck, 1024 x 14 x 14``."""
        kinds = "/".join(dict.fromkeys(type(b.call.module).__name__ for b in self.blocks))
        return f"{self.call.name}: {len(self.blocks)} x {kinds}, {dims(self.call.output_shape)}"


@dataclass
class Layout:
    """The whole traced network: input shape, stem calls, stages, and the head's calls."""

    input_shape: tuple[int, ...]
    stem: list[Call]
    stages: list[Stage]
    head: list[Call]


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if isinstance(value, Tensor) else ()


def dims(shape: Sequence[int]) -> str:
    """A shape as people read it, without the batch: ``1024 x 14 x 14``."""
    return " x ".join(str(s) for s in shape[1:])


def trace(model: nn.Module, input_size: Sequence[int]) -> Layout:
    """One forward pass over zeros of ``input_size``, recording the calls the drawing is made of.

    Args:
        model: a ResNet with torchvision's names; its train/eval modes are kept and no hooks remain.
            A model on the meta device traces too (shapes only, nothing computed).
        input_size: (batch, channels, height, width).

    Returns:
        The layout: stem, stages with their blocks, head.

    Raises:
        ValueError: ``input_size`` is not four positive numbers, the input is too small for the
            network, or its stages do not run once each, in order.
    """
    input_size = tuple(int(s) for s in input_size)
    if len(input_size) != 4 or min(input_size) < 1:
        raise ValueError(f"input_size must be four positive numbers (batch, channels, height, width), got {input_size}")
    stages = named_stages(model)
    calls: dict[str, list[Call]] = {}  # parent name ("" for the model) -> its children's calls, in order
    hooks: list[tuple[nn.Module, Hook]] = []

    def watch(parent: str, name: str, module: nn.Module) -> None:
        def hook(m: nn.Module, inputs: tuple, output: Any) -> None:
            calls.setdefault(parent, []).append(Call(name, m, _shape(inputs[0] if inputs else None), _shape(output)))

        hooks.append((module, hook))

    for name, child in model.named_children():
        watch("", name, child)
    for stage_name, stage in stages:
        for block_name, block in stage.named_children():
            full = f"{stage_name}.{block_name}"
            watch(stage_name, full, block)
            for child_name, child in block.named_children():
                watch(full, f"{full}.{child_name}", child)
    param = next(model.parameters(), None)
    forward_with_hooks(model, torch.zeros(input_size, device=param.device if param is not None else None), hooks)

    top = calls.get("", [])
    stage_names = [name for name, _ in stages]
    ran = [i for i, c in enumerate(top) if c.name in stage_names]
    if [top[i].name for i in ran] != stage_names:
        raise ValueError(f"expected the stages {stage_names} to run once each, in order; ran {[top[i].name for i in ran]}")
    plain = bool(getattr(model, "plain", False))
    source, built = (top[ran[0] - 1].name if ran[0] else "input"), []
    for i in ran:
        blocks = []
        for call in calls.get(top[i].name, []):
            blocks.append(_block(call, calls.get(call.name, []), plain, source))
            source = call.name
        if not blocks:
            raise ValueError(f"every stage needs at least one block; {top[i].name} ran none")
        built.append(Stage(top[i], blocks))
    return Layout(input_size, top[: ran[0]], built, top[ran[-1] + 1 :])


def _block(call: Call, children: list[Call], plain: bool, source: str) -> Block:
    main = [c for c in children if c.name.rsplit(".", 1)[-1] not in SHORTCUT_NAMES]
    shortcut = next((c for c in children if c.name.rsplit(".", 1)[-1] in SHORTCUT_NAMES), None)
    if plain or not getattr(call.module, "residual", True):
        return Block(call, source, main, None, None)
    # The residual branch ends at its last norm (torchvision's and the paper's blocks); the sum comes next.
    norms = [i for i, c in enumerate(main) if isinstance(c.module, nn.modules.batchnorm._BatchNorm)]
    return Block(call, source, main, norms[-1] if norms else len(main) - 1, shortcut)


def describe(module: nn.Module) -> tuple[str, str]:
    """The text in a layer's box, in the paper's words (``3x3 conv, 128, /2``), and its colour kind."""
    if isinstance(module, nn.Conv2d):
        (kh, kw), stride = module.kernel_size, module.stride[0]
        return f"{kh}x{kw} conv, {module.out_channels}" + (f", /{stride}" if stride > 1 else ""), "conv"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "BN", "norm"
    if isinstance(module, nn.ReLU):
        return "ReLU", "relu"
    if isinstance(module, nn.MaxPool2d):
        k, s = (v if isinstance(v, int) else v[0] for v in (module.kernel_size, module.stride))
        return f"{k}x{k} max pool, /{s}", "pool"
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return ("global avg pool" if module.output_size in (1, (1, 1)) else "avg pool"), "pool"
    if isinstance(module, nn.Linear):
        return f"fc, {module.out_features}", "fc"
    return type(module).__name__, "other"


def shortcut_label(block: Block, *, identity: str = "identity") -> tuple[str, str, bool]:
    """A residual block's shortcut as ``(title, detail, is_projection)``: ``("1x1 conv + BN", "256, /2", True)``.

    A shortcut with weights is a projection; without (the identity, or the paper's option A, which
    subsamples and zero-pads) it is drawn as a line, named ``identity`` (the word given) or by its class.
    """
    sc = block.shortcut
    if sc is None:
        return identity, "", False
    if next(sc.module.parameters(), None) is None:
        return type(sc.module).__name__, "", False
    parts, detail = [], ""
    for m in sc.module.modules():
        if isinstance(m, nn.Conv2d):
            parts.append(f"{m.kernel_size[0]}x{m.kernel_size[1]} conv")
            detail = f"{m.out_channels}" + (f", /{m.stride[0]}" if m.stride[0] > 1 else "")
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            parts.append("BN")
    return " + ".join(parts) or type(sc.module).__name__, detail, True
