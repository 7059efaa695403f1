"""Many photos through one classifier: batch sizes, per-photo results, and micro-batching of concurrent calls.

``Classifier.predict_many`` runs a list of photos in batches and reports each photo's answer
or error (``ManyResult``). ``MicroBatcher`` serves callers in many threads, such as a web
server's workers: each call waits a few milliseconds for company, and the requests that
arrived together run as one batch call (for a classifier, one forward pass), which costs less
per photo than one pass each. It knows nothing of classifiers: it takes the batch function.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Generic, Optional, Sequence, TypeVar

import torch

from .transforms import ImageError

__all__ = ["ManyResult", "MicroBatcher", "default_batch_size"]

# Photos per forward pass: past these, a larger batch no longer lowers the time per photo
# much and only holds more activations (a CPU runs out of cache first, a GPU of parallelism).
BATCH_SIZES = {"cpu": 8, "mps": 16, "cuda": 64}


def default_batch_size(device: torch.device) -> int:
    """How many photos ``Classifier.predict_many`` puts in one forward pass on ``device`` (8 on the CPU, 64 on CUDA)."""
    return BATCH_SIZES.get(device.type, BATCH_SIZES["cpu"])


@dataclass(frozen=True)
class ManyResult:
    """One photo's outcome in ``Classifier.predict_many``: either ``top`` or ``error`` is set.

    Attributes:
        name: the photo's name (``resnet.files.image_name``).
        top: ``(label, probability)`` pairs, highest first; None if the photo could not be read.
        error: the ``ImageError`` that stopped this photo (its message says why); None if it was classified.
    """

    name: str
    top: Optional[list[tuple[str, float]]]
    error: Optional[ImageError]


_CLOSE = object()  # put on the queue by close(): the worker serves what came before it, then stops

Item = TypeVar("Item")
Result = TypeVar("Result")


class MicroBatcher(Generic[Item, Result]):
    """Concurrent calls gathered into one batch call: ``run_batch(items) -> results``, called as ``batcher(item) -> result``.

    Each caller queues its item and waits; one worker thread takes the first queued item, waits at
    most ``max_wait_ms`` for up to ``max_batch - 1`` more, runs them all through ``run_batch`` at once
    and hands each caller its own result. Work a caller does before ``batcher(item)`` (decoding its
    photo, say) runs in its own thread, so an error there reaches that caller only.

    Args:
        run_batch: items -> one result per item, in order (e.g. ``Classifier.classify_prepared``).
        max_batch: most items in one ``run_batch`` call.
        max_wait_ms: longest a first request waits for others to join its batch.

    Example:
        >>> with MicroBatcher(classifier.classify_prepared, max_batch=8, max_wait_ms=2) as batcher:  # doctest: +SKIP
        ...     prediction = batcher(classifier.prepare("cat.jpg"))  # from any number of threads
    """

    def __init__(self, run_batch: Callable[[list[Item]], Sequence[Result]], *, max_batch: int = 8, max_wait_ms: float = 2.0):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if not 0 <= max_wait_ms <= 1000:
            raise ValueError(f"max_wait_ms must be between 0 and 1000, got {max_wait_ms}")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()  # makes "closed?" and "queue the request" one step
        self._closed = False
        self._worker = threading.Thread(target=self._serve_forever, name="MicroBatcher", daemon=True)
        self._worker.start()

    def __call__(self, item: Item) -> Result:
        """``run_batch([item])[0]``, in a call shared with the items that arrive at about the same time.

        Raises:
            RuntimeError: the batcher is closed.
            Exception: whatever ``run_batch`` raised for the batch this item was in.
        """
        result: Future[Result] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("this MicroBatcher is closed")
            self._queue.put((item, result))
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
            results = self.run_batch([item for item, _ in batch])
        except Exception as e:  # the batch call failed for all: every caller in it gets the error
            for _, future in batch:
                future.set_exception(e)
            return
        for (_, future), result in zip(batch, results):
            future.set_result(result)
