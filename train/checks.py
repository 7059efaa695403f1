"""Checks on a fine-tuning set before training: what would make it fail, and what would make it mislead.

Each finding is a ``Problem``: a message code with plain parameters, so the app can
word it in the user's language, and an English ``str()`` for logs and errors.
Errors stop a fine-tune (``finetune`` raises ``DataCheckError``); warnings travel with
the result (``FinetuneResult.warnings``), since training can go ahead.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from PIL import Image

from resnet.files import image_name
from resnet.transforms import ImageError, load_image

from .data import DataError, LabelledImages

__all__ = [
    "MAX_IMBALANCE",
    "MESSAGES",
    "MIN_PER_CLASS",
    "MIN_SIDE",
    "DataCheckError",
    "Problem",
    "check_decoded",
    "check_images",
    "check_samples",
]

MIN_PER_CLASS = 2  # one image to train on and one to hold out
MAX_IMBALANCE = 5  # largest class / smallest class beyond which the model mostly learns the larger class
MIN_SIDE = 32  # below this there is next to nothing left to recognise, whatever the crop size
SHOWN_NAMES = 3  # file names listed in one message

# English text of each code; the parameters are exactly those a Problem of that code carries.
MESSAGES = {
    "too_few_images": "class {label!r} has {count} image(s); it needs at least {minimum}, so that one can be held out to test on",
    "unreadable": "{name} in class {label!r} could not be read: {reason}",
    "imbalance": (
        "class {largest!r} has {largest_count} images but class {smallest!r} only {smallest_count} ({ratio}x); "
        "the model will lean towards the larger class"
    ),
    "duplicate": "class {label!r} holds {count} copies of one image ({names}); a held-out copy tests nothing new",
    "duplicate_across_classes": "one image is in classes {labels} ({names}); it cannot be right in all of them",
    "too_small": (
        "{count} image(s) of class {label!r} ({names}) are smaller than {minimum} px on their shorter side "
        "(the smallest is {smallest}); they will be enlarged, which blurs them"
    ),
}
SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Problem:
    """One finding about the data.

    Attributes:
        code: one of ``MESSAGES``' keys.
        severity: ``"error"`` (training cannot go ahead) or ``"warning"``.
        params: the values the message names (class labels, counts, file names), all str, int or float.
    """

    code: str
    severity: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in MESSAGES:
            raise ValueError(f"unknown problem code {self.code!r}; one of {', '.join(MESSAGES)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be 'error' or 'warning', got {self.severity!r}")

    def __str__(self) -> str:
        return MESSAGES[self.code].format(**self.params)


class DataCheckError(DataError):
    """``check_samples`` found errors; the message is their English text.

    Attributes:
        problems: the errors, for a UI that words them itself.
    """

    def __init__(self, problems: Sequence[Problem]):
        super().__init__("; ".join(map(str, problems)))
        self.problems = list(problems)


def check_samples(samples: Mapping[str, Sequence[Any]], *, min_side: int = MIN_SIDE) -> list[Problem]:
    """Decode ``{class name: [images]}`` and report what is wrong with it, errors first.

    Args:
        samples: images as ``resnet.transforms.load_image`` accepts them, by class.
        min_side: images whose shorter side is below this many pixels are reported (pass the crop size).

    Returns:
        The problems found; an empty list when there are none.
    """
    items, unreadable = [], []
    for target, (label, sources) in enumerate(samples.items()):
        for index, source in enumerate(sources):
            name = image_name(source, index, unnamed="#{number}", use_filename=True)
            try:
                items.append((name, load_image(source), target))
            except ImageError as e:
                unreadable.append(Problem("unreadable", "error", {"label": label, "name": name, "reason": str(e)}))
    problems = unreadable + check_images(list(samples), items, min_side=min_side)
    return sorted(problems, key=lambda p: p.severity != "error")  # stable: errors first, each kind in order


def check_images(
    classes: Sequence[str], items: Sequence[tuple[str, Image.Image, int]], *, min_side: int = MIN_SIDE
) -> list[Problem]:
    """``check_samples`` for images already decoded: counts, balance, duplicates and sizes.

    Args:
        classes: class names; index ``i`` names class ``i``.
        items: ``(name, RGB image, class index)`` for every readable image.
        min_side: images whose shorter side is below this many pixels are reported.

    Returns:
        The problems found, errors first.
    """
    if min_side < 1:
        raise ValueError(f"min_side must be at least 1 pixel, got {min_side}")
    counts = Counter(target for _, _, target in items)
    problems = [
        Problem("too_few_images", "error", {"label": label, "count": counts[i], "minimum": MIN_PER_CLASS})
        for i, label in enumerate(classes)
        if counts[i] < MIN_PER_CLASS
    ]
    sizes = {label: counts[i] for i, label in enumerate(classes) if counts[i]}
    if sizes and max(sizes.values()) > MAX_IMBALANCE * min(sizes.values()):
        largest, smallest = max(sizes, key=sizes.get), min(sizes, key=sizes.get)
        problems.append(Problem("imbalance", "warning", {
            "largest": largest, "largest_count": sizes[largest], "smallest": smallest, "smallest_count": sizes[smallest],
            "ratio": round(sizes[largest] / sizes[smallest], 1),
        }))
    return problems + _duplicates(classes, items) + _too_small(classes, items, min_side)


def check_decoded(samples: Mapping[str, Sequence[Any]], data: LabelledImages, *, min_side: int = MIN_SIDE) -> list[Problem]:
    """``check_images`` for ``samples`` that ``train.data.in_memory`` has decoded into ``data``, named after ``samples``' files.

    Args:
        samples: what ``in_memory`` was given, ``{class name: [images]}``.
        data: its result, whose items follow the same order.
        min_side: images whose shorter side is below this many pixels are reported.

    Returns:
        The problems found, errors first.
    """
    names = [image_name(source, i, unnamed="#{number}", use_filename=True) for sources in samples.values() for i, source in enumerate(sources)]
    return check_images(data.classes, [(name, image, target) for name, (image, target) in zip(names, data.items)], min_side=min_side)


def _duplicates(classes: Sequence[str], items: Sequence[tuple[str, Image.Image, int]]) -> list[Problem]:
    """One warning per group of identical images: same size and same pixels, whatever the file."""
    groups: dict[bytes, list[tuple[str, int]]] = defaultdict(list)
    for name, image, target in items:
        digest = hashlib.blake2b(f"{image.width}x{image.height}".encode(), digest_size=16)
        digest.update(image.tobytes())
        groups[digest.digest()].append((name, target))
    problems = []
    for group in groups.values():
        if len(group) < 2:
            continue
        names = _names([name for name, _ in group])
        labels = list(dict.fromkeys(classes[target] for _, target in group))
        if len(labels) == 1:
            problems.append(Problem("duplicate", "warning", {"label": labels[0], "count": len(group), "names": names}))
        else:
            problems.append(Problem("duplicate_across_classes", "warning", {"labels": ", ".join(map(repr, labels)), "count": len(group), "names": names}))
    return problems


def _too_small(classes: Sequence[str], items: Sequence[tuple[str, Image.Image, int]], min_side: int) -> list[Problem]:
    """One warning per class with images whose shorter side is under ``min_side``."""
    small: dict[int, list[tuple[str, Image.Image]]] = defaultdict(list)
    for name, image, target in items:
        if min(image.size) < min_side:
            small[target].append((name, image))
    problems = []
    for target in sorted(small):
        found = small[target]
        smallest = min((image for _, image in found), key=lambda image: min(image.size))
        problems.append(Problem("too_small", "warning", {
            "label": classes[target], "count": len(found), "names": _names([name for name, _ in found]),
            "minimum": min_side, "smallest": f"{smallest.width}x{smallest.height}",
        }))
    return problems


def _names(names: Sequence[str]) -> str:
    """The first few names, then an ellipsis if there are more (the message's count says how many): no words to translate."""
    return ", ".join(names[:SHOWN_NAMES]) + (", …" if len(names) > SHOWN_NAMES else "")
