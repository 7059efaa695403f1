"""The Classify tab through its API (one pass, many photos, all depths) and its callbacks in this process.

Every answer and picture the server sends is compared with what ``resnet.Classifier`` gives in
this process from the same weights (the test Hub cache): labels and probabilities closely,
overlays pixel for pixel after the PNG round trip.
"""

import csv
import math
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import resnet
from resnet.checkpoints.config import CheckpointError, ModelConfig
from resnet.devices import default_device
from tests.conftest import ROOT
from train.data import DataError
from train.zips import read_zip_samples
from ui import batchers as batchers_module, session
from ui.models import ModelPolicy, SharedModels
from ui.tabs.classify import tab

DEFAULT = "timm/resnet50.tv2_in1k"
PHOTOS = sorted(p for p in (ROOT / "examples").glob("*.*") if p.suffix in (".png", ".jpg"))
EXAMPLE = ROOT / "examples" / "chelsea.png"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
REQUEST = SimpleNamespace(session_hash="classify-test", headers={})


@pytest.fixture(scope="module")
def url(app_server):
    return app_server.url


@pytest.fixture(scope="module")
def local(hub_models) -> resnet.Classifier:
    """The server's default checkpoint, loaded in this process the way the server loads it."""
    return resnet.Classifier.from_pretrained(DEFAULT)


@pytest.fixture(scope="module")
def small() -> resnet.Classifier:
    """A seeded ResNet-18 with three classes, for the callbacks in this process."""
    model = resnet.build("resnet18", num_classes=3, generator=torch.Generator().manual_seed(3)).eval()
    return resnet.Classifier(model, ModelConfig("resnet18", ("ant", "bee", "cat")), device="cpu")


def pixels(image) -> np.ndarray:
    return np.asarray(Image.open(image).convert("RGB") if isinstance(image, str) else image.convert("RGB"), dtype=np.float32)


def assert_same_picture(served: str, expected: Image.Image) -> None:
    a, b = pixels(served), pixels(expected)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 1.0 and np.abs(a - b).max() <= 24, (np.abs(a - b).mean(), np.abs(a - b).max())


def test_classify_answers_with_the_overlay_and_the_timing_in_one_call(url, local):
    label, overlay, timing = Client(url, verbose=False).predict(handle_file(str(EXAMPLE)), DEFAULT, api_name="/classify")
    expected = local.classify(EXAMPLE)
    served = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert len(served) == 5 and label["label"] == label["confidences"][0]["label"]
    assert [round(served.get(name, -1), 3) for name, _ in expected.top] == [round(p, 3) for _, p in expected.top]
    assert Image.open(overlay).size == (224, 224) and Image.open(overlay).format == "PNG"
    assert_same_picture(overlay, expected.overlay)
    assert DEFAULT in timing and " ms on cpu" in timing


def test_explain_gives_the_map_of_a_chosen_class(url, local):
    client = Client(url, verbose=False)
    expected = local.classify(EXAMPLE)
    second = expected.top[1][0]
    assert_same_picture(client.predict(handle_file(str(EXAMPLE)), DEFAULT, second, api_name="/explain"), expected.cam_for(second)[1])
    assert_same_picture(client.predict(handle_file(str(EXAMPLE)), DEFAULT, "", api_name="/explain"), expected.overlay)
    with pytest.raises(AppError, match="no such class is not a class of this model"):
        client.predict(handle_file(str(EXAMPLE)), DEFAULT, "no such class", api_name="/explain")


def test_one_forward_pass_no_backward_and_other_classes_without_the_network(small, monkeypatch):
    calls = []
    real = small.classify_prepared
    monkeypatch.setattr(small, "classify_prepared", lambda prepared, **kw: calls.append(len(prepared)) or real(prepared, **kw))
    monkeypatch.setattr(torch.autograd, "backward", lambda *a, **k: pytest.fail("classify ran a backward pass"))
    top, overlay, _, last = tab.classify(str(EXAMPLE), "mine", {"mine": small}, ModelPolicy(()), request=REQUEST)
    assert calls == [1] and list(top) == [name for name, _ in last.top] and np.array_equal(pixels(overlay), pixels(last.overlay))
    monkeypatch.setattr(small, "classify_prepared", lambda *a, **k: pytest.fail("the network ran again"))
    other = last.top[1][0]
    path, title = tab.class_map(last, SimpleNamespace(value=other), request=REQUEST)
    picture = Image.open(path)
    assert np.array_equal(pixels(picture), pixels(last.cam_for(other)[1]))
    assert not np.array_equal(pixels(picture), pixels(last.overlay))
    assert title == f"Grad-CAM: where the network saw {other}"
    assert tab.top_class_title(last, request=REQUEST) == f"Grad-CAM: where the network saw {last.top[0][0]}"


def test_classify_many_gives_a_row_per_photo_with_errors_worded_and_the_same_csv(url, local, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    files = [*PHOTOS, bad]
    for headers, worded in (({}, "not an image format this app can read"), (ZH, "不是本应用能读取的图片格式")):
        table, status, csv_path = Client(url, verbose=False, headers=headers).predict(
            [handle_file(str(p)) for p in files], DEFAULT, api_name="/classify_many"
        )
        rows = table["data"]
        assert [row[0] for row in rows] == [p.name for p in files]
        assert worded in rows[-1][4] and rows[-1][1] is None
    assert table["headers"] == ["文件", "第一名类别", "概率", "前 5 个类别", "错误"]
    assert "已分类 5 张" in status and "1 张无法读取" in status
    for row, photo in zip(rows, PHOTOS):
        expected = local.predict(photo)
        assert row[1] == expected[0][0] and row[2] == pytest.approx(expected[0][1], abs=2e-3) and row[4] is None
        assert row[3].split("; ")[0].startswith(expected[0][0])
    # The page shows the probability in percent, as the top 5 says it; the API and the CSV keep the number.
    shown = [row[2] for row in table["metadata"]["display_value"]]
    assert shown == [f"{row[2]:.1%}" for row in rows[:-1]] + [""], shown
    with open(csv_path, encoding="utf-8", newline="") as f:
        saved = list(csv.reader(f))
    assert saved[0] == table["headers"]
    assert saved[1:] == [["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in row] for row in rows]


def test_classify_many_reads_a_zip_of_photos_in_memory(url, local, tmp_path):
    archive = tmp_path / "holiday.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(PHOTOS[0], PHOTOS[0].name)  # loose, at the top
        z.write(PHOTOS[1], f"day 2/{PHOTOS[1].name}")
        z.writestr("../escape.png", PHOTOS[2].read_bytes())
    table, status, _ = Client(url, verbose=False).predict(
        [handle_file(str(archive)), handle_file(str(PHOTOS[3]))], DEFAULT, api_name="/classify_many"
    )
    assert [row[0] for row in table["data"]] == [PHOTOS[0].name, PHOTOS[1].name, PHOTOS[3].name]
    assert [row[1] for row in table["data"]] == [local.predict(p)[0][0] for p in (PHOTOS[0], PHOTOS[1], PHOTOS[3])]
    assert "3 of 3 photos classified" in status and "Skipped in the zip: ../escape.png (unsafe path)" in status
    with pytest.raises(AppError, match="Add photos or a .zip of photos first"):
        Client(url, verbose=False).predict([], DEFAULT, api_name="/classify_many")


def test_a_zip_of_loose_photos_keeps_the_training_zip_limits(tmp_path):
    path = tmp_path / "loose.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.png", b"png bytes")
        z.writestr("trip/b.jpg", b"jpg bytes")
        z.writestr("trip/inner.zip", b"PK")
        z.writestr("notes.txt", b"hi")
    samples, notes = read_zip_samples(path, max_images=10, class_folders=False)
    assert {k: [f.name for f in v] for k, v in samples.items()} == {"": ["a.png"], "trip": ["b.jpg"]}
    assert [(n.code, n.name) for n in notes] == [("nested_archive", "trip/inner.zip"), ("not_image", "notes.txt")]
    samples, notes = read_zip_samples(path, max_images=10)  # the training layout is unchanged
    assert list(samples) == ["trip"] and ("no_class", "a.png") in [(n.code, n.name) for n in notes]
    with pytest.raises(DataError, match="more than 1 images"):
        read_zip_samples(path, max_images=1, class_folders=False)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("notes.txt", b"hi")
    with pytest.raises(DataError) as e:
        read_zip_samples(empty, max_images=10, class_folders=False)
    assert e.value.code == "zip_no_images"


def test_all_depths_lists_the_cached_ones_and_says_why_the_others_are_missing(url, hub_models):
    table, line = Client(url, verbose=False).predict(handle_file(str(EXAMPLE)), api_name="/classify_all_depths")
    rows = {row[0]: dict(zip(table["headers"], row)) for row in table["data"]}
    assert list(rows) == ["resnet18", "resnet50"]
    references = {"resnet18": resnet.Classifier.from_pretrained("timm/resnet18.tv_in1k"), "resnet50": resnet.Classifier.from_pretrained(DEFAULT)}
    for arch, row in rows.items():
        (label, probability), = references[arch].predict(EXAMPLE, top_k=1)
        assert row["top-1 class"] == label and row["probability"] == pytest.approx(probability, abs=2e-3)
        assert row["forward pass ms"] > 0
    # Two depths: no majority to speak of, each compared with the deepest (which agrees with itself), in words.
    assert rows["resnet50"]["agrees with"] == "the deepest"
    assert rows["resnet18"]["agrees with"] == ("the deepest" if rows["resnet18"]["top-1 class"] == rows["resnet50"]["top-1 class"] else "not the deepest")
    assert rows["resnet18"]["ImageNet top-1 %"] == 69.758 and rows["resnet50"]["ImageNet top-1 %"] == 80.858
    assert [row[3] for row in table["metadata"]["display_value"]] == [f"{row[3]:.1%}" for row in table["data"]]  # shown in percent
    assert line.startswith("2 of 5 depths answered. With two, there is no majority")
    for missing in ("timm/resnet34.tv_in1k", "timm/resnet101.tv2_in1k", "timm/resnet152.tv2_in1k"):
        assert f"{missing} is not in the local Hugging Face cache" in line


def test_agreement_is_worded_and_a_majority_needs_three_depths():
    row = {"agrees_with_majority": True, "agrees_with_deepest": False}
    assert tab._agreement(row, 3, REQUEST) == "the majority"
    assert tab._agreement({**row, "agrees_with_deepest": True}, 5, REQUEST) == "the majority and the deepest"
    assert tab._agreement({"agrees_with_majority": False, "agrees_with_deepest": False}, 3, REQUEST) == "neither"
    assert tab._agreement(row, 2, REQUEST) == "not the deepest"  # of two, the "majority" would be a tie broken by depth
    assert tab._agreement(row, 2, SimpleNamespace(session_hash="x", headers={"accept-language": "zh-CN"})) == "与最深的网络不一致"


def test_a_users_mistake_is_one_message_and_no_traceback(small, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    for call in (lambda: tab.classify(str(bad), "mine", {"mine": small}, ModelPolicy(()), request=REQUEST),
                 lambda: tab.classify(None, "mine", {"mine": small}, ModelPolicy(()), request=REQUEST),
                 lambda: tab.classify_many([], "mine", {"mine": small}, ModelPolicy(()), request=REQUEST),
                 lambda: tab.classify(str(EXAMPLE), "not/listed", {}, ModelPolicy(()), request=REQUEST)):
        with pytest.raises(gr.Error) as e:
            call()
        assert e.value.print_exception is False, e.value.message  # gradio prints a traceback for any other
    closed = SimpleNamespace(session_hash="classify-test-closed", headers={})
    session.end_session(closed)  # the page was closed while its request waited in the queue
    with pytest.raises(gr.Error, match="This page was closed") as e:
        tab.classify(str(EXAMPLE), "mine", {"mine": small}, ModelPolicy(()), request=closed)
    assert e.value.print_exception is False


def test_the_tab_says_at_page_load_why_the_default_model_cannot_answer(hub_models, monkeypatch):
    from huggingface_hub import constants

    from ui import models

    policy = ModelPolicy(("timm/resnet18.tv_in1k", "timm/resnet34.tv_in1k"))
    shared = SharedModels(load=lambda source, **kw: pytest.fail("a status check loaded a model"))
    monkeypatch.setattr(tab, "MODELS", shared)
    assert tab.model_status("timm/resnet18.tv_in1k", {}, policy, REQUEST) == ""  # cached: nothing to say
    offline = tab.model_status("timm/resnet34.tv_in1k", {}, policy, REQUEST)
    assert "runs offline (HF_HUB_OFFLINE=1)" in offline and "unset HF_HUB_OFFLINE" in offline and "HF_HOME" in offline and "--model" in offline
    assert "Try again in a minute" not in offline and os.environ["HF_HUB_CACHE"] not in offline  # no server folder named
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert "the first Classify downloads it" in tab.model_status("timm/resnet34.tv_in1k", {}, policy, REQUEST)
    for reason, advice in (("unreachable", "set HF_HUB_OFFLINE=1"), ("timeout", "Try again in a minute")):
        shared._failed["timm/resnet34.tv_in1k"] = (0.0, CheckpointError("details with /srv/folders", reason=reason))
        status = tab.model_status("timm/resnet34.tv_in1k", {}, policy, REQUEST)
        assert advice in status and "HF_HOME" in status and "/srv" not in status, status
    assert "Try again" not in models.unavailable_text("x/y", "unreachable", REQUEST)
    assert "Hub 接受了连接" in models.unavailable_text("x/y", "timeout", SimpleNamespace(session_hash="x", headers={"accept-language": "zh-CN"}))
    assert "is not a model this app offers" in tab.model_status("some/other", {}, policy, REQUEST)


def test_concurrent_requests_share_forward_passes_and_batchers_follow_the_shared_models(small, monkeypatch):
    models = SharedModels(load=lambda source, **kw: small)
    monkeypatch.setattr(batchers_module, "MODELS", models)  # the cache the batchers follow
    batchers = batchers_module.SharedBatchers()
    batchers.configure(max_batch=4, max_wait_ms=1000)
    sizes = []
    real = small.classify_prepared
    monkeypatch.setattr(small, "classify_prepared", lambda prepared, **kw: sizes.append(len(prepared)) or real(prepared, **kw))
    photos = PHOTOS[:4]
    start = threading.Barrier(len(photos))
    classifier = models.get("shared")

    def call(photo):
        start.wait()
        return batchers.classify("shared", classifier, photo)

    with ThreadPoolExecutor(len(photos)) as pool:
        predictions = list(pool.map(call, photos))
    assert sizes == [4]  # gathered into one pass, not one pass each
    for photo, prediction in zip(photos, predictions):
        direct = real([small.prepare(photo)])[0]
        assert [n for n, _ in prediction.top] == [n for n, _ in direct.top] and np.array_equal(pixels(prediction.overlay), pixels(direct.overlay))
    assert batchers.open_count() == 1
    models.configure(max_loaded=1, pinned=[])
    before = {t for t in threading.enumerate() if t.name == "MicroBatcher"}
    models.get("other")  # the shared model is dropped from the cache: its batcher closes after the next request
    batchers.classify("other", models.get("other"), PHOTOS[0])
    after = {t for t in threading.enumerate() if t.name == "MicroBatcher"}
    assert batchers.open_count() == 1 and models.loaded() == ["other"] and before - after and len(after - before) == 1
    with pytest.raises(ValueError, match="max_batch must be 0 .*got -1"):
        batchers.configure(max_batch=-1)
    batchers.configure(max_batch=0)  # off: the classifier's own call, no batcher
    assert np.array_equal(pixels(batchers.classify("x", small, PHOTOS[0]).overlay), pixels(small.classify(PHOTOS[0]).overlay))
    assert batchers_module.auto_batch(torch.device("cuda")) == 8 and batchers_module.auto_batch(torch.device("cpu")) == 0


def test_micro_batching_from_the_command_line(hub_models):
    import app
    from tests.server import AppServer

    try:  # the flag reaches the tab; left out, a CPU serves each request on its own
        app.build_demo(classify_batch=4)
        assert batchers_module.BATCHERS.max_batch == 4
        app.build_demo()
        assert batchers_module.BATCHERS.max_batch == batchers_module.auto_batch(default_device()) == 0
    finally:
        batchers_module.BATCHERS.configure(max_batch=0)
    with AppServer("--model", "timm/resnet18.tv_in1k", "--classify-batch", "4") as url:
        clients = [Client(url, verbose=False) for _ in PHOTOS[:4]]  # other photos: the clients download to one folder per picture
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda c, p: c.predict(handle_file(str(p)), "timm/resnet18.tv_in1k", api_name="/classify"), clients, PHOTOS))
    local = resnet.Classifier.from_pretrained("timm/resnet18.tv_in1k")
    for (label, overlay, _), photo in zip(answers, PHOTOS):
        expected = local.classify(photo)
        assert label["label"] == expected.top[0][0]
        assert_same_picture(overlay, expected.overlay)
