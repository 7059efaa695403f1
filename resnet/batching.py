"""Many photos through one classifier: batch sizes, per-photo results, and micro-batching of concurrent calls.

``Classifier.predict_many`` runs a list of photos in batches and reports each photo's answer
or error (``ManyResult``). ``MicroBatcher`` serves callers in many threads, such as a web
server's workers: each call waits a few milliseconds for company, and the requests that
arrived together run as one forward pass, which costs less per photo than one pass each.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import torch

from .cam import Prediction
from .transforms import ImageError, ImageSource

if TYPE_CHECKING:  # predict.py imports this module; the classifier is only a type here
    from .predict import Classifier

__all__ = ["ManyResult", "MicroBatcher", "default_batch_size", "image_name"]

# Photos per forward pass: past these, a larger batch no longer lowers the time per photo
# much and only holds more activations (a CPU runs out of cache first, a GPU of parallelism).
BATCH_SIZES = {"cpu": 8, "mps": 16, "cuda": 64}


def default_batch_size(device: torch.device) -> int:
    """How many photos ``Classifier.predict_many`` puts in one forward pass on ``device`` (8 on the CPU, 64 on CUDA)."""
    return BATCH_SIZES.get(device.type, BATCH_SIZES["cpu"])


def image_name(image: ImageSource, position: int) -> str:
    """A name to show for an input: a path's or named file's base name, else ``"image <position + 1>"``."""
    if isinstance(image, (str, os.PathLike)):
        return os.path.basename(os.fspath(image))
    name = getattr(image, "name", None)  # files, and the in-memory files train.zips.read_zip_samples returns
    if isinstance(name, str) and name:
        return os.path.basename(name)
    return f"image {position + 1}"


@dataclass(frozen=True)
class ManyResult:
    """One photo's outcome in ``Classifier.predict_many``: either ``top`` or ``error`` is set.

    Attributes:
        name: the photo's name (``image_name``).
        top: ``(label, probability)`` pairs, highest first; None if the photo could not be read.
        error: the ``ImageError`` that stopped this photo (its message says why); None if it was classified.
    """

    name: str
    top: Optional[list[tuple[str, float]]]
    error: Optional[ImageError]


_CLOSE = object()  # put on the queue by close(): the worker serves what came before it, then stops


class MicroBatcher:
    """Concurrent ``classify`` calls gathered into one forward pass.

    Each caller decodes and preprocesses its own photo in its own thread (so a bad photo raises
    ``ImageError`` there, to that caller only), then queues it. One worker thread takes the first
    queued photo, waits at most ``max_wait_ms`` for up to ``max_batch - 1`` more, runs them all
    through ``Classifier.classify_prepared`` at once and hands each caller its own ``Prediction``.

    Args:
        classifier: the model to run.
        max_batch: most photos in one forward pass.
        max_wait_ms: longest a first request waits for others to join its batch.
        top_k: classes in each ``Prediction.top`` (default: 5, or all if fewer).

    Example:
        >>> with MicroBatcher(classifier, max_batch=8, max_wait_ms=2) as batcher:  # doctest: +SKIP
        ...     prediction = batcher.classify("cat.jpg")  # from any number of threads
    """

    def __init__(self, classifier: "Classifier", *, max_batch: int = 8, max_wait_ms: float = 2.0, top_k: Optional[int] = None):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if not 0 <= max_wait_ms <= 1000:
            raise ValueError(f"max_wait_ms must be between 0 and 1000, got {max_wait_ms}")
        self.classifier = classifier
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.top_k = classifier.check_top_k(top_k)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()  # makes "closed?" and "queue the request" one step
        self._closed = False
        self._worker = threading.Thread(target=self._serve_forever, name="MicroBatcher", daemon=True)
        self._worker.start()

    def classify(self, image: ImageSource) -> Prediction:
        """``Classifier.classify(image)``, in a forward pass shared with the calls that arrive at about the same time.

        Raises:
            ImageError: this photo cannot be read (no other caller is affected).
            RuntimeError: the batcher is closed.
        """
        prepared = self.classifier.prepare(image)
        result: Future[Prediction] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("this MicroBatcher is closed")
            self._queue.put((prepared, result))
        return result.result()

    def close(self) -> None:
        """Serve the requests already queued, then stop the worker thread (and wait for it)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_CLOSE)
        self._worker.join()

    def __enter__(self) -> "MicroBatcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve_forever(self) -> None:
        while True:
            first = self._queue.get()
            if first is _CLOSE:
                return
            batch, closing = [first], False
            deadline = time.monotonic() + self.max_wait_ms / 1000
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _CLOSE:
                    closing = True
                    break
                batch.append(item)
            self._run(batch)
            if closing:
                return

    def _run(self, batch: list[tuple[Any, Future]]) -> None:
        try:
            predictions = self.classifier.classify_prepared([prepared for prepared, _ in batch], top_k=self.top_k)
        except Exception as e:  # the forward pass failed for the whole batch: every caller in it gets the error
            for _, result in batch:
                result.set_exception(e)
            return
        for (_, result), prediction in zip(batch, predictions):
            result.set_result(prediction)
