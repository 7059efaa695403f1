"""ResNet Studio's model library: ResNets, their summaries, Hub checkpoints and a classifier.

Example:
    >>> import resnet
    >>> model = resnet.build("resnet50")
    >>> print(resnet.summarize(model, depth=1))  # doctest: +SKIP
    >>> clf = resnet.Classifier.from_pretrained("timm/resnet50.a1_in1k")  # doctest: +SKIP
"""

from .devices import default_device
from .cifar import CifarBlock, CifarResNet, PadShortcut, cifar_resnet
from .config import CheckpointError, ModelConfig
from .diagram import diagram, diagram_html
from .inspect import layer_responses, stage_outputs
from .model import ARCHS, BasicBlock, Bottleneck, ResNet, build, resnet18, resnet34, resnet50, resnet101, resnet152
from .batching import ManyResult, MicroBatcher
from .predict import Classifier, Explanation, Prediction, compare_checkpoints
from .summary import LayerRow, Summary, summarize
from .transforms import ImageError, Preprocessing, load_image

__all__ = [
    "ARCHS",
    "BasicBlock",
    "Bottleneck",
    "CheckpointError",
    "CifarBlock",
    "CifarResNet",
    "Classifier",
    "Explanation",
    "ImageError",
    "LayerRow",
    "ManyResult",
    "MicroBatcher",
    "ModelConfig",
    "PadShortcut",
    "Prediction",
    "Preprocessing",
    "ResNet",
    "Summary",
    "build",
    "cifar_resnet",
    "compare_checkpoints",
    "default_device",
    "diagram",
    "diagram_html",
    "layer_responses",
    "load_image",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "stage_outputs",
    "summarize",
]
