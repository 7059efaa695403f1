"""A plain net and its residual twin as one network: the same mathematics, half the layers to run.

The twins of one depth have the same layers, start from the same weights and see the same
batches; only the shortcuts differ. Stacked along the channels, the two nets become one:

- each 3x3 convolution is one convolution with ``groups=2``: the first half of its output
  channels sees only the first half of its inputs (the plain net), the second half only the
  second (the residual net);
- the stem's convolution, whose input both nets share, simply has twice the filters;
- each BatchNorm normalises every channel on its own, so one BatchNorm over both halves is the
  two BatchNorms side by side;
- the shortcut of each block is added to the residual half only;
- the classifier is two linear layers, one per half.

Training the sum of the two losses gives each half exactly the gradient of its own loss (the
halves share no parameter), and SGD with momentum and weight decay updates every number on its
own: a step of the twin is a step of each net. What changes is the work per step: one
network's worth of operators for two networks, which is what bounds tiny networks on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet.cifar import CifarBlock, CifarResNet

__all__ = ["TwinResNet"]


def _conv(first: nn.Conv2d, second: nn.Conv2d, *, grouped: bool) -> nn.Conv2d:
    """Two convolutions as one: ``grouped`` when each has its own input half, else the shared input."""
    conv = nn.Conv2d(
        first.in_channels * (2 if grouped else 1), 2 * first.out_channels, first.kernel_size,
        stride=first.stride, padding=first.padding, groups=2 if grouped else 1, bias=False,
        device=first.weight.device, dtype=first.weight.dtype,
    )
    conv.weight.data.copy_(torch.cat((first.weight, second.weight)))
    return conv


def _batch_norm(first: nn.BatchNorm2d, second: nn.BatchNorm2d) -> nn.BatchNorm2d:
    """Two BatchNorms side by side: their weights, biases and running statistics concatenated."""
    bn = nn.BatchNorm2d(2 * first.num_features, eps=first.eps, momentum=first.momentum, device=first.weight.device, dtype=first.weight.dtype)
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(bn, name).data.copy_(torch.cat((getattr(first, name), getattr(second, name))))
    bn.num_batches_tracked.copy_(first.num_batches_tracked)
    return bn


def _split(stacked: Tensor, first: Tensor, second: Tensor) -> None:
    """Copy the two halves of ``stacked`` (along its first dimension) into ``first`` and ``second``."""
    half = first.shape[0]
    first.copy_(stacked[:half])
    second.copy_(stacked[half:])


def _channels_last(gradient: Tensor) -> Tensor:
    return gradient.contiguous(memory_format=torch.channels_last)


class _TwinBlock(nn.Module):
    """A ``CifarBlock`` of the plain net and the same block of the residual net, stacked."""

    def __init__(self, plain: CifarBlock, residual: CifarBlock) -> None:
        super().__init__()
        self.inplanes, self.planes = plain.conv1.in_channels, plain.conv1.out_channels
        self.stride = plain.conv1.stride[0]
        self.conv1, self.bn1 = _conv(plain.conv1, residual.conv1, grouped=True), _batch_norm(plain.bn1, residual.bn1)
        self.conv2, self.bn2 = _conv(plain.conv2, residual.conv2, grouped=True), _batch_norm(plain.bn2, residual.bn2)
        # The residual net's own shortcut: None (identity), option A's padding (no parameters) or option B's
        # projection, applied to the residual half's input. Shared, not copied, so unstacking needs no work for it.
        self.shortcut = residual.shortcut
        # 0 on the plain half's channels, 1 on the residual half's: the identity shortcut of both halves at once.
        half = torch.arange(2 * self.planes, device=self.bn1.weight.device) >= self.planes
        self.register_buffer("residual_half", half.to(self.bn1.weight.dtype).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self._shortcut(x), inplace=True)

    def _shortcut(self, x: Tensor) -> Tensor:
        """What the block adds: the residual half's shortcut, zeros on the plain half."""
        if self.shortcut is None:
            # x times 0 or 1 is exact, as is adding 0; unlike slicing, it keeps x's memory format in the
            # gradient too (a sliced channels-last tensor's gradient comes back contiguous, and mixed formats
            # make the ReLU's backward several times slower).
            return x * self.residual_half
        if x.requires_grad and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            x.register_hook(_channels_last)  # the slice's gradient comes back contiguous: x's whole gradient goes back to x's format
        # Zeros in front for the plain half: the shortcut reaches the residual half alone.
        return F.pad(self.shortcut(x[:, self.inplanes :]), (0, 0, 0, 0, self.planes, 0))

    def unstack(self, plain: CifarBlock, residual: CifarBlock) -> None:
        for name in ("conv1", "conv2"):
            _split(getattr(self, name).weight.data, getattr(plain, name).weight.data, getattr(residual, name).weight.data)
        for name in ("bn1", "bn2"):
            _unstack_batch_norm(getattr(self, name), getattr(plain, name), getattr(residual, name))


def _unstack_batch_norm(stacked: nn.BatchNorm2d, first: nn.BatchNorm2d, second: nn.BatchNorm2d) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        _split(getattr(stacked, name).data, getattr(first, name).data, getattr(second, name).data)
    first.num_batches_tracked.copy_(stacked.num_batches_tracked)
    second.num_batches_tracked.copy_(stacked.num_batches_tracked)


class TwinResNet(nn.Module):
    """A plain ``CifarResNet`` and its residual twin trained as one network.

    ``forward`` returns logits of shape (N, 2, classes): ``[:, 0]`` the plain net's, ``[:, 1]`` the
    residual net's, each equal (to float rounding) to what the net alone computes. ``unstack``
    writes the trained weights and BatchNorm statistics back into the two nets.

    Args:
        plain: the plain net (``plain=True``).
        residual: its residual twin: same depth, width and classes; option A or B shortcuts.
    """

    def __init__(self, plain: CifarResNet, residual: CifarResNet) -> None:
        super().__init__()
        if not plain.plain or residual.plain or plain.depth != residual.depth or plain.fc.weight.shape != residual.fc.weight.shape:
            raise ValueError("TwinResNet takes a plain net and a residual net of the same depth, width and classes")
        self.nets = (plain, residual)  # a tuple, not submodules: their parameters are not the twin's
        self.conv1, self.bn1 = _conv(plain.conv1, residual.conv1, grouped=False), _batch_norm(plain.bn1, residual.bn1)
        self.layers = nn.Sequential(*(
            _TwinBlock(p, r)
            for stage_p, stage_r in zip((plain.layer1, plain.layer2, plain.layer3), (residual.layer1, residual.layer2, residual.layer3))
            for p, r in zip(stage_p, stage_r)
        ))
        self.fc_weight = nn.Parameter(torch.stack((plain.fc.weight.detach(), residual.fc.weight.detach())).clone())
        self.fc_bias = nn.Parameter(torch.stack((plain.fc.bias.detach(), residual.fc.bias.detach())).clone())

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        features = self.layers(x).mean((2, 3))  # global average pooling, (N, 2 * features)
        features = features.view(len(features), 2, -1)
        return torch.einsum("ntf,tkf->ntk", features, self.fc_weight) + self.fc_bias

    @torch.no_grad()
    def unstack(self) -> tuple[CifarResNet, CifarResNet]:
        """Write the twin's weights and statistics into the plain and the residual net; returns them."""
        plain, residual = self.nets
        _split(self.conv1.weight.data, plain.conv1.weight.data, residual.conv1.weight.data)
        _unstack_batch_norm(self.bn1, plain.bn1, residual.bn1)
        blocks = zip(self.layers, (*plain.layer1, *plain.layer2, *plain.layer3), (*residual.layer1, *residual.layer2, *residual.layer3))
        for twin, p, r in blocks:
            twin.unstack(p, r)
        for stacked, name in ((self.fc_weight, "weight"), (self.fc_bias, "bias")):
            getattr(plain.fc, name).data.copy_(stacked[0])
            getattr(residual.fc, name).data.copy_(stacked[1])
        return plain, residual
