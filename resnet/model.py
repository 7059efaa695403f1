"""ResNet-18/34/50/101/152 and their plain (no-shortcut) twins, in one file.

References:
    He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
    https://arxiv.org/abs/1512.03385
    torchvision's ResNet v1.5: the bottleneck strides on its 3x3 convolution,
    not on the first 1x1 as the paper's v1 did.

Submodule names follow torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.downsample.0``, ``fc``), so state dicts from torchvision and timm
load unchanged. Each ReLU is its own module (torchvision shares one per block)
so that every call has its own row in a summary; ReLUs have no parameters, so
state dict keys are unaffected.
"""

from __future__ import annotations

import math
from typing import Optional, Union

import torch
from torch import Tensor, nn

__all__ = [
    "ARCHS",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "build",
    "check_input",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a norm layer follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution with no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class TwoConvBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm; ``shortcut_path(x)`` is added before the last ReLU unless the block is plain.

    The ImageNet ``BasicBlock`` and the CIFAR nets' ``resnet.cifar.CifarBlock`` share these layers and this
    forward pass; each names and builds its own shortcut.

    Args:
        inplanes: input channels.
        planes: output channels.
        stride: stride of the first convolution.
        residual: add the shortcut; ``False`` gives the plain block, the same layers without it.
    """

    def __init__(self, inplanes: int, planes: int, stride: int = 1, *, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)

    def shortcut_path(self, x: Tensor) -> Tensor:
        """What the shortcut adds to the residual branch: here the identity; a block with a projection overrides it."""
        return x

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu1(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.residual:
            out += self.shortcut_path(x)
        return self.relu2(out)


class BasicBlock(TwoConvBlock):
    """Two 3x3 convolutions; used by ResNet-18 and ResNet-34."""

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None, *, residual: bool = True) -> None:
        super().__init__(inplanes, planes, stride, residual=residual)
        self.downsample = downsample

    def zero_init_last(self) -> None:
        """Zero the last norm's scale so the block starts as an identity."""
        nn.init.zeros_(self.bn2.weight)

    def shortcut_path(self, x: Tensor) -> Tensor:
        """``x``, or its ``downsample`` projection where the shape changes."""
        return x if self.downsample is None else self.downsample(x)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4; used by ResNet-50/101/152."""

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: Optional[nn.Module] = None,
        *,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.residual = residual
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu3 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def zero_init_last(self) -> None:
        """Zero the last norm's scale so the block starts as an identity."""
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu1(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu2(out)
        out = self.conv3(out)
        out = self.bn3(out)
        if self.residual:
            identity = x if self.downsample is None else self.downsample(x)
            out += identity
        return self.relu3(out)


Block = Union[type[BasicBlock], type[Bottleneck]]


class ResNet(nn.Module):
    """A stem, four stages of residual blocks, global average pooling and a linear head.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: number of blocks in each of the four stages.
        num_classes: size of the output layer.
        zero_init_residual: start each residual branch at zero, so every block is
            an identity at initialisation.
        plain: build the paper's plain baseline: the same convolutions, with no
            identity additions and no projection shortcuts.
    """

    min_input_size: int = 32  # the stem and three strided stages halve the input five times

    def __init__(
        self,
        block: Block,
        layers: list[int],
        num_classes: int = 1000,
        *,
        zero_init_residual: bool = False,
        plain: bool = False,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or any(n < 1 for n in layers):
            raise ValueError(f"layers must be four positive block counts, got {layers}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        if zero_init_residual and plain:
            # Zeroing the last norm of a block without a shortcut zeroes the whole network.
            raise ValueError("zero_init_residual needs shortcuts; it cannot be used with plain=True")
        self.plain = plain
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.num_features = 512 * block.expansion
        self.fc = nn.Linear(self.num_features, num_classes)

        self.zero_init_residual = zero_init_residual
        if not self.fc.weight.is_meta:
            # On the meta device (checkpoint loading) there are no values to draw; skipping also avoids
            # meta normal_(), which imports torch._dynamo: over a second on a small CPU.
            self.init_weights()

    def init_weights(self, generator: Optional[torch.Generator] = None) -> None:
        """Draw every weight afresh: Kaiming-normal convolutions, unit BatchNorm, PyTorch's default ``fc``.

        Args:
            generator: the random numbers to use; ``None`` uses (and advances) torch's global generator.
        """
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                m.reset_running_stats()
        _init_linear(self.fc, generator)
        if self.zero_init_residual:
            # Goyal et al., "Accurate, Large Minibatch SGD" (2017): +0.2~0.3% top-1.
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    m.zero_init_last()

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        width_changes = self.inplanes != planes * block.expansion
        if not self.plain and (stride != 1 or width_changes):
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        residual = not self.plain
        stage = [block(self.inplanes, planes, stride, downsample, residual=residual)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes, residual=residual) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's feature map, (N, num_features, H/32, W/32)."""
        check_input(x, self.conv1.in_channels)
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward_head(self, x: Tensor, *, pre_logits: bool = False) -> Tensor:
        """Pool a feature map and classify it; ``pre_logits`` returns the pooled features."""
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int, *, generator: Optional[torch.Generator] = None) -> None:
        """Replace ``fc`` with a freshly initialised head of ``num_classes`` outputs, drawn from ``generator``."""
        device = self.fc.weight.device
        with torch.device("meta"):  # drawn below, from the generator given, not torch's global one
            fc = nn.Linear(self.num_features, num_classes)
        self.fc = fc.to_empty(device=device)
        _init_linear(self.fc, generator)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _init_linear(linear: nn.Linear, generator: Optional[torch.Generator]) -> None:
    """``nn.Linear``'s own initialisation (uniform within 1/sqrt(fan_in)), from ``generator``."""
    bound = 1 / math.sqrt(linear.in_features)
    nn.init.uniform_(linear.weight, -bound, bound, generator=generator)
    nn.init.uniform_(linear.bias, -bound, bound, generator=generator)


def check_input(x: Tensor, channels: int) -> None:
    """Raise ``ValueError``, saying what to do, unless ``x`` is a batch a ResNet can take: (N, channels, H, W), H and W >= 32."""
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"expected a batch of shape (N, {channels}, H, W), got {tuple(x.shape)}; convert images to RGB first")
    if min(x.shape[-2:]) < ResNet.min_input_size:
        raise ValueError(
            f"input of {x.shape[-2]}x{x.shape[-1]} pixels is too small: the network downsamples by "
            f"{ResNet.min_input_size}, so height and width must be at least {ResNet.min_input_size}"
        )


# Block type and blocks per stage for each depth (paper, Table 1).
_ARCH_SPECS: dict[str, tuple[Block, list[int]]] = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
    "resnet152": (Bottleneck, [3, 8, 36, 3]),
}
ARCHS: tuple[str, ...] = tuple(_ARCH_SPECS)


def build(
    arch: str,
    *,
    num_classes: int = 1000,
    plain: bool = False,
    zero_init_residual: bool = False,
    generator: Optional[torch.Generator] = None,
) -> ResNet:
    """Build a randomly initialised ResNet by name.

    Args:
        arch: one of ``ARCHS``, e.g. ``"resnet50"``.
        num_classes: size of the output layer.
        plain: build the plain twin (no shortcuts).
        zero_init_residual: zero the last norm of each residual branch.
        generator: draw the initial weights from this generator (repeatable, and leaves torch's
            global generator alone); ``None`` uses the global one, as torchvision does.

    Returns:
        The network, in training mode.
    """
    if arch not in _ARCH_SPECS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    block, layers = _ARCH_SPECS[arch]
    if generator is None:
        return ResNet(block, layers, num_classes, zero_init_residual=zero_init_residual, plain=plain)
    with torch.device("meta"):  # no draws from the global generator while the layers are created
        model = ResNet(block, layers, num_classes, zero_init_residual=zero_init_residual, plain=plain)
    model.to_empty(device="cpu").init_weights(generator)
    return model


def resnet18(**kwargs) -> ResNet:
    """ResNet-18 from `Deep Residual Learning for Image Recognition <https://arxiv.org/abs/1512.03385>`_.

    Args:
        **kwargs: passed to :func:`build` (``num_classes``, ``plain``, ``zero_init_residual``, ``generator``).
    """
    return build("resnet18", **kwargs)


def resnet34(**kwargs) -> ResNet:
    """ResNet-34 from `Deep Residual Learning for Image Recognition <https://arxiv.org/abs/1512.03385>`_.

    Args:
        **kwargs: passed to :func:`build` (``num_classes``, ``plain``, ``zero_init_residual``, ``generator``).
    """
    return build("resnet34", **kwargs)


def resnet50(**kwargs) -> ResNet:
    """ResNet-50 (v1.5) from `Deep Residual Learning for Image Recognition <https://arxiv.org/abs/1512.03385>`_.

    Args:
        **kwargs: passed to :func:`build` (``num_classes``, ``plain``, ``zero_init_residual``, ``generator``).
    """
    return build("resnet50", **kwargs)


def resnet101(**kwargs) -> ResNet:
    """ResNet-101 (v1.5) from `Deep Residual Learning for Image Recognition <https://arxiv.org/abs/1512.03385>`_.

    Args:
        **kwargs: passed to :func:`build` (``num_classes``, ``plain``, ``zero_init_residual``, ``generator``).
    """
    return build("resnet101", **kwargs)


def resnet152(**kwargs) -> ResNet:
    """ResNet-152 (v1.5) from `Deep Residual Learning for Image Recognition <https://arxiv.org/abs/1512.03385>`_.

    Args:
        **kwargs: passed to :func:`build` (``num_classes``, ``plain``, ``zero_init_residual``, ``generator``).
    """
    return build("resnet152", **kwargs)
