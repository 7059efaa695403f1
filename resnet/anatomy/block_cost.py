"""Why the bottleneck exists: a basic block and a bottleneck block at the same input width, and ResNet-34 against ResNet-50.

The paper (He et al. 2015, Fig. 5) feeds a 256-channel input either through two 3x3
convolutions or through a 1x1 convolution down to 64 channels, a 3x3 at 64 and a 1x1 back to
256: about 17 times fewer parameters and multiply-accumulates. That saving is what lets
ResNet-50 be 16 layers deeper than ResNet-34 at about the same cost.

Example:
    >>> cost = block_cost(256, map_size=56)  # doctest: +SKIP
    >>> cost.blocks[0].params, cost.blocks[1].params  # doctest: +SKIP
    (1180672, 70400)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from resnet.model import BasicBlock, Bottleneck, build

from .measure import forward_latency
from .summary import summarize

__all__ = ["BlockCost", "BlockComparison", "NetCost", "block_cost"]

NETS = (("resnet34", 34), ("resnet50", 50))


@dataclass(frozen=True)
class BlockCost:
    """One block at the chosen input width and map size."""

    kind: str  # "basic" or "bottleneck"
    layers: str  # its convolutions, e.g. "3x3 256 -> 256, 3x3 256 -> 256"
    params: int
    macs: int  # one forward pass over a (1, width, map_size, map_size) input
    forward_ms: float  # batch 1, fp32, measured now


@dataclass(frozen=True)
class NetCost:
    """One whole network at 224 x 224."""

    arch: str
    depth: int
    params: int
    gmacs: float
    forward_ms: float


@dataclass(frozen=True)
class BlockComparison:
    """``block_cost``'s answer: the two blocks and the two networks."""

    width: int
    map_size: int
    blocks: tuple[BlockCost, BlockCost]
    nets: tuple[NetCost, NetCost]

    @property
    def saving(self) -> float:
        """How many times fewer parameters the bottleneck has than the basic block."""
        return self.blocks[0].params / self.blocks[1].params


def _blocks(width: int) -> tuple[nn.Module, nn.Module]:
    """A basic block keeping ``width`` channels, and a bottleneck that narrows them by 4 and widens back."""
    generator = torch.Generator().manual_seed(0)  # its own: leaves other users' seeded work alone
    basic, bottleneck = BasicBlock(width, width), Bottleneck(width, width // Bottleneck.expansion)
    for block in (basic, bottleneck):
        for p in block.parameters():
            if p.dim() > 1:
                nn.init.kaiming_normal_(p, mode="fan_out", nonlinearity="relu", generator=generator)
    return basic.eval(), bottleneck.eval()


def _layers(block: nn.Module) -> str:
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    return ", ".join(f"{m.kernel_size[0]}x{m.kernel_size[1]} {m.in_channels} -> {m.out_channels}" for m in convs)


def block_cost(
    width: int = 256, *, map_size: int = 56, device: Optional[torch.device] = None, repeats: int = 5, nets: bool = True
) -> BlockComparison:
    """Parameters, MACs and forward time of a basic and a bottleneck block, and of ResNet-34 and ResNet-50.

    Args:
        width: channels in and out of each block (the paper's example: 256); a multiple of 4, at least 4.
        map_size: height and width of the block's input feature map (ResNet's first stage: 56).
        device: where to time (default: CPU); both blocks and both networks at batch 1 in fp32.
        repeats: timed passes after one warm-up; the median is kept.
        nets: also build and time ResNet-34 and ResNet-50 at 224 x 224 (a few seconds on a CPU).

    Returns:
        A ``BlockComparison`` (``nets`` is empty when ``nets=False``).

    Raises:
        ValueError: ``width`` or ``map_size`` is unusable.
    """
    if width < Bottleneck.expansion or width % Bottleneck.expansion:
        raise ValueError(f"width must be a positive multiple of {Bottleneck.expansion}, got {width}")
    if not 1 <= map_size <= 512:
        raise ValueError(f"map_size must be between 1 and 512, got {map_size}")
    device = device or torch.device("cpu")
    shape = (1, width, map_size, map_size)
    blocks = []
    for kind, block in zip(("basic", "bottleneck"), _blocks(width)):
        s = summarize(block, shape)
        block.to(device)
        ms = 1000 * forward_latency(block, shape, repeats, device)
        blocks.append(BlockCost(kind, _layers(block), s.total_params, s.total_macs, ms))
    costs = []
    for arch, depth in NETS if nets else ():
        model = build(arch, generator=torch.Generator().manual_seed(0)).eval()
        s = summarize(model, (1, 3, 224, 224))
        ms = 1000 * forward_latency(model.to(device), (1, 3, 224, 224), repeats, device)
        costs.append(NetCost(arch, depth, s.total_params, s.total_macs / 1e9, ms))
    return BlockComparison(width, map_size, tuple(blocks), tuple(costs))
