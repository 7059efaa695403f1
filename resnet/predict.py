"""``Classifier``: a ResNet, its labels and its preprocessing, ready to predict and explain.

``classify`` gives the answer and its explanation from one forward pass: the head turns the
last stage's features into probabilities, and the same features weighed by the ``fc`` rows
give any class's activation map, which for a ResNet equals Grad-CAM (``resnet.cam`` says why),
with no backward pass and no hooks, so it can run while other threads predict.
``compare_checkpoints`` runs one photo through several checkpoints side by side.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from .batching import ManyResult, default_batch_size
from .cam import Prediction, class_index
from .checkpoints.config import CheckpointError, ModelConfig
from .checkpoints.hub import DEFAULT_CHECKPOINTS, load_checkpoint
from .checkpoints.saving import push_checkpoint, save_checkpoint
from .devices import default_device
from .fast import InferenceModel, optimize_for_inference
from .files import image_name
from .model import ARCHS, ResNet
from .transforms import ImageError, ImageSource, eval_transform, geometry_transform, load_image

__all__ = ["Classifier", "Explanation", "ManyResult", "Prediction", "compare_checkpoints"]


@dataclass
class Explanation:
    """A Grad-CAM result (``Classifier.explain``; ``Classifier.classify`` gives the same map with the answer).

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
        model: a ``resnet.model.ResNet`` whose ``fc`` has ``len(config.labels)`` outputs.
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
        ``resnet.checkpoints.hub.load_checkpoint``: ``cache_dir``, ``token``, ``force_download`` and
        ``local_files_only`` as in ``huggingface_hub.hf_hub_download``; ``hub_timeout`` (one quick
        attempt at the Hub) and ``allow_local`` (``False``: never read a local folder).
        """
        model, config = load_checkpoint(str(source), revision, **hub_options)
        return cls(model, config, device, fast=fast)

    def save_pretrained(self, folder: str | os.PathLike, *, onnx: bool = False) -> None:
        """Write ``config.json``, ``model.safetensors`` and a model card (kept if one exists).

        ``onnx``: also ``model.onnx`` and ``preprocessing.json`` (``export_onnx``), and a card that shows how to run them.
        """
        if onnx:
            self.export_onnx(folder)
        save_checkpoint(self.model, self.config, folder, onnx_card=onnx)

    def push_to_hub(self, repo_id: str, *, token: Optional[str] = None, private: Optional[bool] = None) -> str:
        """Upload this classifier to the Hub as ``repo_id``; returns the commit URL."""
        return push_checkpoint(self.model, self.config, repo_id, token=token, private=private)

    def export_onnx(self, path: str | os.PathLike, *, opset: int = 17) -> Path:
        """Write ``model.onnx`` and ``preprocessing.json`` (see ``resnet.checkpoints.onnx.export_onnx``); returns the model's path."""
        from .checkpoints.onnx import export_onnx  # onnx export machinery loads only when asked for

        return export_onnx(self.model, self.config, path, opset=opset)

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
        top_k = self.check_top_k(top_k)
        if not images:
            return []
        batch = torch.stack([self.preprocess(image) for image in images])
        return self._top(self.logits(batch).softmax(dim=1), top_k)

    def predict_many(
        self,
        images: Iterable[ImageSource],
        *,
        batch_size: Optional[int] = None,
        top_k: Optional[int] = None,
        on_progress: Optional[Callable[[int, int], None]] = None,
    ) -> list[ManyResult]:
        """``predict`` for a list of photos of any length, in batches; a photo that cannot be read does not stop the rest.

        Args:
            images: the photos (paths, bytes, named files such as ``train.zips.read_zip_samples`` returns, ...).
            batch_size: photos per forward pass; default: ``resnet.batching.default_batch_size(self.device)``.
            top_k: classes per photo (default: 5, or all if fewer).
            on_progress: called as ``on_progress(done, total)`` after each batch.

        Returns:
            One ``ManyResult`` per photo, in order: its top classes, or the ``ImageError`` that stopped it.
        """
        top_k = self.check_top_k(top_k)
        batch_size = default_batch_size(self.device) if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        images = list(images)
        results: list[ManyResult] = []
        for start in range(0, len(images), batch_size):
            names, tensors, errors = [], [], {}
            for position, image in enumerate(images[start : start + batch_size], start):
                names.append(image_name(image, position))
                try:
                    tensors.append(self.preprocess(image))
                except ImageError as e:  # reported in this photo's result
                    errors[len(names) - 1] = e
            tops = iter(self._top(self.logits(torch.stack(tensors)).softmax(dim=1), top_k) if tensors else [])
            results += [ManyResult(name, None, errors[i]) if i in errors else ManyResult(name, next(tops), None) for i, name in enumerate(names)]
            if on_progress is not None:
                on_progress(len(results), len(images))
        return results

    def check_top_k(self, top_k: Optional[int]) -> int:
        """How many classes a call with ``top_k`` reports: ``top_k``, or by default 5 (all if fewer).

        Raises:
            ValueError: ``top_k`` is given and is not between 1 and the number of classes.
        """
        if top_k is None:
            return min(5, self.config.num_classes)
        if not 1 <= top_k <= self.config.num_classes:
            raise ValueError(f"top_k must be between 1 and {self.config.num_classes} (the number of classes), got {top_k}")
        return top_k

    def _top(self, probs: torch.Tensor, top_k: int) -> list[list[tuple[str, float]]]:
        values, indices = probs.topk(top_k, dim=1)
        return [
            [(self.config.labels[i], float(p)) for p, i in zip(row_values.tolist(), row_indices.tolist())]
            for row_values, row_indices in zip(values, indices)
        ]

    def prepare(self, image: ImageSource) -> tuple[torch.Tensor, Image.Image]:
        """Decode ``image`` once: its eval tensor (3, crop, crop) and the network's view of it (resized, centre-cropped RGB)."""
        rgb = self._load(image)
        return self._transform(rgb), self._geometry(rgb)

    def classify(self, image: ImageSource, *, top_k: Optional[int] = None) -> Prediction:
        """The top classes and the top class's activation map (equal to Grad-CAM) from one forward pass.

        Runs ``forward_features`` once on the fast path, then the fp32 head; the map weighs the same
        features by the class's ``fc`` row. No backward pass, no second decode;
        ``Prediction.cam_for`` gives other classes' maps without running the network again.

        Raises:
            ImageError: the image cannot be read.
            ValueError: ``top_k`` is not between 1 and the number of classes.
        """
        top_k = self.check_top_k(top_k)
        return self.classify_prepared([self.prepare(image)], top_k=top_k)[0]

    def classify_prepared(self, prepared: Sequence[tuple[torch.Tensor, Image.Image]], *, top_k: Optional[int] = None) -> list[Prediction]:
        """``classify`` for photos already ``prepare``d, all in one forward pass (a ``resnet.batching.MicroBatcher``'s ``run_batch``)."""
        top_k = self.check_top_k(top_k)
        if not prepared:
            return []
        network = self.fast or self.model
        batch = torch.stack([x for x, _ in prepared]).to(self.device)
        with torch.inference_mode():
            features = network.forward_features(batch)
            probs = network.forward_head(features).float().softmax(dim=1).cpu()
            features = features.float().cpu()
        weight = network.fc.weight.detach().float().cpu()  # the head that gave the probabilities
        return [
            Prediction.build(top, probabilities=p.numpy(), view=view, features=f, weight=weight, labels=self.config.labels)
            for top, p, f, (_, view) in zip(self._top(probs, top_k), probs, features, prepared)
        ]

    def explain(self, image: ImageSource, target: Optional[int | str] = None) -> Explanation:
        """Grad-CAM of the last stage for ``target`` (an index or label; default: the top class), via ``classify``."""
        index = None if target is None else class_index(target, self.config.labels)
        prediction = self.classify(image, top_k=1)
        index = prediction.index if index is None else index
        heatmap, overlay = prediction.cam_for(index)
        return Explanation(overlay, heatmap, self.config.labels[index], index, float(prediction.probabilities[index]))

    def __repr__(self) -> str:
        mode = f"fast {str(self.fast.dtype).removeprefix('torch.')} {self.fast.backend}" if self.fast else "fp32"
        return f"Classifier({self.config.arch}, {self.config.num_classes} classes, source={self.config.source!r}, device={self.device}, {mode})"


def compare_checkpoints(
    image: ImageSource, sources: Mapping[str, str], *, load: Callable[[str], Classifier] = Classifier.from_pretrained
) -> list[dict[str, Any]]:
    """One photo through every checkpoint in ``sources`` that loads, side by side.

    Args:
        image: the photo (any ``ImageSource``); decoded once, before any checkpoint is loaded.
        sources: a name to show -> a checkpoint (Hub repo id or folder), e.g.
            ``{arch: checkpoint for arch, (checkpoint, _) in DEFAULT_CHECKPOINTS.items()}``.
        load: checkpoint -> ``Classifier``; an app passes its own cached loader.

    Returns:
        One dict per entry of ``sources``, in order, with ``name``, ``source``, ``arch``, ``label`` and
        ``probability`` (the top class), ``forward_ms`` (one forward pass, timed now), ``imagenet_top1``
        (the published ImageNet top-1 % of that very checkpoint, from ``DEFAULT_CHECKPOINTS``, else None),
        ``reason`` and ``error`` (a ``CheckpointError``'s reason and message when loading failed, else
        None; then the answer fields are None), ``agrees_with_majority`` (the top class most loaded
        checkpoints give; a tie goes to the deepest's) and ``agrees_with_deepest``.

    Raises:
        ImageError: the photo cannot be read.
    """
    rgb = load_image(image)
    published = {checkpoint: top1 for checkpoint, top1 in DEFAULT_CHECKPOINTS.values()}
    rows: list[dict[str, Any]] = []
    for name, source in sources.items():
        row: dict[str, Any] = dict.fromkeys(("arch", "label", "probability", "forward_ms", "reason", "error", "agrees_with_majority", "agrees_with_deepest"))
        row.update(name=name, source=source, imagenet_top1=published.get(source))
        try:
            classifier = load(source)
        except CheckpointError as e:  # the others still run; the row says which one is missing and why
            row.update(reason=e.reason, error=str(e))
        else:
            x = classifier.preprocess(rgb)[None]
            start = time.perf_counter()
            probs = classifier.logits(x).softmax(dim=1)[0]  # logits() returns on the CPU: the time includes the device's work
            forward_ms = 1000 * (time.perf_counter() - start)
            index = int(probs.argmax())
            row.update(arch=classifier.config.arch, label=classifier.labels[index], probability=float(probs[index]), forward_ms=forward_ms)
        rows.append(row)
    loaded = [row for row in rows if row["label"] is not None]
    if loaded:
        deepest = max(loaded, key=lambda row: ARCHS.index(row["arch"]))  # the first of equal depth
        votes = Counter(row["label"] for row in loaded)
        majority = max(votes, key=lambda label: (votes[label], label == deepest["label"]))
        for row in loaded:
            row.update(agrees_with_majority=row["label"] == majority, agrees_with_deepest=row["label"] == deepest["label"])
    return rows
