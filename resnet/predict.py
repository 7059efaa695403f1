"""``Classifier``: a ResNet, its labels and its preprocessing, ready to predict and explain.

Grad-CAM (Selvaraju et al., 2017, https://arxiv.org/abs/1610.02391) weighs the last
stage's feature maps by the mean gradient of the class score. It uses the model's
``forward_features`` / ``forward_head`` split, so it needs no hooks and can run
while other threads predict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .config import ModelConfig
from .devices import default_device
from .fast import InferenceModel, optimize_for_inference
from .hub import load_checkpoint
from .model import ResNet
from .saving import push_checkpoint, save_checkpoint
from .transforms import ImageSource, eval_transform, geometry_transform, load_image

__all__ = ["Classifier", "Explanation"]


@dataclass
class Explanation:
    """A Grad-CAM result.

    Attributes:
        overlay: the network's view of the image (resized, centre-cropped) with the heat map blended in.
        heatmap: the raw map at feature resolution (e.g. 7x7), scaled to [0, 1].
        label: the class explained.
        index: its output index.
        probability: its softmax probability.
    """

    overlay: Image.Image
    heatmap: np.ndarray
    label: str
    index: int
    probability: float


class Classifier:
    """A ResNet with its labels and preprocessing.

    Args:
        model: a ``resnet.ResNet`` whose ``fc`` has ``len(config.labels)`` outputs.
        config: labels, preprocessing and provenance.
        device: where to run; default: ``default_device()``.
        fast: predict through ``resnet.fast`` (folded BatchNorm, bf16/fp16 where the hardware is fast
            at it, fused oneDNN kernels on the CPU); ``False`` runs the fp32 network exactly.

    Example:
        >>> clf = Classifier.from_pretrained("timm/resnet50.a1_in1k")  # doctest: +SKIP
        >>> clf.predict("cat.jpg", top_k=3)  # doctest: +SKIP
        [('tabby', 0.61), ('tiger cat', 0.22), ('Egyptian cat', 0.09)]
    """

    def __init__(
        self, model: ResNet, config: ModelConfig, device: Optional[str | torch.device] = None, *, fast: bool = True
    ):
        if model.fc.out_features != config.num_classes:
            raise ValueError(f"the model has {model.fc.out_features} outputs but {config.num_classes} labels were given")
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device).eval()
        self.config = config
        self._transform = eval_transform(config.preprocessing)
        self._geometry = geometry_transform(config.preprocessing)
        self.fast: Optional[InferenceModel] = (
            optimize_for_inference(self.model, self.device, config.preprocessing.crop_size) if fast else None
        )

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike,
        revision: Optional[str] = None,
        device: Optional[str | torch.device] = None,
        *,
        fast: bool = True,
        **hub_options: Any,
    ) -> "Classifier":
        """Load from a Hub repo id (``owner/name`` or ``owner/name@revision``) or a local folder.

        Reads timm, transformers and ResNet Studio checkpoints. ``hub_options`` go to
        ``resnet.hub.load_checkpoint``: ``cache_dir``, ``token``, ``force_download`` and
        ``local_files_only`` as in ``huggingface_hub.hf_hub_download``; ``hub_timeout`` (one quick
        attempt at the Hub) and ``allow_local`` (``False``: never read a local folder).
        """
        model, config = load_checkpoint(str(source), revision, **hub_options)
        return cls(model, config, device, fast=fast)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write ``config.json``, ``model.safetensors`` and a model card (kept if one exists)."""
        save_checkpoint(self.model, self.config, folder)

    def push_to_hub(self, repo_id: str, *, token: Optional[str] = None, private: Optional[bool] = None) -> str:
        """Upload this classifier to the Hub as ``repo_id``; returns the commit URL."""
        return push_checkpoint(self.model, self.config, repo_id, token=token, private=private)

    @property
    def labels(self) -> list[str]:
        """Class names in output order."""
        return list(self.config.labels)

    def preprocess(self, image: ImageSource) -> torch.Tensor:
        """Any image input -> the normalised eval tensor (3, crop, crop) on the CPU."""
        return self._transform(self._load(image))

    def _load(self, image: ImageSource) -> Image.Image:
        # Large JPEGs decode at a reduced scale that still leaves twice the resize side.
        return load_image(image, draft_side=2 * self.config.preprocessing.resize_size)

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Raw outputs for a preprocessed batch (N, 3, H, W), as fp32 on the CPU."""
        with torch.inference_mode():
            return (self.fast or self.model)(batch.to(self.device)).float().cpu()

    def predict(self, image: ImageSource, top_k: Optional[int] = None) -> list[tuple[str, float]]:
        """The ``top_k`` most probable classes as ``(label, probability)``, highest first (default: 5, or all if fewer)."""
        return self.predict_batch([image], top_k=top_k)[0]

    def predict_batch(self, images: Sequence[ImageSource], top_k: Optional[int] = None) -> list[list[tuple[str, float]]]:
        """``predict`` for several images in one forward pass.

        Raises:
            ValueError: ``top_k`` is given and is not between 1 and the number of classes.
        """
        if top_k is None:
            top_k = min(5, self.config.num_classes)
        if not 1 <= top_k <= self.config.num_classes:
            raise ValueError(f"top_k must be between 1 and {self.config.num_classes} (the number of classes), got {top_k}")
        if not images:
            return []
        batch = torch.stack([self.preprocess(image) for image in images])
        probs = self.logits(batch).softmax(dim=1)
        values, indices = probs.topk(top_k, dim=1)
        return [
            [(self.config.labels[i], float(p)) for p, i in zip(row_values.tolist(), row_indices.tolist())]
            for row_values, row_indices in zip(values, indices)
        ]

    def explain(self, image: ImageSource, target: Optional[int | str] = None) -> Explanation:
        """Grad-CAM of the last stage for ``target`` (an index or label; default: the top class)."""
        rgb = self._load(image)
        x = self._transform(rgb).unsqueeze(0).to(self.device)
        with torch.no_grad():
            features = (self.fast or self.model).forward_features(x)
        # Only the head needs gradients: the features become the leaf of a tiny graph through the fp32 head.
        features = features.detach().float().contiguous().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model.forward_head(features).float()
            index = self._target_index(target, logits)
            (grad,) = torch.autograd.grad(logits[0, index], features)
        weights = grad.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * features.detach()).sum(dim=1))[0]
        cam = cam / cam.max() if cam.max() > 0 else cam
        heatmap = cam.cpu().numpy().astype(np.float32)
        probability = float(logits.detach().softmax(dim=1)[0, index])
        view = self._geometry(rgb)
        return Explanation(_overlay(view, heatmap), heatmap, self.config.labels[index], index, probability)

    def _target_index(self, target: Optional[int | str], logits: torch.Tensor) -> int:
        if target is None:
            return int(logits.argmax(dim=1)[0])
        if isinstance(target, str):
            if target not in self.config.labels:
                raise ValueError(f"unknown label {target!r}; this model knows {len(self.config.labels)} labels")
            return self.config.labels.index(target)
        if not 0 <= int(target) < self.config.num_classes:
            raise ValueError(f"target index {target} is out of range 0..{self.config.num_classes - 1}")
        return int(target)

    def __repr__(self) -> str:
        mode = f"fast {str(self.fast.dtype).removeprefix('torch.')} {self.fast.backend}" if self.fast else "fp32"
        return f"Classifier({self.config.arch}, {self.config.num_classes} classes, source={self.config.source!r}, device={self.device}, {mode})"


def _overlay(view: Image.Image, heatmap: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """Blend a [0, 1] map, upsampled to ``view``'s size and coloured blue -> red, over ``view``."""
    cam = torch.from_numpy(heatmap)[None, None]
    cam = F.interpolate(cam, size=(view.height, view.width), mode="bilinear", align_corners=False)[0, 0].clamp(0, 1).numpy()
    # A jet-like colour map: blue at 0, green at 0.5, red at 1.
    colour = np.stack([np.clip(1.5 - np.abs(4 * cam - c), 0, 1) for c in (3, 2, 1)], axis=-1)
    blended = (1 - alpha) * np.asarray(view, dtype=np.float32) / 255 + alpha * colour
    return Image.fromarray((blended * 255).round().astype(np.uint8))
