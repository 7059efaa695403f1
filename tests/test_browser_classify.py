"""The Classify tab in a real browser (Debian's Chromium, headless): one click gives the label and its overlay; a click on a class shows its map.

With RESNET_STUDIO_SCREENSHOTS=DIR the screenshot is also copied there.
"""

import io

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from tests.conftest import ROOT
# The browser tests' launch pattern: marks (skipped without Debian's chromium), a server of this module's own, screenshots.
from tests.test_browser import ARGS, CHROMIUM, MODEL, pytestmark, save, upload_photo, url  # noqa: F401 - pytestmark and url are used by pytest

PHOTO = ROOT / "examples" / "chelsea.png"


@pytest.fixture(scope="module")
def page(url):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)  # two busy cores: the first forward pass warms the model up
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(url)
        yield page
        browser.close()


def shown_pixels(page) -> tuple[str, np.ndarray]:
    """The overlay the page shows now: its address and its pixels, fetched as the browser fetched them."""
    src = page.locator("#gradcam img").get_attribute("src")
    return src, np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB"), dtype=np.int16)


def test_one_click_shows_the_label_and_its_overlay_and_a_class_click_shows_that_class(page, url, tmp_path):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Classify").click()
    upload_photo(page, PHOTO)
    joined = []  # queued requests: the answer and its overlay come from one
    page.on("request", lambda r: joined.append(r.url) if r.method == "POST" and "/queue/join" in r.url else None)
    page.locator("#classify-button").click()
    expected, _, _ = Client(url, verbose=False).predict(handle_file(str(PHOTO)), MODEL, api_name="/classify")
    expect(page.locator("#top5 [data-testid=label-output-value]")).to_have_text(expected["label"])
    expect(page.locator("#gradcam img")).to_be_visible()
    expect(page.locator("#timing")).to_contain_text("ms on cpu")
    assert len(joined) == 1
    first_src, first = shown_pixels(page)
    assert first.shape == (224, 224, 3)

    second = expected["confidences"][1]["label"]
    page.locator("#top5 button.confidence-set").nth(1).click()
    expect(page.locator("#gradcam img")).not_to_have_attribute("src", first_src)
    expect(page.locator("#gradcam-title")).to_contain_text(f"where the network saw {second}")
    _, other = shown_pixels(page)
    assert other.shape == first.shape and np.abs(other - first).mean() > 1  # another class, another map
    assert len(joined) == 1  # the map came from the kept prediction, not a queued network run
    save(page, tmp_path, "classify")
