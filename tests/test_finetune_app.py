"""The fine-tune loop closed, through the API of a real server: stop, the mistakes, and an export that predicts the same."""

import dataclasses
import json
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status

from resnet.devices import default_device, fast_dtype
from tests.server import AppServer
from train.data import stratified_split
from train.finetune import overfitting
from train.presets import finetune_defaults

MODEL = "timm/resnet18.tv_in1k"
SCRATCH = "resnet18 (from scratch: works offline)"


@pytest.fixture(scope="module")
def served(hub_models):
    with AppServer("--model", MODEL) as url:
        yield url


def sample_args(client: Client, per_class: int) -> list:
    slots = client.predict(api_name="/sample_set")
    return [value for name, files in zip(slots[0::2], slots[1::2]) for value in (name, [handle_file(f) for f in files[:per_class]] if files else None)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime, stime in clock ticks (100 per second on Linux)


def wait_until_idle(pid: int, within: float) -> float:
    """Seconds until the process uses under 10% of a core over half a second; fails after ``within`` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.05:
            return time.monotonic() - start
    pytest.fail(f"the server still used the CPU {within} s after the fine-tune was stopped")


def first_epoch(job, timeout: float = 120) -> str:
    """The status line of the job's first epoch, once it has one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if job.outputs():
            return job.outputs()[0][1]
        time.sleep(0.2)
    pytest.fail("no epoch finished")


def test_stop_and_cancel_end_the_training_and_free_the_queue(hub_models):
    server = AppServer("--model", MODEL)
    with server as url:
        pid = server.proc.pid
        client = Client(url, verbose=False)
        args = sample_args(client, per_class=16)
        # The Stop button's endpoint: the loop ends at its next step and says where.
        job = client.submit(SCRATCH, "full", 40, 0.002, None, *args, api_name="/finetune")
        assert first_epoch(job).startswith("Epoch 1/40")
        said = client.predict(api_name="/stop_finetune")
        assert re.fullmatch(r"Stopped after \d+ of 40 epochs: .*no model was kept\..*", said), said
        curve, status, *_ = job.result(timeout=60)
        assert status.startswith("Stopped after") and len(curve["data"]) >= 1
        wait_until_idle(pid, within=5)
        assert client.predict(api_name="/stop_finetune") == "Nothing is training in this browser session."
        # A cancelled event (what the button does too, and what leaving the page does) stops the thread behind it.
        job = client.submit(SCRATCH, "full", 40, 0.002, None, *args, api_name="/finetune")
        first_epoch(job)
        assert job.cancel()
        wait_until_idle(pid, within=5)
        # The training slot is free at once: the next fine-tune starts instead of waiting in the queue.
        job = client.submit(SCRATCH, "head", 2, 0.003, None, *args, api_name="/finetune")
        running = (Status.PROCESSING, Status.PROGRESS, Status.LOG, Status.ITERATING, Status.FINISHED)  # LOG: its warning (random weights)
        deadline = time.monotonic() + 5
        while job.status().code not in running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job.status().code in running, job.status()
        assert job.result(timeout=120)[1].startswith("Done: **fine-tuned 1: brick, grass, gravel**")


@pytest.fixture(scope="module")
def tuned(served):
    """One fine-tune from the test Hub's resnet18 on 6 photos of each sample class: its outputs, and the client that ran it."""
    client = Client(served, verbose=False)
    slots = client.predict(api_name="/sample_set")
    result = client.predict(MODEL, "head", 6, 0.003, None, *[v for n, f in zip(slots[0::2], slots[1::2]) for v in (n, [handle_file(x) for x in f[:6]] if f else None)], api_name="/finetune")
    return client, slots, result


def test_the_gallery_holds_each_held_out_mistake_counted_by_hand(tuned):
    client, slots, (curve, status, per_class, confusion, download, picker, pair, gallery, accuracy) = tuned
    labels = [name for name in slots[0::2] if name]
    # The held-out split is train.data.stratified_split's (20%, seed 0) over the classes in order, 6 images each.
    targets = [i for i in range(len(labels)) for _ in range(6)]
    _, held_out = stratified_split(targets, 0.2, 0)
    per_label = {label: sum(targets[i] == k for i in held_out) for k, label in enumerate(labels)}
    accuracy = dict(per_class["data"])
    wrong = {label: round((1 - accuracy[label]) * per_label[label]) for label in labels}
    captions = [item["caption"] for item in gallery["value"]]  # an update: the gallery's heading changes with what it shows
    if sum(wrong.values()) == 0:  # no mistake: the least sure answers, captioned with their class alone
        assert captions and all(re.fullmatch(r"(brick|grass|gravel) \d+%", c) for c in captions)
        return
    assert len(captions) == sum(wrong.values()) and pair["choices"][0] == [f"all ({len(captions)})", "all"]
    for label, count in wrong.items():
        assert sum(c.startswith(f"{label} → ") for c in captions) == count, (label, captions)
    # Choosing a pair (or clicking its cell) shows those only; a pair that is not there is refused (by gradio's dropdown).
    (shown, value), *_ = pair["choices"][1:]
    only = client.predict(value, api_name="/mistakes")["value"]
    true, predicted = value.split(" → ")
    assert len(only) == int(shown.rsplit("(", 1)[1][:-1]) and all(i["caption"].startswith(f"{true} → {predicted} ") for i in only)
    with pytest.raises(AppError, match="is not in the list of choices"):
        client.predict("nothing → nowhere", api_name="/mistakes")


def test_the_download_runs_with_onnxruntime_and_gives_the_apps_top5(tuned, tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -r requirements-dev.txt)")
    client, slots, (_, status, *_rest) = tuned
    download, picker = _rest[2], _rest[3]
    with zipfile.ZipFile(download["value"]) as archive:
        assert {"model.onnx", "preprocessing.json", "config.json", "model.safetensors", "README.md"} <= set(archive.namelist())
        archive.extractall(tmp_path)
    card = (tmp_path / "README.md").read_text()
    snippet = re.search(r"```python\n(import json.*?)\nprint\(top5", card, re.S).group(1)  # the card's code, as a user copies it
    namespace: dict = {}
    exec(snippet, namespace)
    name = picker["value"]
    # The fast path computes in bf16 where the CPU has it: there the probabilities agree to 2e-2, else to 1e-3 (the bound).
    tolerance = 1e-3 if fast_dtype(default_device()) == torch.float32 else 2e-2
    photos = [f for files in slots[1::2] if files for f in files[6:9]]  # images the fine-tune never saw
    for photo in photos:
        app_top, _, _ = client.predict(handle_file(photo), name, api_name="/classify")
        theirs = namespace["top5"](photo, str(tmp_path))
        ours = [(c["label"], c["confidence"]) for c in app_top["confidences"]]
        assert [label for label, _ in theirs] == [label for label, _ in ours], photo
        assert np.allclose([p for _, p in theirs], [p for _, p in ours], atol=tolerance), (photo, theirs, ours)


def test_data_checks_are_said_in_the_visitors_language(served):
    english, chinese = Client(served, verbose=False), Client(served, verbose=False, headers={"Accept-Language": "zh-CN"})
    slots = english.predict(api_name="/sample_set")
    brick, grass = [handle_file(f) for f in slots[1][:4]], [handle_file(slots[3][0])]
    args = (SCRATCH, "head", 1, 0.003, None, "brick", brick, "grass", grass, None, None, None, None)
    with pytest.raises(AppError, match=r"The images cannot be trained on yet: class 'grass' has 1 image\(s\); it needs at least 2"):
        english.predict(*args, api_name="/finetune")
    with pytest.raises(AppError, match=r"这些图片还不能用来训练：类别 'grass' 只有 1 张图片；至少需要 2 张"):
        chinese.predict(*args, api_name="/finetune")


def test_any_way_up_is_the_users_choice_and_is_recorded_in_the_download(served):
    client = Client(served, verbose=False)
    args = sample_args(client, per_class=3)
    result = client.predict(SCRATCH, "head", 1, 0.003, None, *args, True, api_name="/finetune")
    with zipfile.ZipFile(result[4]["value"]) as archive:
        assert json.loads(archive.read("config.json"))["training"]["rotate90"] is True
    result = client.predict(SCRATCH, "head", 1, 0.003, None, *args, api_name="/finetune")  # left out: upright only
    with zipfile.ZipFile(result[4]["value"]) as archive:
        assert json.loads(archive.read("config.json"))["training"]["rotate90"] is False


def test_from_scratch_with_the_pages_defaults_learns_and_plots_accuracy_on_its_own_axis(served):
    """Issue #30 item 2: picking the offline start sets what the page trains with; those settings learn the sample set."""
    client = Client(served, verbose=False)
    strategy, epochs, lr = client.predict(SCRATCH, api_name="/start_defaults")
    assert (strategy, epochs, lr) == ("full", finetune_defaults("resnet18", "full")["epochs"], finetune_defaults("resnet18", "full")["lr"])
    assert tuple(client.predict("full", SCRATCH, api_name="/strategy_defaults")) == (epochs, lr)  # choosing Everything again keeps the recipe
    assert client.predict(MODEL, api_name="/start_defaults")[0] == "head"
    loss, status, per_class, *_, accuracy = client.predict(SCRATCH, strategy, epochs, lr, None, *sample_args(client, per_class=16), api_name="/finetune")
    held_out = float(re.search(r"Held-out accuracy (\d+)%", status).group(1)) / 100
    assert held_out >= 0.8, status  # chance is 1/3
    assert "With random weights" not in status
    # Loss and accuracy on charts of their own, per whole epoch: "1", "2", ... in order.
    assert {row[2] for row in loss["data"]} == {"train loss", "held-out loss"}
    assert {row[2] for row in accuracy["data"]} == {"training (running, augmented)", "held-out (end of epoch)"}
    assert [row[0] for row in accuracy["data"][::2]] == [str(e) for e in range(1, epochs + 1)]
    assert all(0 <= row[1] <= 1 for row in accuracy["data"])


def test_a_frozen_random_backbone_is_trained_but_said_in_the_visitors_language(served):
    """Head only on random weights: the page says what to expect (both languages), and names the model in the sentence's language."""
    english, chinese = Client(served, verbose=False), Client(served, verbose=False, headers={"Accept-Language": "zh-CN"})
    args = sample_args(english, per_class=3)
    job = english.submit(SCRATCH, "head", 1, 0.003, None, *args, api_name="/finetune")
    status = job.result(timeout=180)[1]
    assert status.startswith("Done: ") and "With random weights, “Head only (fast)” trains a classifier on random features" in status, status
    # After the last epoch each step of the remaining work is named (item 5), in order.
    said = [update[1] for update in job.outputs()]
    steps = [s for s in said if s.startswith(("Finding the held-out mistakes", "Packaging the download"))]
    assert steps == ["Finding the held-out mistakes and drawing their Grad-CAM maps...", "Packaging the download (checkpoint and ONNX)..."], said
    status = chinese.predict(SCRATCH, "head", 1, 0.003, None, *args, api_name="/finetune")[1]
    assert status.startswith("完成：**微调模型 1：brick, grass, gravel**") and "从随机权重出发选择“只训练分类头" in status, status
    assert "fine-tuned" not in status


def test_the_overfitting_sentence_and_the_gallery_heading_say_what_is_shown(tmp_path):
    from PIL import Image

    from ui.tabs.finetune import curves, mistakes

    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")

    fits = [{"epoch": 1, "train_loss": 0.1, "train_top1": 1.0, "val_loss": 2.0, "val_top1": 0.6}]
    assert overfitting(fits) == (1.0, 0.6) and overfitting([{**fits[0], "val_top1": 0.85}]) is None
    assert curves.fit_note(fits, "en").startswith("It fits its training images far better than the held-out ones (100% against 60%)")
    assert curves.fit_note(fits, "zh-CN").startswith("它对训练图片的拟合远好于留出图片（100% 对 60%）")
    right = {"labels": ["a", "b"], "items": [mistakes.Kept(str(tmp_path / "x.png"), true="a", predicted="a", probability=0.55, correct=True)]}
    shown = mistakes.gallery(right, mistakes.ALL, "en")
    assert shown.label.startswith("No mistakes: ") and shown.columns == mistakes.MIN_COLUMNS
    wrong = {"labels": ["a", "b"], "items": [dataclasses.replace(right["items"][0], predicted="b", correct=False)]}
    assert mistakes.gallery(wrong, mistakes.ALL, "en").label.startswith("Held-out images the model got wrong")


def test_offline_without_the_default_model_the_page_starts_from_scratch(hub_models):
    # The README's offline first visit: the default checkpoint is not in the cache and the Hub is off, so the
    # page's own defaults must be a start that trains (from scratch, its recipe), said in the visitor's language.
    from ui.tabs.finetune.tab import offline_start, start_defaults
    from ui.tabs.finetune.training import FROM_SCRATCH

    changes = offline_start("timm/resnet50.not_in_this_cache", "zh-CN")
    source, strategy, epochs, lr, said = (changes[name] for name in ("source", "strategy", "epochs", "lr", "status"))
    assert (source, strategy, epochs, lr) == (FROM_SCRATCH, *start_defaults(FROM_SCRATCH))
    assert strategy == "full" and "从零训练" in said and "timm/resnet50.not_in_this_cache" in said
    assert offline_start("timm/resnet18.tv_in1k") == {}  # cached: the page keeps its defaults
