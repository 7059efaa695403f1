"""The held-out images a fine-tuned model got wrong, worst first, each with its Grad-CAM.

A gallery of confident mistakes shows what the model learned instead (a background, a
colour cast, a label given to the wrong folder). When it made none, the least sure correct
answers show where it is closest to a mistake. Each image goes once through the classifier's own
``classify``, which gives the answer and its Grad-CAM from one forward pass, so the gallery shows
what the Classify tab would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Optional, Protocol, Sequence, TypeVar

from PIL import Image

from resnet import Classifier
from resnet.transforms import ImageSource, load_image

__all__ = ["Mistake", "filter_mistakes", "held_out_mistakes"]


@dataclass
class Mistake:
    """One held-out image and what the model made of it.

    Attributes:
        image: the image, upright RGB.
        true: its label.
        predicted: the label the model gave it.
        probability: the model's probability for ``predicted``.
        true_probability: the model's probability for ``true``.
        overlay: Grad-CAM of ``predicted`` over the view the network sees (resized, centre-cropped).
        correct: ``predicted == true``: the model made no mistake, and this is one of its least sure answers.
    """

    image: Image.Image
    true: str
    predicted: str
    probability: float
    true_probability: float
    overlay: Image.Image
    correct: bool = False


def held_out_mistakes(classifier: Classifier, held_out: Mapping[str, Sequence[ImageSource]], *, limit: int = 24) -> list[Mistake]:
    """The held-out images ``classifier`` gets wrong, most confident mistake first.

    Args:
        classifier: the model to inspect.
        held_out: ``{true label: [images]}``; every label must be one of ``classifier.labels``.
        limit: at most this many are returned.

    Returns:
        The mistakes by decreasing ``probability``; with no mistake, the correct answers
        by increasing ``true_probability`` (least sure first), each with ``correct=True``.

    Raises:
        ValueError: ``limit`` below 1, or a label the classifier does not know.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    unknown = [label for label in held_out if label not in classifier.labels]
    if unknown:
        raise ValueError(f"unknown label {unknown[0]!r}; this model knows {', '.join(map(repr, classifier.labels))}")
    answers = []
    for true, images in held_out.items():
        for source in images:
            image = load_image(source)
            answer = classifier.classify(image, top_k=len(classifier.labels))  # every class, so the true one is there
            predicted, probability = answer.top[0]
            overlay = answer.cam_for(predicted)[1]  # the top class's map, already drawn (ties: the label reported)
            answers.append(Mistake(image, true, predicted, probability, dict(answer.top)[true], overlay))
    wrong = sorted((a for a in answers if a.true != a.predicted), key=lambda a: -a.probability)
    chosen = wrong or [replace(a, correct=True) for a in sorted(answers, key=lambda a: a.true_probability)]
    return chosen[:limit]


class _Answer(Protocol):
    true: str
    predicted: str


_AnswerT = TypeVar("_AnswerT", bound=_Answer)


def filter_mistakes(mistakes: Sequence[_AnswerT], *, true: Optional[str] = None, predicted: Optional[str] = None) -> list[_AnswerT]:
    """The mistakes with this true label and/or this predicted label (a confusion-matrix cell); None matches any.

    ``mistakes``: ``Mistake``s, or any records with ``true`` and ``predicted`` labels (the page keeps lighter ones).
    """
    return [m for m in mistakes if (true is None or m.true == true) and (predicted is None or m.predicted == predicted)]
