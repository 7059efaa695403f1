"""The inference fast path: the same function as the eval-mode network, computed faster.

Steps, each safe in eval mode:
1. fold every BatchNorm into the convolution before it (exact up to rounding);
2. reduced precision where the hardware computes it fast: bf16 on CPUs with AMX or
   AVX512-BF16 and on recent GPUs, fp16 on older GPUs; the weights are converted once
   (autocast on every call measured slower on CPU);
3. on the CPU, each convolution runs as one oneDNN primitive (``OneDNNConv2d``): its weights
   are reordered once into the blocked layout oneDNN computes in, instead of on every call,
   and the ReLU, and in a block's last convolution the shortcut addition too, are fused into
   it as post-ops. These are the kernels ``torch.compile`` emits for a frozen CPU graph, called
   directly: nothing is compiled and building takes a fraction of a second (docs/PERFORMANCE.md
   compares it with the compiled graph). On CUDA and MPS, on CPUs other than x86-64 (not measured)
   and with a PyTorch built without oneDNN, the folded network runs eagerly in channels-last instead.

The head (pooling and ``fc``) stays eager and fp32: one small matrix product gains nothing from reduced
precision, and the class activation maps weigh the features by the same fp32 ``fc`` rows that gave the
probabilities.
"""

from __future__ import annotations

import copy
import platform
import warnings
from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .devices import fast_dtype
from .model import BasicBlock, Bottleneck, ResNet, check_input

__all__ = [
    "InferenceModel",
    "OneDNNConv2d",
    "OneDNNFeatures",
    "fold_batchnorm",
    "onednn_available",
    "optimize_for_inference",
]


def _fold(conv: nn.Conv2d, bn: nn.Module) -> nn.Conv2d:
    """A convolution computing ``bn(conv(x))`` with BatchNorm's running statistics (``conv`` itself if ``bn`` is no BatchNorm)."""
    return fuse_conv_bn_eval(conv, bn) if isinstance(bn, nn.BatchNorm2d) else conv


def fold_batchnorm(model: ResNet) -> ResNet:
    """An eval-mode copy of ``model`` with each BatchNorm folded into its convolution (the norm becomes Identity)."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if isinstance(module, (ResNet, BasicBlock, Bottleneck)):
            for conv_name, bn_name in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
                conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    setattr(module, conv_name, _fold(conv, bn))
                    setattr(module, bn_name, nn.Identity())
            downsample = getattr(module, "downsample", None)
            if isinstance(downsample, nn.Sequential) and isinstance(downsample[1], nn.BatchNorm2d):
                downsample[0], downsample[1] = _fold(downsample[0], downsample[1]), nn.Identity()
    return folded


def onednn_available() -> bool:
    """Whether this PyTorch build has the oneDNN convolution kernels ``OneDNNConv2d`` calls."""
    ops = torch.ops.mkldnn
    return torch.backends.mkldnn.is_available() and all(
        hasattr(ops, name) for name in ("_convolution_pointwise", "_reorder_convolution_weight")
    )


class OneDNNConv2d(nn.Module):
    """A biased convolution as one oneDNN primitive on the CPU, with its weights packed once.

    Computes ``conv(x)``, then ``+ shortcut`` if one is given, then ReLU if ``relu``: all in one
    kernel, with no intermediate tensors. The sum is written over ``shortcut`` (as compiled graphs
    do), so pass one only when it is not needed afterwards.

    Args:
        conv: a convolution (BatchNorm folded in); its weights are copied in ``dtype``.
        relu: apply ReLU at the end.
        input_size: the (N, C, H, W) it will usually see; oneDNN picks the weight layout for it
            (other sizes give the same results).
        dtype: the compute precision, fp32 or bf16.
    """

    def __init__(self, conv: nn.Conv2d, relu: bool, input_size: Sequence[int], dtype: torch.dtype):
        super().__init__()
        self.padding, self.stride, self.dilation = list(conv.padding), list(conv.stride), list(conv.dilation)
        self.groups = conv.groups
        self.relu = relu
        self.input_size = list(input_size)
        self.output_size = [
            self.input_size[0],
            conv.out_channels,
            *((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, p, s, d in zip(self.input_size[2:], conv.kernel_size, self.padding, self.stride, self.dilation)),
        ]
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
        self._pack(conv.weight.detach().to(dtype), bias.to(dtype))

    def _pack(self, weight: Tensor, bias: Tensor) -> None:
        self.dense_weight_shape = tuple(weight.shape)
        # An opaque oneDNN tensor: not a parameter, so it stays out of state_dict() and .to().
        self.packed_weight = torch.ops.mkldnn._reorder_convolution_weight(
            weight, self.padding, self.stride, self.dilation, self.groups, self.input_size
        )
        self.bias = bias

    def forward(self, x: Tensor, shortcut: Optional[Tensor] = None) -> Tensor:
        unary = "relu" if self.relu else "none"
        args = (self.padding, self.stride, self.dilation, self.groups)
        if shortcut is None:
            return torch.ops.mkldnn._convolution_pointwise(x, self.packed_weight, self.bias, *args, unary, [], "")
        return torch.ops.mkldnn._convolution_pointwise_.binary(
            shortcut, x, self.packed_weight, self.bias, *args, "add", 1.0, unary, [], ""
        )

    # oneDNN's packed tensors cannot be copied or pickled: keep the dense weights in the state and repack.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["packed_weight"] = self.packed_weight.to_dense()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        dense = state.pop("packed_weight")
        super().__setstate__(state)
        self._pack(dense.reshape(self.dense_weight_shape), self.bias)

    def extra_repr(self) -> str:
        return f"{self.dense_weight_shape}, stride={tuple(self.stride)}, relu={self.relu}"


class _OneDNNBlock(nn.Module):
    """A ``BasicBlock`` or ``Bottleneck`` in eval mode as a chain of ``OneDNNConv2d``; the last one adds the shortcut.

    Without a projection, the output is written over the input (an intermediate of ``OneDNNFeatures``).
    """

    def __init__(self, block: BasicBlock | Bottleneck, input_size: Sequence[int], dtype: torch.dtype):
        super().__init__()
        names = ("1", "2", "3") if isinstance(block, Bottleneck) else ("1", "2")
        convs, size = [], list(input_size)
        for n in names:
            conv = _fold(getattr(block, f"conv{n}"), getattr(block, f"bn{n}"))
            convs.append(OneDNNConv2d(conv, relu=True, input_size=size, dtype=dtype))
            size = convs[-1].output_size
        self.convs = nn.ModuleList(convs)
        self.residual = block.residual
        self.downsample = None
        if block.downsample is not None:
            projection = _fold(block.downsample[0], block.downsample[1])
            self.downsample = OneDNNConv2d(projection, relu=False, input_size=input_size, dtype=dtype)
        self.output_size = size

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for conv in self.convs[:-1]:
            out = conv(out)
        shortcut = None
        if self.residual:
            shortcut = x if self.downsample is None else self.downsample(x)
        return self.convs[-1](out, shortcut)


class OneDNNFeatures(nn.Module):
    """``ResNet.forward_features`` of an eval-mode network, built from ``OneDNNConv2d``.

    BatchNorm is folded one convolution at a time, so building never holds a second fp32 copy of the network.
    """

    def __init__(self, model: ResNet, input_size: Sequence[int], dtype: torch.dtype):
        super().__init__()
        self.stem = OneDNNConv2d(_fold(model.conv1, model.bn1), relu=True, input_size=input_size, dtype=dtype)
        self.maxpool = model.maxpool
        n, c, h, w = self.stem.output_size
        size = [n, c, (h + 1) // 2, (w + 1) // 2]  # the 3x3, stride 2, padding 1 max-pool
        blocks = []
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
            for block in stage:
                blocks.append(_OneDNNBlock(block, size, dtype))
                size = blocks[-1].output_size
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.stem.dense_weight_shape[1])
        return self.blocks(self.maxpool(self.stem(x)))


class _EagerFeatures(nn.Module):
    def __init__(self, folded: ResNet):
        super().__init__()
        self.model = folded

    def forward(self, x: Tensor) -> Tensor:
        return self.model.forward_features(x)


class InferenceModel(nn.Module):
    """``forward_features`` on the fast path, ``forward_head`` eager in fp32.

    Attributes:
        dtype: the precision the features are computed in.
        backend: ``"onednn"`` (fused, pre-packed CPU kernels) or ``"eager"`` (folded modules).
    """

    def __init__(self, features: nn.Module, head: nn.Linear, dtype: torch.dtype, channels_last: bool, backend: str):
        super().__init__()
        self.features = features
        self.fc = head
        self.dtype = dtype
        self.channels_last = channels_last
        self.backend = backend

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's feature map, computed in ``self.dtype``."""
        layout = torch.channels_last if self.channels_last else torch.preserve_format
        return self.features(x.to(self.dtype, memory_format=layout))  # one copy: precision and layout together

    def forward_head(self, features: Tensor) -> Tensor:
        """Average-pool and classify in fp32."""
        return self.fc(features.mean(dim=(2, 3), dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def optimize_for_inference(
    model: ResNet,
    device: torch.device,
    example_size: int,
    *,
    dtype: Optional[torch.dtype] = None,
    backend: Optional[str] = None,
) -> InferenceModel:
    """Build the fast path for ``model`` on ``device`` and warm it up on one ``example_size`` input.

    Args:
        model: an eval-mode ResNet (not changed).
        device: where it will run.
        example_size: the input side it will usually see (the checkpoint's crop size).
        dtype: default: ``resnet.devices.fast_dtype(device)``.
        backend: ``"onednn"`` or ``"eager"``; default: ``"onednn"`` on an x86-64 CPU whose PyTorch has it
            (where it was measured), else ``"eager"``. If the oneDNN kernels fail to build or run, the eager
            path is used, with a warning.

    Raises:
        ValueError: an unknown ``backend``, ``"onednn"`` off the CPU, or a ``model`` not in eval mode
            (``fuse_conv_bn_eval`` folds only eval-mode BatchNorm).
    """
    if any(module.training for module in model.modules()):
        raise ValueError("model must be in eval mode (call model.eval() first): the fast path computes the eval-mode network")
    if backend not in (None, "onednn", "eager"):
        raise ValueError(f"backend must be 'onednn' or 'eager', got {backend!r}")
    if backend == "onednn" and device.type != "cpu":
        raise ValueError(f"the oneDNN backend runs on the CPU only, not on {device.type}")
    if backend is None:
        x86 = platform.machine().lower() in ("x86_64", "amd64")
        backend = "onednn" if device.type == "cpu" and x86 and onednn_available() else "eager"
    dtype = dtype or fast_dtype(device)
    channels_last = device.type in ("cpu", "cuda")
    head = copy.deepcopy(model.fc).to(device).eval()  # fp32: one small matrix product gains nothing from bf16
    example = torch.zeros(1, 3, example_size, example_size, device=device)

    if backend == "onednn":
        try:
            with torch.no_grad():
                features = OneDNNFeatures(model, example.shape, dtype)
            fast = InferenceModel(features, head, dtype, channels_last, "onednn")
            with torch.inference_mode():
                fast(example)  # the first run creates the primitives
            return fast
        except RuntimeError as e:  # an optimisation: keep serving, eagerly, and say why
            warnings.warn(f"oneDNN kernels unavailable ({e}); running the fast path eagerly", RuntimeWarning)
    folded = fold_batchnorm(model).to(device=device, dtype=dtype)
    if channels_last:
        folded = folded.to(memory_format=torch.channels_last)
    fast = InferenceModel(_EagerFeatures(folded).eval(), head, dtype, channels_last, "eager")
    with torch.inference_mode():
        fast(example)  # the first run chooses kernels and allocates
    return fast
