"""Training and fine-tuning for ResNet Studio (imports ``resnet``, never the app).

Example:
    >>> import train
    >>> result = train.finetune("resnet18", {"cats": cat_images, "dogs": dog_images})  # doctest: +SKIP
    >>> result.classifier.predict("photo.jpg")  # doctest: +SKIP
"""

from .data import DataError
from .finetune import MAX_IMAGES, STRATEGIES, FinetuneResult, finetune
from .loop import FitResult, TrainConfig, evaluate, fit

__all__ = ["DataError", "FinetuneResult", "FitResult", "MAX_IMAGES", "STRATEGIES", "TrainConfig", "evaluate", "finetune", "fit"]
