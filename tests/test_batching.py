"""Many photos: ``Classifier.predict_many`` in batches with per-photo errors, and ``MicroBatcher`` across threads."""

import functools
import io
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from resnet import Classifier
from resnet.batching import MicroBatcher, default_batch_size
from resnet.files import image_name
from resnet.transforms import ImageError
from train.zips import read_zip_samples

PHOTOS = ("chelsea.png", "rocket.jpg", "coffee.png", "camera.png", "coins.png")


@pytest.fixture(scope="module")
def fast(hub_models):
    return Classifier.from_pretrained("timm/resnet18.tv_in1k", device="cpu")


@pytest.fixture(scope="module")
def exact(hub_models):
    return Classifier.from_pretrained("timm/resnet18.tv_in1k", device="cpu", fast=False)


def named(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def assert_same_top(a: list, b: list, atol: float) -> None:
    assert [label for label, _ in a] == [label for label, _ in b]
    np.testing.assert_allclose([p for _, p in a], [p for _, p in b], atol=atol)


def test_predict_many_batches_reports_progress_and_keeps_going_past_bad_photos(fast, photos_dir):
    paths = [photos_dir / name for name in PHOTOS]
    images = [paths[0], b"not an image", named(paths[1].read_bytes(), "uploads/rocket.jpg"), Image.open(paths[2]), b"", *paths[3:]]
    progress = []
    results = fast.predict_many(images, batch_size=3, top_k=3, on_progress=lambda done, total: progress.append((done, total)))
    assert progress == [(3, 7), (6, 7), (7, 7)]
    assert [r.name for r in results] == ["chelsea.png", "image 2", "rocket.jpg", "image 4", "image 5", "camera.png", "coins.png"]
    for i in (1, 4):
        assert results[i].top is None and isinstance(results[i].error, ImageError)
    assert "not an image format" in str(results[1].error) and "empty" in str(results[4].error)
    good = [r for r in results if r.error is None]
    assert len(good) == 5
    for result, path in zip(good, paths):
        assert_same_top(result.top, fast.predict(path, top_k=3), atol=1e-5)


def test_predict_many_edge_cases_and_bad_arguments(fast):
    assert fast.predict_many([]) == []
    only_bad = fast.predict_many([b"x", b"y"], batch_size=8)  # a batch with nothing to run
    assert [r.error is not None for r in only_bad] == [True, True]
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        fast.predict_many([b"x"], batch_size=0)
    with pytest.raises(ValueError, match="top_k must be between 1 and 1000 .*got 0"):
        fast.predict_many([b"x"], top_k=0)
    assert default_batch_size(torch.device("cpu")) == 8 and default_batch_size(torch.device("cuda")) == 64
    assert image_name("/a/b/c.png", 0) == "c.png" and image_name(b"", 4) == "image 5"


def test_a_zip_of_photos_goes_through_the_training_zip_reader(fast, photos_dir, tmp_path):
    # The app reads uploads with train.zips.read_zip_samples (its size, ratio and path checks); a folder of photos is one "class".
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("holiday/chelsea.png", (photos_dir / "chelsea.png").read_bytes())
        archive.writestr("holiday/broken.jpg", b"\xff\xd8 truncated")
        archive.writestr("holiday/../escape.png", (photos_dir / "coins.png").read_bytes())
    (tmp_path / "photos.zip").write_bytes(buffer.getvalue())
    samples, notes = read_zip_samples(tmp_path / "photos.zip", max_images=100)
    results = fast.predict_many([photo for photos in samples.values() for photo in photos])
    assert [(r.name, r.error is None) for r in results] == [("chelsea.png", True), ("broken.jpg", False)]
    assert len(notes) == 1 and "escape.png" in str(notes[0])
    assert_same_top(results[0].top, fast.predict(photos_dir / "chelsea.png"), atol=1e-5)


def concurrent_classify(batcher: MicroBatcher, classifier: Classifier, images: list) -> list:
    """Every image prepared and classified from its own thread, all released at once; an exception is returned in its place."""
    start = threading.Barrier(len(images))

    def call(image):
        start.wait()
        try:
            return batcher(classifier.prepare(image))
        except Exception as e:  # noqa: BLE001 - handed back for the test to check
            return e

    with ThreadPoolExecutor(max_workers=len(images)) as pool:
        return list(pool.map(call, images))


def counting_batches(classifier: Classifier, monkeypatch) -> list[int]:
    sizes = []
    original = classifier.classify_prepared

    def wrapper(prepared, **kwargs):
        sizes.append(len(prepared))
        return original(prepared, **kwargs)

    monkeypatch.setattr(classifier, "classify_prepared", wrapper)
    return sizes


def test_micro_batches_equal_unbatched_fp32_results_per_caller(exact, photos_dir, monkeypatch):
    images = [photos_dir / name for name in PHOTOS] + [Image.open(photos_dir / "chelsea.png").rotate(90)]
    expected = [exact.classify(image) for image in images]
    sizes = counting_batches(exact, monkeypatch)
    with MicroBatcher(exact.classify_prepared, max_batch=4, max_wait_ms=500) as batcher:
        results = concurrent_classify(batcher, exact, images)
    assert sum(sizes) == len(images) and max(sizes) > 1 and max(sizes) <= 4  # batched, never past max_batch
    for got, want in zip(results, expected):
        assert_same_top(got.top, want.top, atol=1e-6)
        np.testing.assert_allclose(got.cam, want.cam, atol=1e-5)
        np.testing.assert_allclose(got.probabilities, want.probabilities, atol=1e-6)


def test_micro_batches_on_the_fast_path_and_a_bad_photo_fails_alone(fast, photos_dir, monkeypatch):
    images = [photos_dir / name for name in PHOTOS[:3]] + [b"not an image"]
    expected = [fast.classify(image) for image in images[:3]]
    sizes = counting_batches(fast, monkeypatch)
    with MicroBatcher(functools.partial(fast.classify_prepared, top_k=3), max_batch=8, max_wait_ms=500) as batcher:
        results = concurrent_classify(batcher, fast, images)
        assert isinstance(results[3], ImageError)
        for got, want in zip(results[:3], expected):
            assert len(got.top) == 3
            assert_same_top(got.top, want.top[:3], atol=1e-3)
            assert got.index == want.index and np.corrcoef(got.cam.ravel(), want.cam.ravel())[0, 1] > 0.99
        lone = batcher(fast.prepare(images[0]))  # nobody else comes: served alone once max_wait_ms is over
        assert sizes[-1] == 1 and lone.index == expected[0].index
    assert sum(sizes) == 4  # the bad photo never reached the worker


def test_a_failed_forward_reaches_its_callers_and_the_worker_survives(fast, photos_dir, monkeypatch):
    def broken(prepared, **kwargs):
        raise RuntimeError("device lost")

    with MicroBatcher(lambda batch: fast.classify_prepared(batch), max_wait_ms=0) as batcher:  # looked up per batch: patched below
        monkeypatch.setattr(fast, "classify_prepared", broken)
        with pytest.raises(RuntimeError, match="device lost"):
            batcher(fast.prepare(photos_dir / "coins.png"))
        monkeypatch.undo()
        assert batcher(fast.prepare(photos_dir / "coins.png")).index == fast.classify(photos_dir / "coins.png").index


def test_close_stops_the_worker_and_refuses_later_calls(fast, photos_dir):
    def workers() -> int:
        return sum(thread.name == "MicroBatcher" for thread in threading.enumerate())

    before = workers()
    batcher = MicroBatcher(fast.classify_prepared)
    assert workers() == before + 1
    batcher.close()
    batcher.close()  # twice is fine
    assert workers() == before
    with pytest.raises(RuntimeError, match="closed"):
        batcher(fast.prepare(photos_dir / "coins.png"))
    for bad, message in (({"max_batch": 0}, "max_batch must be at least 1, got 0"), ({"max_wait_ms": -1}, "max_wait_ms must be between")):
        with pytest.raises(ValueError, match=message):
            MicroBatcher(fast.classify_prepared, **bad)
    with pytest.raises(ValueError, match="top_k"):  # top_k is the batch function's now: refused before any forward pass
        fast.classify_prepared([], top_k=0)

