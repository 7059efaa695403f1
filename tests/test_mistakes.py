"""The held-out mistakes gallery: its contents against a hand count made with Classifier.predict."""

import math

import numpy as np
import pytest
import torch

import resnet
import train
from resnet.checkpoints.config import ModelConfig
from resnet.transforms import Preprocessing
from tests.textures import patches
from train.mistakes import filter_mistakes, held_out_mistakes


@pytest.fixture(scope="module")
def textures(texture_model) -> resnet.Classifier:
    return resnet.Classifier.from_pretrained(texture_model, device="cpu")


def fixed_answer_classifier() -> resnet.Classifier:
    """A classifier whose head ignores the image: logits (0, 3, 0), so it always says "b" with p = e^3 / (e^3 + 2)."""
    model = resnet.build("resnet18", num_classes=3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.tensor([0.0, 3.0, 0.0]))
    config = ModelConfig("resnet18", ("a", "b", "c"), Preprocessing(crop_size=32, resize_size=36))
    return resnet.Classifier(model, config, device="cpu", fast=False)


def test_a_classifier_that_always_says_b_gets_every_other_image_wrong():
    clf = fixed_answer_classifier()
    images = patches("val", 2, size=48)
    held_out = {"a": images["brick"], "b": images["grass"][:1], "c": images["gravel"]}
    mistakes = held_out_mistakes(clf, held_out)
    sure, other = math.exp(3) / (math.exp(3) + 2), 1 / (math.exp(3) + 2)
    assert [(m.true, m.predicted, m.correct) for m in mistakes] == [("a", "b", False)] * 2 + [("c", "b", False)] * 2  # ties keep their order
    assert all(m.probability == pytest.approx(sure, abs=1e-6) and m.true_probability == pytest.approx(other, abs=1e-6) for m in mistakes)
    assert [m.image for m in mistakes] == [*held_out["a"], *held_out["c"]]
    assert all(m.overlay.size == (32, 32) for m in mistakes)


def test_each_held_out_image_takes_one_forward_pass():
    # One classify call gives the answer and its Grad-CAM: no second pass for the images shown.
    clf = fixed_answer_classifier()
    passes = []
    clf.model.layer4.register_forward_hook(lambda module, args, output: passes.append(len(output)))
    images = patches("val", 2, size=48)
    mistakes = held_out_mistakes(clf, {"a": images["brick"], "b": images["grass"], "c": images["gravel"]})
    assert len(mistakes) == 4 and passes == [1] * 6


def test_gallery_lists_what_predict_gets_wrong_most_confident_first(textures):
    val = patches("val", 6, seed=3)
    # Labels swapped on purpose: brick patches filed as grass and grass as brick.
    held_out = {"brick": val["grass"], "grass": val["brick"], "gravel": val["gravel"]}
    wrong = [(true, image) for true, images in held_out.items() for image in images if textures.predict(image)[0][0] != true]
    assert len(wrong) >= 10  # the swapped twelve, less any the model itself gets wrong: the test has mistakes to find
    mistakes = held_out_mistakes(textures, held_out, limit=24)
    assert len(mistakes) == len(wrong) and {(m.true, m.image.tobytes()) for m in mistakes} == {(t, i.tobytes()) for t, i in wrong}
    for m in mistakes:
        ranked = dict(textures.predict(m.image, top_k=3))
        assert not m.correct and m.predicted != m.true and m.predicted == max(ranked, key=ranked.get)
        assert m.probability == pytest.approx(ranked[m.predicted], abs=1e-6) and m.true_probability == pytest.approx(ranked[m.true], abs=1e-6)
        assert np.array_equal(np.asarray(m.overlay), np.asarray(textures.explain(m.image, m.predicted).overlay))
    assert [m.probability for m in mistakes] == sorted((m.probability for m in mistakes), reverse=True)
    assert held_out_mistakes(textures, held_out, limit=3) == mistakes[:3]


def test_confusion_cell_filters_the_gallery(textures):
    val = patches("val", 6, seed=3)
    mistakes = held_out_mistakes(textures, {"brick": val["grass"], "grass": val["brick"], "gravel": val["gravel"]})
    for true in ("brick", "grass", "gravel"):
        for predicted in ("brick", "grass", "gravel"):
            cell = filter_mistakes(mistakes, true=true, predicted=predicted)
            assert cell == [m for m in mistakes if m.true == true and m.predicted == predicted]
    by_true = filter_mistakes(mistakes, true="brick")
    assert by_true and all(m.true == "brick" for m in by_true) and len(by_true) == sum(m.true == "brick" for m in mistakes)
    assert filter_mistakes(mistakes) == mistakes and filter_mistakes(mistakes, predicted="nothing") == []


def test_without_mistakes_the_least_sure_correct_answers_come_flagged(textures):
    images = [image for images in patches("val", 3, seed=4).values() for image in images]
    held_out: dict[str, list] = {}
    for image in images:  # each image filed under the model's own answer: nothing is wrong
        held_out.setdefault(textures.predict(image)[0][0], []).append(image)
    shown = held_out_mistakes(textures, held_out, limit=5)
    assert len(shown) == 5 and all(m.correct and m.true == m.predicted for m in shown)
    sureness = sorted(dict(textures.predict(image, top_k=3))[label] for label, group in held_out.items() for image in group)
    assert [m.true_probability for m in shown] == pytest.approx(sureness[:5], abs=1e-6)


def test_bad_arguments_are_refused(textures):
    with pytest.raises(ValueError, match="unknown label 'cats'"):
        held_out_mistakes(textures, {"cats": patches("val", 1)["brick"]})
    with pytest.raises(ValueError, match="limit must be at least 1, got 0"):
        held_out_mistakes(textures, {}, limit=0)


def test_finetune_result_keeps_its_held_out_images_for_the_gallery(textures):
    result = train.finetune(textures, patches("train", 10, seed=6), strategy="head", epochs=2, device="cpu")
    clf = result.classifier
    assert len(result.held_out) == result.confusion.sum() == 6
    assert [target for _, target in result.held_out] == [0, 0, 1, 1, 2, 2]  # two per class, in class order
    wrong = sum(clf.predict(image)[0][0] != clf.labels[target] for image, target in result.held_out)
    mistakes = result.mistakes()
    assert (len(mistakes) == wrong) if wrong else (len(mistakes) == 6 and all(m.correct for m in mistakes))
    assert {m.image.tobytes() for m in mistakes} <= {image.tobytes() for image, _ in result.held_out}
