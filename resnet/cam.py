"""Class activation maps from the forward pass alone, and the one-pass ``Prediction`` that carries them.

A ResNet ends in global average pooling and one linear layer, so the score of class ``k`` is
``sum_c w[k, c] * mean_hw F[c, h, w] + b[k]``, with ``F`` the last stage's feature map. Its
gradient with respect to ``F`` is ``w[k, c] / (H * W)`` at every cell, so Grad-CAM's channel
weights (Selvaraju et al., 2017, https://arxiv.org/abs/1610.02391: the spatial mean of that
gradient) are ``w[k] / (H * W)``; after the ReLU and the scaling to [0, 1] the positive factor
is gone and Grad-CAM is CAM (Zhou et al., 2016, https://arxiv.org/abs/1512.04150):
``ReLU(sum_c w[k, c] F[c])``. So the map of any class comes from the features one forward
pass computed and the ``fc`` weights, with no backward pass and no hooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["Prediction", "class_activation_map", "class_index", "overlay"]


def class_activation_map(features: torch.Tensor, weight: torch.Tensor) -> np.ndarray:
    """``ReLU(sum_c weight[c] * features[c])``, scaled so that its maximum is 1 (a map with no positive cell stays 0).

    Args:
        features: the last stage's feature map of one image, (C, H, W).
        weight: the ``fc`` row of the class, (C,).

    Returns:
        The (H, W) map as float32 in [0, 1].

    Raises:
        ValueError: the shapes do not fit together.
    """
    if features.ndim != 3 or tuple(weight.shape) != (features.shape[0],):
        raise ValueError(f"need features (C, H, W) and a weight row (C,), got {tuple(features.shape)} and {tuple(weight.shape)}")
    cam = torch.einsum("c,chw->hw", weight.float(), features.float()).relu()
    peak = cam.max()
    cam = cam / peak if peak > 0 else cam
    return cam.cpu().numpy().astype(np.float32)


def class_index(target: int | str, labels: Sequence[str]) -> int:
    """The output index of ``target``: a label among ``labels`` or an index into them.

    Raises:
        ValueError: an unknown label or an index out of range.
    """
    if isinstance(target, str):
        if target not in labels:
            raise ValueError(f"unknown label {target!r}; this model knows {len(labels)} labels")
        return list(labels).index(target)
    if not 0 <= int(target) < len(labels):
        raise ValueError(f"target index {target} is out of range 0..{len(labels) - 1}")
    return int(target)


def overlay(view: Image.Image, heatmap: np.ndarray, *, alpha: float = 0.5) -> Image.Image:
    """Blend a [0, 1] map, upsampled bilinearly to ``view``'s size and coloured blue -> red, over ``view``.

    Args:
        view: the RGB picture the map was computed for.
        heatmap: (H, W) values in [0, 1].
        alpha: the weight of the colours (0: only the picture, 1: only the map).

    Returns:
        An RGB image of ``view``'s size.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    cam = torch.from_numpy(heatmap)[None, None]
    cam = F.interpolate(cam, size=(view.height, view.width), mode="bilinear", align_corners=False)[0, 0].clamp(0, 1).numpy()
    # A jet-like colour map: blue at 0, green at 0.5, red at 1.
    colour = np.stack([np.clip(1.5 - np.abs(4 * cam - c), 0, 1) for c in (3, 2, 1)], axis=-1)
    blended = (1 - alpha) * np.asarray(view, dtype=np.float32) / 255 + alpha * colour
    return Image.fromarray((blended * 255).round().astype(np.uint8))


@dataclass(frozen=True, eq=False)
class Prediction:
    """The answer and its explanation from one forward pass (``Classifier.classify``).

    Attributes:
        top: the most probable classes as ``(label, probability)``, highest first.
        cam: the class activation map of the top class at feature resolution (e.g. 7x7), in [0, 1];
            it equals Grad-CAM of the last stage.
        overlay: ``view`` with ``cam`` blended in.
        index: the output index of the top class.
        probabilities: the softmax over every class, (num_classes,).
        view: the network's view of the photo (resized, centre-cropped).
    """

    top: list[tuple[str, float]]
    cam: np.ndarray
    overlay: Image.Image
    index: int
    probabilities: np.ndarray = field(repr=False)
    view: Image.Image = field(repr=False)
    features: torch.Tensor = field(repr=False)  # (C, H, W) fp32: what cam_for weighs
    weight: torch.Tensor = field(repr=False)  # the fc weights (num_classes, C), shared with the classifier, not copied
    labels: tuple[str, ...] = field(repr=False)

    @classmethod
    def build(
        cls,
        top: list[tuple[str, float]],
        *,
        probabilities: np.ndarray,
        view: Image.Image,
        features: torch.Tensor,
        weight: torch.Tensor,
        labels: Sequence[str],
    ) -> "Prediction":
        """A prediction whose map and overlay are those of the most probable class.

        Args:
            top: the ``(label, probability)`` pairs to report.
            probabilities: the softmax over every class.
            view: the network's view of the photo.
            features: the last stage's feature map of this photo, (C, H, W).
            weight: the ``fc`` weights, (num_classes, C).
            labels: class names in output order.
        """
        index = int(np.argmax(probabilities))
        cam = class_activation_map(features, weight[index])
        return cls(top, cam, overlay(view, cam), index, probabilities, view, features, weight, tuple(labels))

    def cam_for(self, target: int | str) -> tuple[np.ndarray, Image.Image]:
        """The map and overlay of another class (a label or an index), from the stored features: no network run.

        Raises:
            ValueError: an unknown label or an index out of range.
        """
        index = class_index(target, self.labels)
        if index == self.index:
            return self.cam, self.overlay
        cam = class_activation_map(self.features, self.weight[index])
        return cam, overlay(self.view, cam)
