"""The app's pictures: the confusion matrix reads as a table of shares."""

import numpy as np
import pytest

from ui.tabs.finetune.pictures import confusion_image


def test_confusion_picture_shades_each_cell_by_its_share_of_the_row():
    image = confusion_image(np.array([[3, 1], [0, 4]]), ["cat", "dog"], cell=72)
    margin = image.width - 2 * 72 - 12

    def colour(row, col):  # the centre's left edge of a cell: inside the fill, clear of the digit
        return image.getpixel((margin + col * 72 + 6, margin + row * 72 + 36))

    # Diagonal cells are green, the others blue; the darker, the larger the share of the true class.
    assert colour(0, 0) == (255 - 150, 255, 255 - 150)  # 3 of 4
    assert colour(1, 1) == (55, 255, 55)  # 4 of 4
    assert colour(0, 1) == (255 - 50, 255 - 50, 255)  # 1 of 4
    assert colour(1, 0) == (255, 255, 255)  # none
    with pytest.raises(ValueError, match="2x2 for 2 labels"):
        confusion_image(np.zeros((3, 3)), ["cat", "dog"])
