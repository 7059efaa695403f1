"""ResNet Studio's model library: ResNets, their summaries, Hub checkpoints and a classifier.

Example:
    >>> import resnet
    >>> model = resnet.build("resnet50")
    >>> print(resnet.summarize(model, depth=1))  # doctest: +SKIP
    >>> clf = resnet.Classifier.from_pretrained("timm/resnet50.a1_in1k")  # doctest: +SKIP
"""

from .devices import default_device
from .config import CheckpointError, ModelConfig
from .model import ARCHS, BasicBlock, Bottleneck, ResNet, build, resnet18, resnet34, resnet50, resnet101, resnet152
from .predict import Classifier, Explanation
from .summary import LayerRow, Summary, summarize
from .transforms import ImageError, Preprocessing, load_image

__all__ = [
    "ARCHS",
    "BasicBlock",
    "Bottleneck",
    "CheckpointError",
    "Classifier",
    "Explanation",
    "ImageError",
    "LayerRow",
    "ModelConfig",
    "Preprocessing",
    "ResNet",
    "Summary",
    "build",
    "default_device",
    "load_image",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "summarize",
]
