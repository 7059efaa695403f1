"""Data checks before a fine-tune: one test per message, and how finetune acts on them."""

import io

import numpy as np
import pytest
from PIL import Image

import train
from train.checks import MESSAGES, DataCheckError, Problem, check_samples
from train.data import DataError


def noise(n: int, size: tuple[int, int] = (40, 40), seed: int = 0) -> list[Image.Image]:
    """``n`` different random RGB images."""
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n)]


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def test_clean_samples_have_no_problems():
    assert check_samples({"a": noise(3, seed=1), "b": noise(4, seed=2)}) == []


def test_a_class_with_one_image_is_an_error_naming_it():
    (problem,) = check_samples({"a": noise(1, seed=1), "b": noise(2, seed=2)})
    assert (problem.code, problem.severity, problem.params) == ("too_few_images", "error", {"label": "a", "count": 1, "minimum": 2})
    assert str(problem) == "class 'a' has 1 image(s); it needs at least 2, so that one can be held out to test on"


def test_unreadable_images_are_errors_with_their_names(tmp_path):
    (tmp_path / "notes.jpg").write_text("shopping list")
    upload = io.BytesIO(b"\x89PNG broken")
    upload.name = "upload.png"
    problems = check_samples({"a": [tmp_path / "notes.jpg", *noise(2, seed=1)], "b": [*noise(2, seed=2), upload]})
    unreadable = [p for p in problems if p.code == "unreadable"]
    assert [(p.severity, p.params["label"], p.params["name"]) for p in unreadable] == [("error", "a", "notes.jpg"), ("error", "b", "upload.png")]
    assert str(unreadable[0]).startswith("notes.jpg in class 'a' could not be read: not an image format")
    assert len(problems) == 2  # each class still has two readable images


def test_extreme_imbalance_is_a_warning_above_five_to_one():
    (problem,) = check_samples({"many": noise(12, seed=1), "few": noise(2, seed=2)})
    assert problem.code == "imbalance" and problem.severity == "warning"
    assert problem.params == {"largest": "many", "largest_count": 12, "smallest": "few", "smallest_count": 2, "ratio": 6.0}
    assert "'many' has 12 images but class 'few' only 2 (6.0x)" in str(problem)
    assert check_samples({"many": noise(10, seed=1), "few": noise(2, seed=2)}) == []  # exactly 5:1 is fine


def test_the_same_file_twice_is_found_by_content_whatever_its_form(tmp_path):
    photo, other = noise(2, seed=3)
    photo.save(tmp_path / "cat.png")
    again = io.BytesIO((tmp_path / "cat.png").read_bytes())
    again.name = "cat (1).png"
    problems = check_samples({"cats": [tmp_path / "cat.png", again, photo.copy(), other], "dogs": noise(2, seed=4)})
    (problem,) = problems
    assert problem.code == "duplicate" and problem.severity == "warning"
    assert problem.params == {"label": "cats", "count": 3, "names": "cat.png, cat (1).png, #3"}


def test_one_image_under_two_labels_is_a_warning_naming_both():
    shared = noise(1, seed=5)[0]
    (problem,) = check_samples({"cats": [shared, *noise(2, seed=6)], "dogs": [*noise(2, seed=7), shared.copy()]})
    assert problem.code == "duplicate_across_classes" and problem.params == {"labels": "'cats', 'dogs'", "count": 2, "names": "#1, #3"}
    assert str(problem) == "one image is in classes 'cats', 'dogs' (#1, #3); it cannot be right in all of them"


def test_images_smaller_than_the_crop_are_a_warning_per_class():
    small = noise(2, size=(20, 50), seed=8) + noise(1, size=(31, 31), seed=9)
    problems = check_samples({"a": [*small, *noise(1, seed=10)], "b": noise(2, seed=11)})
    (problem,) = problems
    assert problem.code == "too_small" and problem.severity == "warning"
    assert problem.params == {"label": "a", "count": 3, "names": "#1, #2, #3", "minimum": 32, "smallest": "20x50"}
    assert codes(check_samples({"a": noise(2, size=(40, 40)), "b": noise(2, size=(64, 64), seed=1)}, min_side=64)) == ["too_small"]
    with pytest.raises(ValueError, match="min_side must be at least 1 pixel, got 0"):
        check_samples({"a": noise(2)}, min_side=0)


def test_errors_come_first_and_every_code_has_an_english_text():
    problems = check_samples({"a": noise(1, size=(10, 10)), "b": noise(12, seed=1)})
    assert codes(problems) == ["too_few_images", "imbalance", "too_small"]
    assert all(str(p) for p in problems) and set(codes(problems)) <= set(MESSAGES)
    with pytest.raises(ValueError, match="'mystery'"):
        Problem("mystery", "error")
    with pytest.raises(ValueError, match="'fatal'"):
        Problem("imbalance", "fatal", {})


def test_finetune_refuses_errors_with_their_codes_and_reports_warnings():
    with pytest.raises(DataCheckError, match="class 'a' has 1 image") as caught:
        train.finetune("resnet18", {"a": noise(1, seed=1), "b": noise(3, seed=2)}, strategy="head", epochs=1, device="cpu")
    assert isinstance(caught.value, DataError) and codes(caught.value.problems) == ["too_few_images"]
    twice = noise(1, size=(48, 48), seed=3) * 2
    result = train.finetune("resnet18", [(image, "a") for image in twice + noise(2, size=(48, 48), seed=4)] + [(image, "b") for image in noise(4, size=(48, 48), seed=5)],
                            strategy="head", epochs=1, options=train.FinetuneOptions(views=1), device="cpu")
    # Random starts use 224-px crops for "head": every 48-px image is reported as too small, once per class.
    assert codes(result.warnings) == ["duplicate", "too_small", "too_small"]
    assert result.warnings[0].params["count"] == 2 and result.warnings[1].params["minimum"] == 224
