"""The inference fast path: the same function as the eval-mode network, computed faster.

Steps, each safe in eval mode:
1. fold every BatchNorm into the convolution before it (exact up to rounding);
2. channels-last memory format (what oneDNN and cuDNN convolutions prefer);
3. reduced precision where the hardware computes it fast: bf16 on CPUs with AMX or
   AVX512-BF16 and on recent GPUs, fp16 on older GPUs; the weights are converted once
   (autocast on every call measured slower on CPU);
4. opt-in: the feature extractor compiled with ``torch.compile`` (inductor, frozen
   weights), about 30% faster again on CPU, but it takes seconds to minutes and a C++
   compiler, so ``Classifier`` only does it in a background thread.

Steps 1-3 take a fraction of a second, so the fast path is ready as soon as a model is.
(TorchScript tracing and freezing, measured here, gained 6% over eager steps 1-3 at the
cost of a second per model and an API PyTorch has deprecated; it is not used.)

The head (pooling and ``fc``) stays eager, so Grad-CAM can take gradients through it.
"""

from __future__ import annotations

import copy
import warnings
from typing import Optional

import torch
from torch import Tensor, nn

from .devices import cpu_has_fast_bf16
from .model import BasicBlock, Bottleneck, ResNet

__all__ = ["InferenceModel", "fold_batchnorm", "inference_dtype", "optimize_for_inference"]


def inference_dtype(device: torch.device) -> torch.dtype:
    """The fastest dtype that keeps predictions: bf16 or fp16 where the hardware has it, else fp32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A convolution computing ``bn(conv(x))`` with BatchNorm's running statistics."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups, bias=True
    ).to(conv.weight.device)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused


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


class _Features(nn.Module):
    def __init__(self, model: ResNet):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.forward_features(x)


class _FrozenCompiled(nn.Module):
    """``torch.compile`` with inductor's weight freezing, scoped to these calls (and their recompiles).

    Freezing (constant-folding the weights into the graph) is what makes the compiled CPU
    path fast; ``torch.compile(options={"freezing": True})`` did not enable it here, the
    inductor config does. A scoped patch leaves other compiled code in the process alone.
    """

    def __init__(self, features: nn.Module):
        super().__init__()
        self.compiled = torch.compile(features)

    def forward(self, x: Tensor) -> Tensor:
        import torch._inductor.config as inductor_config

        with inductor_config.patch(freezing=True):
            return self.compiled(x)


class InferenceModel(nn.Module):
    """``forward_features`` on the fast path, ``forward_head`` eager; outputs are fp32.

    Attributes:
        dtype: the precision the features are computed in.
        compiled: whether the feature extractor runs as a ``torch.compile`` graph.
    """

    def __init__(self, features: nn.Module, head: nn.Linear, dtype: torch.dtype, channels_last: bool, compiled: bool):
        super().__init__()
        self.features = features
        self.fc = head
        self.dtype = dtype
        self.channels_last = channels_last
        self.compiled = compiled

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's feature map, computed in ``self.dtype``."""
        x = x.to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.features(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """Average-pool and classify; fp32 logits."""
        return self.fc(features.mean(dim=(2, 3))).float()

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def optimize_for_inference(
    model: ResNet,
    device: torch.device,
    example_size: int,
    *,
    dtype: Optional[torch.dtype] = None,
    backend: str = "eager",
) -> InferenceModel:
    """Build the fast path for ``model`` on ``device`` and warm it up on one ``example_size`` input.

    Args:
        model: an eval-mode ResNet (not changed).
        device: where it will run.
        example_size: input side used for compiling and warm-up (the checkpoint's crop size).
        dtype: default: ``inference_dtype(device)``.
        backend: ``"eager"``, or ``"compile"`` (``torch.compile``; slow to build). If compiling fails,
            the fast path runs eagerly, with a warning.
    """
    if backend not in ("eager", "compile"):
        raise ValueError(f"backend must be 'eager' or 'compile', got {backend!r}")
    dtype = dtype or inference_dtype(device)
    channels_last = device.type in ("cpu", "cuda")
    folded = fold_batchnorm(model).to(device)
    if channels_last:
        folded = folded.to(memory_format=torch.channels_last)
    folded = folded.to(dtype)
    features: nn.Module = _Features(folded).eval()
    head = copy.deepcopy(model.fc).to(device=device, dtype=dtype).eval()
    example = torch.zeros(1, 3, example_size, example_size, device=device, dtype=dtype)
    if channels_last:
        example = example.contiguous(memory_format=torch.channels_last)
    compiled = False
    if backend == "compile":
        try:
            candidate = _FrozenCompiled(features)
            with torch.inference_mode():
                candidate(example)  # compiles now, not on a user's request
            features, compiled = candidate, True
        except Exception as e:  # an optimisation: keep serving, eagerly, and say why
            warnings.warn(f"torch.compile failed ({e}); running the fast path eagerly", RuntimeWarning)
    fast = InferenceModel(features, head, dtype, channels_last, compiled)
    with torch.inference_mode():
        fast(example)  # the first run chooses kernels and allocates
    return fast
