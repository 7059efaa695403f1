"""Concurrent classify requests for one shared model, served in shared forward passes (``resnet.batching.MicroBatcher``)."""

from __future__ import annotations

import threading
from collections import Counter

import torch

import resnet
from resnet.batching import MicroBatcher
from resnet.cam import Prediction
from resnet.transforms import ImageSource

from .models import MODELS

__all__ = ["AUTO_BATCH", "BATCHERS", "SharedBatchers", "auto_batch"]

# Photos per forward pass for concurrent single-photo requests, by device: measured with
# benchmarks/load.py (docs/PERFORMANCE.md); where a device is missing, requests run one by one.
AUTO_BATCH = {"cuda": 8}


def auto_batch(device: torch.device) -> int:
    """The ``--classify-batch`` default for ``device``: 8 on CUDA, 0 (each request its own forward pass) elsewhere."""
    return AUTO_BATCH.get(device.type, 0)


class SharedBatchers:
    """One ``resnet.batching.MicroBatcher`` per shared pretrained model, so concurrent classify requests share forward passes.

    A batcher lives as long as its model stays in ``ui.models.MODELS``: one whose model was dropped
    or reloaded is closed once the last request inside it has its answer, so the LRU budget holds.
    """

    def __init__(self) -> None:
        self.max_batch, self.max_wait_ms = 0, 2.0
        self._lock = threading.Lock()  # guards the two dicts below
        self._live: dict[str, tuple[resnet.Classifier, MicroBatcher]] = {}  # source -> the classifier MODELS holds for it, its batcher
        self._users: Counter[MicroBatcher] = Counter()  # requests inside each open batcher

    def configure(self, *, max_batch: int, max_wait_ms: float = 2.0) -> None:
        """Photos per forward pass (0 or 1: every request runs on its own) and the longest a request waits for company."""
        if max_batch < 0:
            raise ValueError(f"max_batch must be 0 (off) or more, got {max_batch}")
        if not 0 <= max_wait_ms <= 1000:
            raise ValueError(f"max_wait_ms must be between 0 and 1000, got {max_wait_ms}")
        self.max_batch, self.max_wait_ms = max_batch, max_wait_ms

    def classify(self, source: str, classifier: resnet.Classifier, image: ImageSource) -> Prediction:
        """``classifier.classify(image)``, micro-batched with concurrent requests for the same ``source`` when batching is on."""
        if self.max_batch < 2:
            return classifier.classify(image)
        with self._lock:
            live = self._live.get(source)
            if live is None or live[0] is not classifier:  # first use, or MODELS loaded it again
                batcher = MicroBatcher(classifier.classify_prepared, max_batch=self.max_batch, max_wait_ms=self.max_wait_ms)
                live = self._live[source] = (classifier, batcher)
            batcher = live[1]
            self._users[batcher] += 1
        try:
            return batcher(classifier.prepare(image))  # decoded in this request's thread: a bad photo fails here alone
        finally:
            self._leave(batcher)

    def open_count(self) -> int:
        """How many batchers (one worker thread each) are open now."""
        with self._lock:
            return len(self._users)

    def _leave(self, batcher: MicroBatcher) -> None:
        loaded = set(MODELS.loaded())
        with self._lock:
            self._users[batcher] -= 1
            for source in [s for s in self._live if s not in loaded]:
                del self._live[source]  # its model left the shared cache
            live = {b for _, b in self._live.values()}
            idle = [b for b, users in self._users.items() if users == 0 and b not in live]
            for b in idle:
                del self._users[b]
        for b in idle:
            b.close()


BATCHERS = SharedBatchers()  # the server's one set; tab() sizes it from --classify-batch
