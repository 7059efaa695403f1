"""ResNet Studio's model library: ResNets, their summaries, Hub checkpoints and a classifier."""

from .model import ARCHS, BasicBlock, Bottleneck, ResNet, build, resnet18, resnet34, resnet50, resnet101, resnet152
from .summary import LayerRow, Summary, summarize
