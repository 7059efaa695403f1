"""The app's pictures: the confusion matrix reads as a table of shares."""

import numpy as np
import pytest

from ui.tabs.finetune.pictures import confusion_image


def test_confusion_picture_shades_each_cell_by_its_share_of_the_row():
    image = confusion_image(np.array([[3, 1], [0, 4]]), ["cat", "dog"], cell=72)
    margin = image.width - 2 * 72 - 12

    def colour(row, col):  # the centre's left edge of a cell: inside the fill, clear of the digit
        return image.getpixel((margin + col * 72 + 6, margin + row * 72 + 36))

    # Right answers (the diagonal) blue, wrong ones warm; the darker, the larger the share of the true class; none: white.
    r, g, b = colour(0, 0)
    assert b > g > r  # 3 of 4 right
    r, g, b = colour(0, 1)
    assert r > g > b  # 1 of 4 wrong
    assert colour(1, 0) == (255, 255, 255)  # none
    assert sum(colour(1, 1)) < sum(colour(0, 0)) < 3 * 255  # 4 of 4 darker than 3 of 4
    assert sum(colour(0, 1)) < 3 * 255
    with pytest.raises(ValueError, match="2x2 for 2 labels"):
        confusion_image(np.zeros((3, 3)), ["cat", "dog"])
