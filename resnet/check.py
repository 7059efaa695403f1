"""Check a ResNet someone wrote against the reference of the same depth: where it first departs, and missing ReLUs.

Students write their own ResNet from tutorials, and two mistakes are common: a bottleneck with no
ReLU after its first two convolutions, and a ResNet-50 that keeps the basic block's widths (16-channel
1x1 layers, a 512-input classifier instead of 2048). ``check_resnet`` reads what was built, without
running or unpickling anything:

- a ``.safetensors`` state_dict: the tensor names and shapes in its header (the weights are not read);
- an ``.onnx`` file: its graph, so that missing activations can be seen too;
- an ``nn.Module`` (the command line's ``python -m resnet check model.py:factory``): exported to ONNX
  in memory, then read as above.

The layers that fix a ResNet's shape are its convolutions and its classifier; they are compared in
order (the graph's order for ONNX; for a state_dict, tensor names in natural order, convolutions
before the classifier, which is torchvision's order for its names).

Example:
    >>> report = check_resnet("my_resnet50.safetensors", "resnet50")  # doctest: +SKIP
    >>> print(report)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from .model import ARCHS, build

__all__ = ["MAX_MODEL_BYTES", "CheckReport", "Difference", "Layer", "check_resnet"]

MAX_MODEL_BYTES = 128 * 2**20  # a ResNet-50 is about 100 MB as safetensors or ONNX; ResNet-101/152 need the command line
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
_ACTIVATIONS = {"Relu", "Clip", "LeakyRelu", "PRelu", "Elu", "Selu", "Sigmoid", "HardSigmoid", "HardSwish", "Gelu", "Mish", "Softplus"}
_PASS_THROUGH = {"BatchNormalization", "Identity", "Dropout"}  # between a convolution and its activation


@dataclass(frozen=True)
class Layer:
    """A convolution or linear layer: its name, weight shape and weight parameters."""

    name: str
    kind: str  # "conv" or "linear"
    shape: tuple[int, ...]

    @property
    def params(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Difference:
    """The first position where the two layer lists differ; ``None`` on a side that has no layer there."""

    index: int  # 0-based position among convolutions and linear layers
    theirs: Optional[Layer]
    reference: Optional[Layer]


@dataclass(frozen=True)
class CheckReport:
    """What ``check_resnet`` found.

    Attributes:
        arch: the reference it was compared with.
        source: ``"safetensors"``, ``"onnx"`` or ``"module"``.
        layers: convolutions and linear layers in the checked model (``reference_layers``: in the reference).
        first_difference: ``None`` when every layer's weight shape matches.
        theirs_total, reference_total: parameters (for a state_dict), or the weights of the convolutions
            and linear layers (for ONNX, whose exporters fold BatchNorm into the convolutions), as ``total_kind`` says.
        total_kind: ``"parameters"`` or ``"conv_linear_weights"``.
        missing_relus: ONNX only (else ``None``): the convolutions whose output reaches neither an activation
            nor the residual sum, so the block is linear where the paper has a ReLU.
    """

    arch: str
    source: str
    layers: int
    reference_layers: int
    first_difference: Optional[Difference]
    theirs_total: int
    reference_total: int
    total_kind: str
    missing_relus: Optional[tuple[str, ...]]

    @property
    def matches(self) -> bool:
        """True when the shapes match and no activation is missing."""
        return self.first_difference is None and not self.missing_relus

    def __str__(self) -> str:
        what = "parameters" if self.total_kind == "parameters" else "convolution and linear weights"
        lines = [f"Checked against {self.arch}: {self.layers} convolution/linear layers (reference: {self.reference_layers})."]
        d = self.first_difference
        if d is None:
            lines.append("Every layer's weight shape matches the reference.")
        else:
            theirs = f"{d.theirs.name} {_shape(d.theirs.shape)} ({d.theirs.params:,} weights)" if d.theirs else "nothing"
            ref = f"{d.reference.name} {_shape(d.reference.shape)} ({d.reference.params:,} weights)" if d.reference else "nothing"
            lines.append(f"First difference at layer {d.index + 1}: yours is {theirs}; the reference has {ref}.")
        lines.append(f"Total {what}: yours {self.theirs_total:,}, the reference {self.reference_total:,}.")
        if self.missing_relus:
            lines.append(f"No ReLU after {len(self.missing_relus)} convolution(s) inside blocks: {', '.join(self.missing_relus)}.")
        elif self.missing_relus is not None:
            lines.append("Every convolution is followed by a ReLU or by the residual sum.")
        return "\n".join(lines)


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def _natural(name: str) -> list:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[._]", name)]


def _state_layers(shapes: Mapping[str, Sequence[int]]) -> list[Layer]:
    weights = [(k[: -len(".weight")], tuple(s)) for k, s in shapes.items() if k.endswith("weight") and len(s) in (2, 4)]
    weights.sort(key=lambda kv: (len(kv[1]) == 2, _natural(kv[0])))  # convolutions first, in natural name order
    return [Layer(name, "conv" if len(shape) == 4 else "linear", shape) for name, shape in weights]


def _reference(arch: str) -> nn.Module:
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        return build(arch)


def _module_layers(model: nn.Module) -> list[Layer]:
    """Convolutions and linear layers in the order they were registered (torchvision's forward order)."""
    return [Layer(name, "conv" if isinstance(m, nn.Conv2d) else "linear", tuple(m.weight.shape))
            for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _first_difference(theirs: Sequence[Layer], reference: Sequence[Layer]) -> Optional[Difference]:
    for i in range(max(len(theirs), len(reference))):
        a = theirs[i] if i < len(theirs) else None
        b = reference[i] if i < len(reference) else None
        if a is None or b is None or a.shape != b.shape:
            return Difference(i, a, b)
    return None


def _safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:  # reads the header only: names, dtypes, shapes
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for a damaged header
        raise ValueError(f"{path.name} is not a readable .safetensors file ({e})") from e


def _scope_name(node_name: str) -> str:
    """``/layer1/layer1.0/downsample/downsample.0/Conv`` -> ``layer1.0.downsample.0`` (the TorchScript exporter's scopes)."""
    parts = [p for p in node_name.strip("/").split("/")[:-1] if p]
    if not parts:
        return node_name
    full, last = parts[0], parts[0]
    for part in parts[1:]:
        full = full + part[len(last):] if part.startswith(last + ".") else f"{full}.{part}"
        last = part
    return full


class _Onnx:
    """An ONNX graph read for its convolutions, linear layers and what follows each convolution."""

    def __init__(self, data: Union[Path, bytes]) -> None:
        import onnx
        from onnx import numpy_helper

        try:
            model = onnx.load_from_string(data) if isinstance(data, bytes) else onnx.load(str(data), load_external_data=False)
        except Exception as e:  # protobuf's DecodeError and onnx's own errors: the file is not an ONNX model
            raise ValueError(f"{'the model' if isinstance(data, bytes) else data.name} is not a readable .onnx file ({e})") from e
        graph = model.graph
        self.dims: dict[str, tuple[int, ...]] = {i.name: tuple(i.dims) for i in graph.initializer}
        self.consumers: dict[str, list[Any]] = {}
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].type == onnx.AttributeProto.TENSOR:
                self.dims[node.output[0]] = tuple(numpy_helper.to_array(node.attribute[0].t).shape)
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.aliases = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity" and n.input}
        self.nodes = list(graph.node)

    def weight(self, name: str) -> Optional[tuple[int, ...]]:
        while name not in self.dims and name in self.aliases:
            name = self.aliases[name]
        return self.dims.get(name)

    def layers(self) -> list[tuple[Layer, Any]]:
        found = []
        for node in self.nodes:
            kind = {"Conv": "conv", "Gemm": "linear", "MatMul": "linear"}.get(node.op_type)
            shape = self.weight(node.input[1]) if kind and len(node.input) > 1 else None
            if shape is None:
                continue
            if node.op_type == "MatMul":
                shape = tuple(reversed(shape))  # stored (in, out); written as torch's (out, in)
            elif node.op_type == "Gemm" and not any(a.name == "transB" and a.i for a in node.attribute):
                shape = tuple(reversed(shape))
            name = _scope_name(node.name) if node.name.startswith("/") else (node.name or node.input[1])
            found.append((Layer(name, kind, shape), node))
        return found

    def activated(self, node: Any) -> bool:
        """Whether a convolution's output reaches an activation or a residual sum (through BatchNorm, Identity, Dropout)."""
        outputs = list(node.output[:1])
        while outputs:
            consumers = [c for o in outputs for c in self.consumers.get(o, [])]
            if any(c.op_type in _ACTIVATIONS or c.op_type in ("Add", "Sum") for c in consumers):
                return True
            outputs = [c.output[0] for c in consumers if c.op_type in _PASS_THROUGH]
        return False


def _onnx_report(graph: _Onnx, arch: str, source: str) -> CheckReport:
    reference = _module_layers(_reference(arch))
    found = graph.layers()
    layers = [layer for layer, _ in found]
    missing = tuple(layer.name for layer, node in found if layer.kind == "conv" and not graph.activated(node))
    return CheckReport(
        arch, source, len(layers), len(reference), _first_difference(layers, reference),
        sum(layer.params for layer in layers), sum(layer.params for layer in reference), "conv_linear_weights", missing,
    )


def _module_onnx(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    was_training = model.training
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notices and tracer warnings
            torch.onnx.export(model.eval(), (torch.zeros(1, 3, 224, 224),), buffer, dynamo=False, opset_version=17)
    finally:
        model.train(was_training)
    return buffer.getvalue()


def check_resnet(source: Union[str, Path, nn.Module, Mapping[str, torch.Tensor]], arch: str) -> CheckReport:
    """Compare a model with the reference ResNet of depth ``arch``.

    Args:
        source: a ``.safetensors`` or ``.onnx`` path (at most ``MAX_MODEL_BYTES``), a state_dict, or an
            ``nn.Module`` (exported to ONNX in memory so that activations can be checked; if it cannot be
            exported, its state_dict is compared).
        arch: one of ``ARCHS``, the depth the model was meant to have.

    Returns:
        A ``CheckReport``.

    Raises:
        ValueError: unknown ``arch``, a file of another type, too large, or unreadable.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if isinstance(source, nn.Module):
        try:
            return _onnx_report(_Onnx(_module_onnx(source)), arch, "module")
        except (RuntimeError, ValueError, TypeError) as e:
            warnings.warn(f"the model could not be exported to ONNX ({e}); comparing its state_dict only", stacklevel=2)
            return _state_report({k: tuple(v.shape) for k, v in source.state_dict().items()}, arch, "module")
    if isinstance(source, Mapping):
        return _state_report({k: tuple(v.shape) for k, v in source.items()}, arch, "state_dict")
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in (".safetensors", ".onnx"):
        raise ValueError(f"{path.name}: give a .safetensors state_dict or an .onnx file (pickled .pt/.pth files are never opened)")
    if not path.is_file():
        raise ValueError(f"no file {path.name}")
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ValueError(f"{path.name} is {size / 2**20:.0f} MB, over the {MAX_MODEL_BYTES // 2**20} MB limit")
    if suffix == ".onnx":
        return _onnx_report(_Onnx(path), arch, "onnx")
    return _state_report(_safetensors_shapes(path), arch, "safetensors")


def _state_report(shapes: Mapping[str, Sequence[int]], arch: str, source: str) -> CheckReport:
    reference_model = _reference(arch)
    layers = _state_layers(shapes)
    reference = _state_layers({k: tuple(v.shape) for k, v in reference_model.state_dict().items()})  # the same order rule on both sides
    return CheckReport(
        arch, source, len(layers), len(reference), _first_difference(layers, reference),
        sum(math.prod(s) for k, s in shapes.items() if not k.endswith(_BUFFERS)),
        sum(p.numel() for p in reference_model.parameters()), "parameters", None,
    )

