import io
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import resnet
from resnet import Classifier
from resnet.checkpoints.config import CheckpointError, ModelConfig
from resnet.devices import default_device
from resnet.predict import compare_checkpoints
from resnet.transforms import ImageError, eval_transform, load_image
from tests.conftest import ROOT
from tests.textures import patches

PHOTOS = ("chelsea.png", "rocket.jpg", "coffee.png", "camera.png", "coins.png")  # also in examples/


@pytest.fixture(scope="module")
def clf(hub_models):
    return Classifier.from_pretrained("timm/resnet50.tv2_in1k", device="cpu")


def test_predict_on_real_photos_is_well_formed(clf, photos_dir):
    for name in PHOTOS:
        top = clf.predict(photos_dir / name, top_k=5)
        assert len(top) == 5
        labels, probs = zip(*top)
        assert all(label in clf.labels for label in labels) and len(set(labels)) == 5
        assert list(probs) == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6


def test_predict_matches_softmax_of_logits(clf, photos_dir):
    x = clf.preprocess(photos_dir / "chelsea.png")[None]
    probs = clf.logits(x).softmax(1)[0]
    top = clf.predict(photos_dir / "chelsea.png", top_k=3)
    assert [label for label, _ in top] == [clf.labels[i] for i in probs.topk(3).indices]
    assert top[0][1] == pytest.approx(float(probs.max()), abs=1e-6)


def test_predict_batch_equals_single_predictions(clf, photos_dir):
    images = [photos_dir / n for n in PHOTOS[:3]]
    batch = clf.predict_batch(images, top_k=3)
    for image, row in zip(images, batch):
        single = clf.predict(image, top_k=3)
        assert [l for l, _ in row] == [l for l, _ in single]
        np.testing.assert_allclose([p for _, p in row], [p for _, p in single], atol=1e-5)
    assert clf.predict_batch([]) == []


def test_predict_is_safe_from_several_threads(clf, photos_dir):
    images = [photos_dir / n for n in PHOTOS]
    expected = [clf.predict(image, top_k=3) for image in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: clf.predict(images[i % len(images)], top_k=3), range(24)))
    for i, result in enumerate(results):
        assert [l for l, _ in result] == [l for l, _ in expected[i % len(images)]]


def reference_grad_cam(model: torch.nn.Module, x: torch.Tensor, index: int) -> torch.Tensor:
    """Textbook Grad-CAM with hooks on layer4, written independently of resnet.predict."""
    store = {}
    h1 = model.layer4.register_forward_hook(lambda m, i, o: store.update(act=o))
    h2 = model.layer4.register_full_backward_hook(lambda m, gi, go: store.update(grad=go[0]))
    try:
        model.zero_grad()
        model(x)[0, index].backward()
    finally:
        h1.remove(), h2.remove()
    weights = store["grad"].mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * store["act"]).sum(1))[0].detach()
    return cam / cam.max()


def test_explain_matches_textbook_grad_cam(hub_models, photos_dir):
    clf = Classifier.from_pretrained("timm/resnet18.tv_in1k", device="cpu", fast=False)
    x = clf.preprocess(photos_dir / "chelsea.png")[None]
    explanation = clf.explain(photos_dir / "chelsea.png")
    top_label, top_prob = clf.predict(photos_dir / "chelsea.png", top_k=1)[0]
    assert explanation.label == top_label and explanation.probability == pytest.approx(top_prob, abs=1e-5)
    expected = reference_grad_cam(hub_models["timm/resnet18.tv_in1k"], x, explanation.index)
    np.testing.assert_allclose(explanation.heatmap, expected.numpy(), atol=1e-4)


def test_explain_output_and_targets(clf, photos_dir):
    e = clf.explain(photos_dir / "rocket.jpg", target="goldfish")
    assert e.label == "goldfish" and e.index == 1
    assert isinstance(e.overlay, Image.Image) and e.overlay.size == (224, 224) and e.overlay.mode == "RGB"
    assert e.heatmap.shape == (7, 7) and e.heatmap.min() >= 0 and e.heatmap.max() == pytest.approx(1.0)
    assert clf.explain(photos_dir / "rocket.jpg", target=1).index == 1
    with pytest.raises(ValueError, match="unknown label 'unicorn'"):
        clf.explain(photos_dir / "rocket.jpg", target="unicorn")
    with pytest.raises(ValueError, match="out of range"):
        clf.explain(photos_dir / "rocket.jpg", target=1000)


def test_explain_answers_for_its_own_photo_when_another_explain_runs_halfway_through(clf, photos_dir):
    # explain keeps what it computes to itself (one forward pass, no hooks, no backward: resnet.cam), so a
    # second explain that runs while the first is halfway, as another thread's may, changes neither answer,
    # and neither moves a weight, a BatchNorm statistic or a mode. (That it never runs backward is test_cam's.)
    network = clf.fast or clf.model
    first, second = photos_dir / "chelsea.png", photos_dir / "rocket.jpg"
    expected = clf.explain(first, target=1), clf.explain(second, target=2)
    state = {k: v.clone() for k, v in network.state_dict().items()}
    modes = [m.training for m in network.modules()]
    inner = []

    def meanwhile(module, inputs, output):  # the first photo's features are computed, its answer is not
        if not inner:
            inner.append(None)  # set first: the second explain's own pass comes through this hook too
            inner[0] = clf.explain(second, target=2)

    handle = network.fc.register_forward_hook(meanwhile)
    try:
        outer = clf.explain(first, target=1)
    finally:
        handle.remove()
    for got, want in ((outer, expected[0]), (inner[0], expected[1])):
        assert got.label == want.label and got.probability == pytest.approx(want.probability, abs=1e-6)
        np.testing.assert_allclose(got.heatmap, want.heatmap, atol=1e-6)
    assert [m.training for m in network.modules()] == modes and not clf.model.training
    assert all(torch.equal(value, state[key]) for key, value in network.state_dict().items())


def test_device_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert default_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert default_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == torch.device("cuda")  # CUDA first, then MPS, then the CPU
    monkeypatch.undo()
    model = resnet.build("resnet18", num_classes=2)
    assert Classifier(model, ModelConfig("resnet18", ("a", "b")), device="cpu").device == torch.device("cpu")
    with pytest.raises(ValueError, match="3 labels"):
        Classifier(model, ModelConfig("resnet18", ("a", "b", "c")))


def test_command_line_predict(hub_models, photos_dir):
    out = subprocess.run(
        [sys.executable, "-m", "resnet", "predict", str(photos_dir / "chelsea.png"), "--model", "timm/resnet18.tv_in1k", "--top-k", "3"],
        capture_output=True, text=True, cwd=ROOT, env=os.environ.copy(), timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].endswith("chelsea.png") and len(lines) == 4 and "%" in lines[1]
    missing = subprocess.run(
        [sys.executable, "-m", "resnet", "predict", str(photos_dir / "chelsea.png"), "--model", "timm/resnet34.nowhere"],
        capture_output=True, text=True, cwd=ROOT, env=os.environ.copy(), timeout=120,
    )
    assert missing.returncode == 2 and "HF_HUB_OFFLINE" in missing.stderr


def test_camera_sized_jpegs_predict_as_a_full_decode_does(texture_model):
    # Classifier decodes large JPEGs at a reduced scale; on a trained model the predictions must not change.
    clf = Classifier.from_pretrained(texture_model, device="cpu")
    transform = eval_transform(clf.config.preprocessing)
    correct = 0
    for name, images in patches("val", 4, seed=13).items():
        for image in images:
            buffer = io.BytesIO()
            image.resize((2016, 2016), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)  # a held-out patch, camera-sized
            data = buffer.getvalue()
            full_input = transform(load_image(data))
            assert not torch.equal(clf.preprocess(data), full_input)  # the reduced decode is in use
            label, probability = clf.predict(data, top_k=1)[0]
            reduced = clf.logits(clf.preprocess(data)[None]).softmax(1)[0]
            full = clf.logits(full_input[None]).softmax(1)[0]
            assert (label, probability) == (clf.labels[int(reduced.argmax())], pytest.approx(float(reduced.max())))
            assert float((reduced - full).abs().max()) <= 0.05  # every class's probability, not only the top one
            runner_up, top = full.topk(2).values.tolist()[::-1]
            if top - runner_up > 0.1:  # a clear decision must not change; a near tie may
                assert label == clf.labels[int(full.argmax())]
            correct += label == name
    assert correct >= 9  # of 12: a model that knows these textures, so agreeing means something


def test_top_k_outside_the_classes_is_refused_not_clamped():
    clf = Classifier(resnet.build("resnet18", num_classes=3), ModelConfig("resnet18", ("a", "b", "c")), device="cpu")
    image = Image.new("RGB", (64, 64), "red")
    assert len(clf.predict(image)) == 3 and len(clf.predict(image, top_k=2)) == 2  # the default: 5, or all classes if fewer
    for bad in (0, 4):
        with pytest.raises(ValueError, match=f"top_k must be between 1 and 3 .*got {bad}"):
            clf.predict(image, top_k=bad)


def test_explain_refuses_a_bad_target_before_running_the_network(clf, photos_dir, monkeypatch):
    def no_network(x):
        raise AssertionError("the network ran for a target that does not exist")

    monkeypatch.setattr(clf.fast, "forward_features", no_network)
    for bad in ("unicorn", 1000, -1):
        with pytest.raises(ValueError, match="unknown label|out of range"):
            clf.explain(photos_dir / "rocket.jpg", target=bad)


def test_compare_checkpoints_runs_each_that_loads_and_says_why_the_others_do_not(hub_models, photos_dir):
    loaded = {}

    def load(source):
        if source not in loaded:
            loaded[source] = Classifier.from_pretrained(source, device="cpu")
        return loaded[source]

    sources = {"ResNet-18": "timm/resnet18.tv_in1k", "ResNet-34": "timm/resnet34.tv_in1k", "ResNet-50": "timm/resnet50.tv2_in1k",
               "ResNet-50 (transformers)": "microsoft/resnet-50"}
    rows = compare_checkpoints(photos_dir / "chelsea.png", sources, load=load)
    assert [(row["name"], row["source"]) for row in rows] == list(sources.items())
    r18, r34, r50, hf50 = rows
    assert r34["reason"] == "not_cached" and "resnet34" in r34["error"]  # offline, and not in the test cache
    assert all(r34[key] is None for key in ("arch", "label", "probability", "forward_ms", "agrees_with_majority", "agrees_with_deepest"))
    assert (r18["imagenet_top1"], r34["imagenet_top1"], r50["imagenet_top1"], hf50["imagenet_top1"]) == (69.758, 73.314, 80.858, None)
    for row, arch in ((r18, "resnet18"), (r50, "resnet50"), (hf50, "resnet50")):
        label, probability = loaded[row["source"]].predict(photos_dir / "chelsea.png", top_k=1)[0]
        assert (row["arch"], row["label"], row["reason"], row["error"]) == (arch, label, None, None)
        assert row["probability"] == pytest.approx(probability, abs=1e-5) and row["forward_ms"] > 0
        assert row["agrees_with_deepest"] == (label == r50["label"])  # the first ResNet-50 listed is the deepest


def constant_classifier(arch: str, answer: str) -> Classifier:
    """A classifier over ("a", "b", "c") whose logits are fixed by the fc bias: ``answer`` always wins."""
    labels = ("a", "b", "c")
    model = resnet.build(arch, num_classes=3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.tensor([5.0 if label == answer else 0.0 for label in labels]))
    return Classifier(model, ModelConfig(arch, labels), device="cpu", fast=False)


def test_compare_checkpoints_agreement_majority_and_deepest(photos_dir):
    says_a, deep_says_b = constant_classifier("resnet18", "a"), constant_classifier("resnet34", "b")

    def load(source):
        if source == "gone":
            raise CheckpointError("no such repo", reason="not_found")
        return {"x": says_a, "y": says_a, "z": deep_says_b}[source]

    rows = compare_checkpoints(photos_dir / "coins.png", {"one": "x", "two": "y", "deep": "z", "missing": "gone"}, load=load)
    assert [(r["label"], r["agrees_with_majority"], r["agrees_with_deepest"]) for r in rows] == [
        ("a", True, False), ("a", True, False), ("b", False, True), (None, None, None)]
    assert rows[3]["reason"] == "not_found" and rows[0]["probability"] == pytest.approx(np.exp(5) / (np.exp(5) + 2))
    tie = compare_checkpoints(photos_dir / "coins.png", {"one": "x", "deep": "z"}, load=load)
    assert [r["agrees_with_majority"] for r in tie] == [False, True]  # one vote each: the deepest's answer counts as the majority
    with pytest.raises(ImageError):
        compare_checkpoints(b"not an image", {"one": "x"}, load=load)
