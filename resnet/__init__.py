"""ResNet Studio's model library: ResNets, their summaries, Hub checkpoints and a classifier.

The public surface is ``__all__`` (``../shared/DESIGN.md``, "Public surface"); everything else is imported
from its module, e.g. ``from resnet.cifar import cifar_resnet``, ``from resnet.config import ModelConfig``.

Example:
    >>> import resnet
    >>> model = resnet.build("resnet50")
    >>> print(resnet.summarize(model, depth=1))  # doctest: +SKIP
    >>> clf = resnet.Classifier.from_pretrained("timm/resnet50.a1_in1k")  # doctest: +SKIP
"""

from .model import ARCHS, build
from .predict import Classifier
from .summary import Summary, summarize

__all__ = ["ARCHS", "Classifier", "Summary", "build", "summarize"]

# Not public (absent from __all__): callers written before the trim still say ``resnet.<name>`` for these. Each
# leaves this block once its callers import it from its module, as above.
from .cifar import CifarResNet, cifar_resnet  # noqa: E402
from .config import CheckpointError, ModelConfig  # noqa: E402
from .devices import default_device  # noqa: E402
from .diagram import diagram, diagram_html  # noqa: E402
from .model import ResNet, resnet18, resnet34, resnet50, resnet101, resnet152  # noqa: E402  all five: test_model calls getattr(resnet, arch)
from .transforms import ImageError, Preprocessing, load_image  # noqa: E402
