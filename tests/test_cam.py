"""One pass: ``Classifier.classify``'s class activation maps equal Grad-CAM computed by a backward pass."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

import resnet.predict
from resnet import Classifier
from resnet.cam import class_activation_map, class_index, overlay
from resnet.checkpoints.hub import load_checkpoint
from tests.test_predict import reference_grad_cam
from tests.textures import texture_photos


def two_texture_photos() -> list[Image.Image]:
    """256x256 photos, the left half of one texture and the right half of another (held-out bottom halves)."""
    photos = texture_photos()
    names = sorted(photos)
    out = []
    for left, right in [(a, b) for a in names for b in names if a != b]:
        photo = Image.new("RGB", (256, 256))
        photo.paste(photos[left].crop((0, 256, 128, 512)), (0, 0))
        photo.paste(photos[right].crop((256, 256, 384, 512)), (128, 0))
        out.append(photo)
    return out


@pytest.fixture(scope="module")
def trained(texture_model):
    """The texture ResNet-18 at crop 192 (a 6x6 map; its textures at about the scale it was trained at) and its fp32 network."""
    model, config = load_checkpoint(str(texture_model))
    preprocessing = replace(config.preprocessing, crop_size=192, resize_size=192)
    config = replace(config, preprocessing=preprocessing)
    return Classifier(model, config, device="cpu"), Classifier(model, config, device="cpu", fast=False)


def test_classify_cam_equals_backward_grad_cam_on_a_trained_model(trained, photos_dir):
    fast, exact = trained
    photos = two_texture_photos() + [Image.open(photos_dir / name) for name in ("chelsea.png", "coffee.png")]
    for photo in photos:
        x = exact.preprocess(photo)[None]
        prediction, exact_prediction = fast.classify(photo), exact.classify(photo)
        assert prediction.index == int(exact.logits(x).argmax())  # the fast path's answer is the fp32 network's
        second = int(torch.from_numpy(prediction.probabilities).topk(2).indices[1])
        for index, cam in ((prediction.index, prediction.cam), (second, prediction.cam_for(second)[0])):
            expected = reference_grad_cam(exact.model, x, index).numpy()
            assert cam.shape == expected.shape == (6, 6)
            assert np.corrcoef(cam.ravel(), expected.ravel())[0, 1] >= 0.99
            # The hottest cell: where the reference has a near-tie (the fast path computes in bf16 where the CPU
            # has it, and any rounding, e.g. BatchNorm folding's, may tip it), the fast path's pick is within 2 % of
            # the reference's range of its maximum.
            picked = expected[np.unravel_index(cam.argmax(), cam.shape)]
            assert picked >= expected.max() - 0.02 * (expected.max() - expected.min()), (picked, expected.max())
            # On the fp32 path the two are the same numbers, up to rounding.
            np.testing.assert_allclose(exact_prediction.cam_for(index)[0], expected, atol=1e-5)


def test_the_map_points_at_the_texture_it_names(trained):
    fast, _ = trained
    hits = 0
    for photo in two_texture_photos():
        prediction = fast.classify(photo)
        left, right = prediction.cam[:, :3].sum(), prediction.cam[:, 3:].sum()
        left_label = fast.classify(photo.crop((0, 0, 128, 256)).resize((256, 256))).top[0][0]
        hits += (left > right) == (prediction.top[0][0] == left_label)
    assert hits >= 5  # of 6: the map is on the half whose texture the top class names


def test_classify_runs_the_network_once_decodes_once_and_never_backward(trained, photos_dir, monkeypatch):
    fast, _ = trained
    calls = {"features": 0, "decode": 0}
    forward_features = fast.fast.forward_features
    load_image = resnet.predict.load_image

    def counting_features(x):
        calls["features"] += 1
        return forward_features(x)

    def counting_decode(*args, **kwargs):
        calls["decode"] += 1
        return load_image(*args, **kwargs)

    def no_backward(*args, **kwargs):
        raise AssertionError("classify ran a backward pass")

    monkeypatch.setattr(fast.fast, "forward_features", counting_features)
    monkeypatch.setattr(resnet.predict, "load_image", counting_decode)
    for name in ("backward", "grad"):
        monkeypatch.setattr(torch.autograd, name, no_backward)
    monkeypatch.setattr(torch.Tensor, "backward", no_backward)

    photo = photos_dir / "rocket.jpg"
    prediction = fast.classify(photo, top_k=3)
    assert calls == {"features": 1, "decode": 1}
    for target in range(3):
        heatmap, picture = prediction.cam_for(target)
        assert heatmap.shape == (6, 6) and picture.size == (192, 192)
    assert fast.explain(photo, target=2).heatmap.shape == (6, 6)
    assert calls == {"features": 2, "decode": 2}  # cam_for ran nothing; explain is one more single pass
    monkeypatch.undo()
    top = fast.predict(photo, top_k=3)
    assert [label for label, _ in prediction.top] == [label for label, _ in top]
    np.testing.assert_allclose([p for _, p in prediction.top], [p for _, p in top], atol=1e-6)


def test_prediction_fields(trained, photos_dir):
    fast, _ = trained
    prediction = fast.classify(photos_dir / "chelsea.png", top_k=2)
    assert len(prediction.top) == 2 and prediction.top[0][0] == fast.labels[prediction.index]
    assert prediction.probabilities.shape == (3,) and prediction.probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert prediction.cam.min() >= 0 and prediction.cam.max() == pytest.approx(1.0)
    assert prediction.overlay.size == prediction.view.size == (192, 192) and prediction.overlay.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(prediction.overlay), np.asarray(overlay(prediction.view, prediction.cam)))
    label = fast.labels[(prediction.index + 1) % 3]
    by_label, by_index = prediction.cam_for(label), prediction.cam_for(fast.labels.index(label))
    np.testing.assert_array_equal(by_label[0], by_index[0])
    with pytest.raises(ValueError, match="unknown label 'unicorn'"):
        prediction.cam_for("unicorn")
    with pytest.raises(ValueError, match="out of range"):
        prediction.cam_for(3)


def test_class_activation_map_by_hand():
    features = torch.tensor([[[1.0, 2.0], [0.0, -1.0]], [[0.0, 1.0], [3.0, 0.0]]])  # (C=2, H=2, W=2)
    weight = torch.tensor([1.0, -1.0])
    # 1*F0 - 1*F1 = [[1, 1], [-3, -1]] -> ReLU -> [[1, 1], [0, 0]], already at most 1.
    np.testing.assert_array_equal(class_activation_map(features, weight), [[1, 1], [0, 0]])
    np.testing.assert_array_equal(class_activation_map(features, torch.tensor([0.5, 0.0])), [[0.5, 1], [0, 0]])
    assert not class_activation_map(features, torch.tensor([0.0, -1.0])).any()  # nothing positive: zeros, not NaN
    with pytest.raises(ValueError, match=r"\(2, 2, 2\) and \(3,\)"):
        class_activation_map(features, torch.ones(3))
    assert class_index("b", ("a", "b")) == 1 and class_index(1, ("a", "b")) == 1


def test_overlay_blends_by_alpha():
    view = Image.new("RGB", (8, 8), (10, 200, 30))
    heatmap = np.zeros((2, 2), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(overlay(view, heatmap, alpha=0.0)), np.asarray(view))
    # alpha 1 at 0 shows the colour map's blue end: (0, 0, 0.5) -> (0, 0, 128).
    assert overlay(view, heatmap, alpha=1.0).getpixel((3, 3)) == (0, 0, 128)
    with pytest.raises(ValueError, match="alpha must be between 0 and 1, got 2"):
        overlay(view, heatmap, alpha=2)
