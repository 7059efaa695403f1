"""The paper's CIFAR-10 networks: 6n+2 layers, three stages, option A or B shortcuts, plain twins.

References:
    He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, section 4.2.
    https://arxiv.org/abs/1512.03385

The network is a 3x3 stem, three stages of n blocks of two 3x3 convolutions on
maps of 32, 16 and 8 pixels (at a 32x32 input) with 16, 32 and 64 filters, global
average pooling and a 10-way ``fc``: 6n+2 weighted layers. ``width`` scales the
filters (16 is the paper). Names follow torchvision's ResNet (``conv1``, ``bn1``,
``layer1``...``layer3``, blocks ``layer1.0`` with ``conv1/bn1/conv2/bn2``, ``fc``)
so ``resnet.summarize`` groups stages and blocks at depth 1 and 2, and ``bn2``'s
output is the residual branch just before the addition.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .model import ResNet, TwoConvBlock, conv1x1, conv3x3

__all__ = ["SHORTCUTS", "CifarBlock", "CifarResNet", "PadShortcut", "blocks_per_stage", "cifar_resnet"]

SHORTCUTS = ("A", "B")


class PadShortcut(nn.Module):
    """Option A: the identity, subsampled by ``stride`` and zero-padded to ``planes`` channels; no parameters.

    Args:
        planes: channels of the output; the extra ones (beyond the input's) are zeros.
        stride: take every ``stride``-th pixel in both directions.
    """

    def __init__(self, planes: int, stride: int) -> None:
        super().__init__()
        self.planes = planes
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.planes - x.shape[1]))


class CifarBlock(TwoConvBlock):
    """Two 3x3 convolutions with BatchNorm; the input (or its shortcut) is added before the last ReLU.

    The layers and forward pass of ``resnet.model.BasicBlock``; only the shortcut differs: where the shape
    changes it is ``shortcut``, option A's ``PadShortcut`` or option B's projection (torchvision's is ``downsample``).

    Args:
        inplanes: input channels.
        planes: output channels.
        stride: stride of the first convolution.
        residual: add the shortcut; ``False`` gives the plain block, the same layers without it.
        shortcut: ``"A"`` (zero-padding ``PadShortcut``) or ``"B"`` (1x1 projection + BN) where the shape changes.
    """

    def __init__(self, inplanes: int, planes: int, stride: int = 1, *, residual: bool = True, shortcut: str = "A") -> None:
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be 'A' or 'B', got {shortcut!r}")
        super().__init__(inplanes, planes, stride, residual=residual)
        self.shortcut: Optional[nn.Module] = None  # None: the identity (or no shortcut at all, in a plain block)
        if residual and (stride != 1 or inplanes != planes):
            if shortcut == "A":
                self.shortcut = PadShortcut(planes, stride)
            else:
                self.shortcut = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))

    def shortcut_path(self, x: Tensor) -> Tensor:
        """``x``, or its ``shortcut`` (option A or B) where the shape changes."""
        return x if self.shortcut is None else self.shortcut(x)


class CifarResNet(nn.Module):
    """The 6n+2-layer CIFAR network of the paper's section 4.2 (or its plain twin).

    Args:
        blocks: n, the number of blocks in each of the three stages.
        width: filters of the first stage; the others have twice and four times as many.
        num_classes: size of the output layer.
        plain: no shortcuts at all (the paper's plain baseline).
        shortcut: ``"A"`` (parameter-free zero padding) or ``"B"`` (projection) where the shape changes.
    """

    # The ImageNet ResNet's own methods, which need only ``fc``, ``avgpool`` and ``num_features``:
    # Kaiming-normal convolutions (the initialisation the paper uses), unit BatchNorm, PyTorch's default fc.
    init_weights = ResNet.init_weights
    forward_head = ResNet.forward_head
    reset_classifier = ResNet.reset_classifier
    zero_init_residual = False  # read by init_weights; the CIFAR nets have no such option

    def __init__(self, blocks: int, *, width: int = 16, num_classes: int = 10, plain: bool = False, shortcut: str = "A") -> None:
        super().__init__()
        if blocks < 1 or width < 1 or num_classes < 1:
            raise ValueError(f"blocks, width and num_classes must be positive, got {blocks}, {width}, {num_classes}")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be 'A' or 'B', got {shortcut!r}")
        self.depth = 6 * blocks + 2
        self.plain = plain
        self.shortcut_type = shortcut
        self.conv1 = conv3x3(3, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.inplanes = width
        self.layer1 = self._make_layer(width, blocks, 1)
        self.layer2 = self._make_layer(2 * width, blocks, 2)
        self.layer3 = self._make_layer(4 * width, blocks, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.num_features = 4 * width
        self.fc = nn.Linear(self.num_features, num_classes)
        if not self.fc.weight.is_meta:  # on the meta device there is nothing to draw yet
            self.init_weights()

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        kw = {"residual": not self.plain, "shortcut": self.shortcut_type}
        stage = [CifarBlock(self.inplanes, planes, stride, **kw)]
        self.inplanes = planes
        stage += [CifarBlock(planes, planes, **kw) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's feature map, (N, 4 * width, H/4, W/4)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a batch of shape (N, 3, H, W), got {tuple(x.shape)}; convert images to RGB first")
        x = self.relu(self.bn1(self.conv1(x)))  # the stem: one 3x3 convolution, no max-pool
        return self.layer3(self.layer2(self.layer1(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def blocks_per_stage(depth: int) -> int:
    """n for a network of ``depth`` = 6n+2 layers.

    Raises:
        ValueError: ``depth`` is not 6n+2 with n >= 1.
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...), got {depth}")
    return (depth - 2) // 6


def cifar_resnet(
    depth: int,
    *,
    width: int = 16,
    plain: bool = False,
    shortcut: str = "A",
    num_classes: int = 10,
    generator: Optional[torch.Generator] = None,
) -> CifarResNet:
    """A CIFAR ResNet (or plain net) of ``depth`` = 6n+2 layers: 20, 32, 44, 56, 110, 1202 in the paper.

    Args:
        depth: weighted layers; must be 6n+2 with n >= 1.
        width: filters of the first stage (16 in the paper; 16, 32, 64 over the stages).
        plain: build the plain twin: the same layers, no shortcuts.
        shortcut: ``"A"``, zero-padded identity (the paper's CIFAR choice, no parameters), or ``"B"``,
            1x1 projection + BN where the shape changes. Ignored when ``plain``.
        num_classes: size of the output layer.
        generator: draw the initial weights from it (repeatable, leaves torch's global generator alone);
            ``None`` uses the global one.

    Returns:
        The network, in training mode, on the CPU.

    Raises:
        ValueError: ``depth`` is not 6n+2, or another argument is out of range.
    """
    kwargs = {"width": width, "num_classes": num_classes, "plain": plain, "shortcut": shortcut}
    if generator is None:
        return CifarResNet(blocks_per_stage(depth), **kwargs)
    with torch.device("meta"):  # no draws from the global generator while the layers are created
        model = CifarResNet(blocks_per_stage(depth), **kwargs)
    model.to_empty(device="cpu").init_weights(generator)
    return model
