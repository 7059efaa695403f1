"""Training and fine-tuning for ResNet Studio (imports ``resnet``, never the app).

Example:
    >>> import train
    >>> result = train.finetune("resnet18", {"cats": cat_images, "dogs": dog_images})  # doctest: +SKIP
    >>> result.classifier.predict("photo.jpg")  # doctest: +SKIP
    >>> result.mistakes(limit=12)  # doctest: +SKIP
"""

from .checks import DataCheckError, Problem, check_samples
from .config import FinetuneOptions, FitResult, TrainConfig
from .data import DataError
from .finetune import MAX_IMAGES, STRATEGIES, FinetuneResult, default_strategy, finetune, finetune_defaults, overfitting, random_features
from .evaluate import evaluate
from .loop import fit
from .mistakes import Mistake, filter_mistakes, held_out_mistakes

__all__ = [
    "DataCheckError",
    "DataError",
    "FinetuneOptions",
    "FinetuneResult",
    "FitResult",
    "MAX_IMAGES",
    "Mistake",
    "Problem",
    "STRATEGIES",
    "TrainConfig",
    "check_samples",
    "default_strategy",
    "evaluate",
    "filter_mistakes",
    "finetune",
    "finetune_defaults",
    "fit",
    "held_out_mistakes",
    "overfitting",
    "random_features",
]
