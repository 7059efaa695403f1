"""ResNet Studio's model library: ResNets, their summaries, Hub checkpoints and a classifier.

The public surface is ``__all__`` (``../shared/DESIGN.md``, "Public surface"); everything else is imported
from its module, e.g. ``from resnet.cifar import cifar_resnet``, ``from resnet.checkpoints.config import ModelConfig``.

Example:
    >>> import resnet
    >>> model = resnet.build("resnet50")
    >>> print(resnet.summarize(model, depth=1))  # doctest: +SKIP
    >>> clf = resnet.Classifier.from_pretrained("timm/resnet50.a1_in1k")  # doctest: +SKIP
"""

from .anatomy.summary import Summary, summarize
from .model import ARCHS, build
from .predict import Classifier

__all__ = ["ARCHS", "Classifier", "Summary", "build", "summarize"]
