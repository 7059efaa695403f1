"""Write ``train/lab/digits.npz``: the UCI handwritten digits as the lab ships them (run once; needs scikit-learn).

    pip install scikit-learn        # only to run this script; the lab reads the .npz without it
    python scripts/make_digits.py

The source is scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits" test set
(``sklearn.datasets.load_digits``: 1,797 images of 8 x 8 pixels, each pixel a count 0..16 of the
set pixels in a 4 x 4 block of the 32 x 32 bitmap, written by 13 of the set's 43 writers; E. Alpaydin and C. Kaynak,
1998, UCI Machine Learning Repository, CC BY 4.0). The file keeps those counts unchanged as uint8
(``images``, shape (1797, 8, 8)) with the digit of each (``labels``, uint8 0..9), compressed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "train" / "lab" / "digits.npz"


def main() -> int:
    from sklearn.datasets import load_digits  # the one place scikit-learn is used

    digits = load_digits()
    images = digits.images.astype(np.uint8)
    if not np.array_equal(images, digits.images) or images.shape != (1797, 8, 8) or images.max() != 16:
        raise SystemExit(f"unexpected digits: shape {images.shape}, max {images.max()}")
    labels = digits.target.astype(np.uint8)
    np.savez_compressed(OUT, images=images, labels=labels)
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT.name}: "
          f"{len(labels)} images, classes {np.bincount(labels).tolist()}, {OUT.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
