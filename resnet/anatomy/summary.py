"""A per-layer table of a network: shapes, parameters, MACs, memory and receptive field.

Records (``LayerRow``), totals and rendering are kept apart: ``summarize`` runs one
forward pass with hooks and returns a ``Summary``, which computes its totals once
and renders text, a DataFrame, CSV or JSON on request.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn

from resnet.files import atomic_write

from .hooks import hooked

__all__ = ["FRAME_COLUMNS", "LayerRow", "Summary", "summarize"]


FRAME_COLUMNS = ("layer", "type", "input", "output", "kernel/stride", "params", "MACs (M)", "output (kB)", "RF size/stride")


@dataclass(frozen=True)
class LayerRow:
    """One module call in forward order, or a block / stage with summed figures."""

    name: str  # dotted path, e.g. "layer1.0.conv1"
    kind: str  # class name, e.g. "Conv2d"
    depth: int  # number of dotted parts in ``name``
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kernel_size: Optional[int]  # conv and pooling layers only
    stride: Optional[int]
    params: int
    trainable_params: int
    macs: int  # multiply-accumulates of convolutions and linear layers
    output_bytes: int  # a grouped row: the outputs of all the leaves inside it
    rf_size: int  # receptive field, in input pixels, of one output position
    rf_stride: int  # distance, in input pixels, between neighbouring output positions


class Summary:
    """The rows of a summary plus totals computed once from the model itself.

    Attributes:
        rows: ``LayerRow`` objects in forward order.
        input_size: the input shape the summary was made with.
        total_params: parameters of the model, shared ones counted once.
        trainable_params: those with ``requires_grad``.
        total_macs: multiply-accumulates of one forward pass over ``input_size``.
        param_bytes: memory held by the parameters.
        activation_bytes: memory of every layer output of one forward pass.
    """

    def __init__(self, rows: Sequence[LayerRow], model: nn.Module, input_size: tuple[int, ...], leaf_rows: Sequence[LayerRow]):
        self.rows = list(rows)
        self.input_size = tuple(input_size)
        params = list(model.parameters())
        # Totals come from the model, not from adding rows, so shared weights count once.
        self.total_params = sum(p.numel() for p in params)
        self.trainable_params = sum(p.numel() for p in params if p.requires_grad)
        self.param_bytes = sum(p.numel() * p.element_size() for p in params)
        self.total_macs = sum(r.macs for r in leaf_rows)
        self.activation_bytes = sum(r.output_bytes for r in leaf_rows)

    def to_records(self) -> list[dict[str, Any]]:
        """The rows as plain dicts (shapes as lists)."""
        return [dataclasses.asdict(r) for r in self.rows]

    def totals(self) -> dict[str, int]:
        """Totals as a dict, for JSON and display."""
        return {
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_macs": self.total_macs,
            "param_bytes": self.param_bytes,
            "activation_bytes": self.activation_bytes,
        }

    def to_frame(self):
        """The table as people read it (and as ``to_csv`` writes it): a ``pandas.DataFrame`` of display columns.

        Columns: layer, type, input, output (shapes as ``1x64x56x56``), kernel/stride, params,
        MACs (M), output (kB), RF size/stride. ``to_json`` keeps every ``LayerRow`` field unrounded.
        """
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "layer": r.name,
                    "type": r.kind,
                    "input": _format_shape(r.input_shape),
                    "output": _format_shape(r.output_shape),
                    "kernel/stride": f"{r.kernel_size}/{r.stride}" if r.kernel_size else "",
                    "params": r.params,
                    "MACs (M)": round(r.macs / 1e6, 3),
                    "output (kB)": round(r.output_bytes / 1e3, 1),
                    "RF size/stride": f"{r.rf_size}/{r.rf_stride}",
                }
                for r in self.rows
            ],
            columns=FRAME_COLUMNS,
        )

    def to_csv(self, path: Optional[str | os.PathLike] = None) -> str:
        """The ``to_frame`` table as CSV text, also written to ``path`` (atomically) when given."""
        text = self.to_frame().to_csv(index=False)
        if path is not None:
            atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return text

    def to_json(self, path: Optional[str] = None) -> str:
        """Write ``{"input_size", "totals", "rows"}`` as JSON to ``path`` (if given) and return the text."""
        text = json.dumps({"input_size": list(self.input_size), "totals": self.totals(), "rows": self.to_records()}, indent=2)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    def __str__(self) -> str:
        header = ("Layer", "Type", "Input", "Output", "Kernel", "Stride", "Params", "MACs", "Output mem", "RF")
        body = [
            (
                r.name,
                r.kind,
                _format_shape(r.input_shape),
                _format_shape(r.output_shape),
                "" if r.kernel_size is None else str(r.kernel_size),
                "" if r.stride is None else str(r.stride),
                f"{r.params:,}",
                _format_count(r.macs),
                _format_bytes(r.output_bytes),
                f"{r.rf_size}/{r.rf_stride}",
            )
            for r in self.rows
        ]
        widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]
        right = {4, 5, 6, 7, 8, 9}

        def line(cells: Sequence[str]) -> str:
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        rule = "-" * len(line(header))
        lines = [line(header), rule, *(line(row) for row in body), rule]
        lines += [
            f"Input size: {_format_shape(self.input_size)}   (RF = receptive field size / cumulative stride, in pixels)",
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Total MACs: {_format_count(self.total_macs)} ({self.total_macs:,})",
            f"Params size: {_format_bytes(self.param_bytes)}",
            f"Forward activations: {_format_bytes(self.activation_bytes)}",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Summary(rows={len(self.rows)}, total_params={self.total_params}, total_macs={self.total_macs})"


def summarize(model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224), *, depth: Optional[int] = None) -> Summary:
    """Run one forward pass and tabulate every layer.

    Args:
        model: any ``nn.Module``; it runs in eval mode, then each module gets its own train/eval mode back
            (a BatchNorm frozen in eval mode inside a training network stays so) and no hooks remain.
        input_size: shape of the dummy input, batch first.
        depth: ``None`` for one row per leaf module; ``1`` groups rows into stages
            (``layer1`` ...), ``2`` into residual blocks (``layer1.0`` ...), with
            summed parameters, MACs and memory.

    Returns:
        A ``Summary``.

    Raises:
        ValueError: ``input_size`` or ``depth`` is unusable, or the forward pass fails for this input.
    """
    input_size = tuple(int(s) for s in input_size)
    if len(input_size) != 4 or min(input_size) < 1:
        raise ValueError(f"input_size must be four positive numbers (batch, channels, height, width), got {input_size}")
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be None or at least 1, got {depth}")

    names = {module: name for name, module in model.named_modules()}
    calls: list[_Call] = []
    stack: list[_Call] = []
    rf_of: dict[int, tuple[int, int]] = {}  # id(tensor) -> (rf size, rf stride)
    alive: list[Tensor] = []  # keeps tensors alive so their ids are not reused during the pass

    def pre_hook(module: nn.Module, inputs: tuple) -> None:
        x = inputs[0] if inputs and isinstance(inputs[0], Tensor) else None
        parent = stack[-1] if stack else None
        if x is not None and id(x) in rf_of:
            rf_in = rf_of[id(x)]
        else:
            # Made by an operation outside any module (a residual sum, a flatten): the
            # widest field seen so far in the enclosing module is what it depends on.
            rf_in = parent.widest if parent is not None else (1, 1)
        call = _Call(module, names.get(module, ""), tuple(x.shape) if x is not None else (), rf_in)
        calls.append(call)
        stack.append(call)

    def post_hook(module: nn.Module, inputs: tuple, output: Any) -> None:
        call = stack.pop()
        out = output if isinstance(output, Tensor) else None
        call.output_shape = tuple(out.shape) if out is not None else ()
        if call.is_leaf:
            call.rf_out = _receptive_field(module, call.rf_in, call.input_shape)
            call.macs = _macs(module, out)
            call.output_bytes = out.numel() * out.element_size() if out is not None else 0
            # A grouped row (block, stage) carries the sums of the leaves it contains.
            for outer in stack:
                outer.macs += call.macs
                outer.output_bytes += call.output_bytes
        else:
            call.rf_out = call.widest
        if out is not None:
            rf_of[id(out)] = call.rf_out
            alive.append(out)
        if stack:
            stack[-1].see(call.rf_out)

    param = next(model.parameters(), None)
    x = torch.zeros(input_size, device=param.device if param is not None else None)
    try:
        with hooked(model, pre_hooks=[(m, pre_hook) for m in names], hooks=[(m, post_hook) for m in names]), torch.no_grad():
            model(x)
    except (RuntimeError, ValueError) as e:
        ran = [c.name for c in calls if c.is_leaf and c.output_shape]
        where = f" after {ran[-1]}" if ran else ""
        raise ValueError(f"forward pass failed for input_size={input_size}{where}: {e}") from e

    leaves = [c.row() for c in calls if c.is_leaf]
    if depth is None:
        rows = leaves
    else:
        # A module at the chosen depth stands for everything inside it; shallower leaves stay as they are.
        rows = [c.row() for c in calls if c.name and (c.depth == depth or (c.is_leaf and c.depth < depth))]
    return Summary(rows, model, input_size, leaves)


class _Call:
    """Mutable record of one module call while the forward pass runs."""

    def __init__(self, module: nn.Module, name: str, input_shape: tuple[int, ...], rf_in: tuple[int, int]):
        self.module = module
        self.name = name
        self.depth = len(name.split(".")) if name else 0
        self.is_leaf = next(module.children(), None) is None
        self.input_shape = input_shape
        self.output_shape: tuple[int, ...] = ()
        self.output_bytes = 0
        self.rf_in = rf_in
        self.rf_out = rf_in
        self.widest = rf_in
        self.macs = 0

    def see(self, rf: tuple[int, int]) -> None:
        if rf[0] > self.widest[0]:
            self.widest = rf

    def row(self) -> LayerRow:
        params = list(self.module.parameters())
        kernel, stride = _kernel_stride(self.module)
        return LayerRow(
            name=self.name,
            kind=type(self.module).__name__,
            depth=self.depth,
            input_shape=self.input_shape,
            output_shape=self.output_shape,
            kernel_size=kernel,
            stride=stride,
            params=sum(p.numel() for p in params),
            trainable_params=sum(p.numel() for p in params if p.requires_grad),
            macs=self.macs,
            output_bytes=self.output_bytes,
            rf_size=self.rf_out[0],
            rf_stride=self.rf_out[1],
        )


def _first(value: Any) -> int:
    return int(value[0]) if isinstance(value, (tuple, list)) else int(value)


def _kernel_stride(module: nn.Module) -> tuple[Optional[int], Optional[int]]:
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        return _first(module.kernel_size), _first(module.stride if module.stride is not None else module.kernel_size)
    return None, None


def _receptive_field(module: nn.Module, rf_in: tuple[int, int], input_shape: tuple[int, ...]) -> tuple[int, int]:
    """Receptive field after ``module``: r_out = r_in + (k - 1) * d * j_in, j_out = j_in * s (along the height)."""
    size, jump = rf_in
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k = _first(module.kernel_size)
        s = _first(module.stride if module.stride is not None else module.kernel_size)
        d = _first(getattr(module, "dilation", 1))
        return size + (k - 1) * d * jump, jump * s
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and len(input_shape) == 4:
        out = module.output_size
        out_h = _first(out) if out is not None else input_shape[2]
        k = max(input_shape[2] // max(out_h, 1), 1)
        return size + (k - 1) * jump, jump * k
    return size, jump


def _macs(module: nn.Module, out: Optional[Tensor]) -> int:
    """Multiply-accumulates of convolutions and linear layers (norms, activations, pooling count 0)."""
    if out is None:
        return 0
    if isinstance(module, nn.Conv2d):
        k_h, k_w = module.kernel_size
        return out.numel() * (module.in_channels // module.groups) * k_h * k_w
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


def _format_shape(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def _format_count(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def _format_bytes(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"
