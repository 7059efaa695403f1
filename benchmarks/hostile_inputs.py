"""What each awkward or hostile file of the test corpus costs the classifier, next to an ordinary photo, in one run.

    python -m benchmarks.hostile_inputs [--rounds 5]

tests/test_robustness.py checks that every file of tests.corpus gets a prediction or a clear message; how long
each takes is measured here instead (a time bound in a test fails on a loaded machine). Each round times every
case once and the example photo once, interleaved, in this process (a seeded ResNet-18, no server): a file
that is refused should cost no more than a photo, and none (the decompression bomb, the claimed sizes) should
cost many photos. Prints the median seconds of each case and its ratio to the photo's median, largest first.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from resnet.checkpoints.config import ModelConfig
from resnet.model import build
from resnet.predict import Classifier
from resnet.transforms import ImageError
from tests.corpus import cases
from tests.hubcache import torchvision_model

ROOT = Path(__file__).resolve().parents[1]
PHOTO = (ROOT / "examples" / "chelsea.png").read_bytes()


def seconds(clf: Classifier, data: bytes) -> float:
    """One classification of ``data`` (a refusal counts as its answer)."""
    start = time.perf_counter()
    try:
        clf.predict(data, top_k=5)
    except ImageError:
        pass  # the clear message is the answer to a hostile file
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    model = build("resnet18")
    model.load_state_dict(torchvision_model("resnet18", seed=0).state_dict())
    clf = Classifier(model.eval(), ModelConfig("resnet18", tuple(str(i) for i in range(1000))), device="cpu")
    corpus = [(name, data) for name, data, _ in cases()]
    seconds(clf, PHOTO)  # warm-up: the first call chooses kernels
    times: dict[str, list[float]] = {name: [] for name, _ in corpus}
    photo_times = []
    for _ in range(args.rounds):
        for name, data in corpus:
            times[name].append(seconds(clf, data))
            photo_times.append(seconds(clf, PHOTO))  # side by side: the same load for both
    photo = statistics.median(photo_times)
    print(f"the example photo: {photo * 1000:.1f} ms (median of {len(photo_times)})")
    rows = sorted(((statistics.median(t), name) for name, t in times.items()), reverse=True)
    for median, name in rows:
        print(f"{name:40s} {median * 1000:9.1f} ms  {median / photo:6.2f}x the photo")


if __name__ == "__main__":
    main()
