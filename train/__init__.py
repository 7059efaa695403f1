"""Training and fine-tuning for ResNet Studio (imports ``resnet``, never the app).

The public surface is ``__all__`` (``../shared/DESIGN.md``, "Public surface"); everything else is imported
from its module, e.g. ``from train.loop import fit``, ``from train.mistakes import held_out_mistakes``.

Example:
    >>> import train
    >>> result = train.finetune("resnet18", {"cats": cat_images, "dogs": dog_images})  # doctest: +SKIP
    >>> result.classifier.predict("photo.jpg")  # doctest: +SKIP
    >>> result.mistakes(limit=12)  # doctest: +SKIP
"""

from .config import FinetuneOptions
from .finetune import FinetuneResult, finetune

__all__ = ["FinetuneOptions", "FinetuneResult", "finetune"]  # FinetuneOptions: the settings finetune(..., options=) takes
