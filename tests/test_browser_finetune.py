"""The fine-tune loop in Chromium: train on the sample set, filter the mistakes by a confusion cell, preview a fake camera live, stop a run."""

import os
import re

import pytest

from tests.server import AppServer
from tests.test_browser import ARGS, CHROMIUM, MODEL, save
from ui.tabs.finetune.mistakes import ARROW
from ui.tabs.finetune.pictures import CELL, _font, _margin

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)"),
]
# Chromium's fake camera: a moving test pattern, granted without a prompt.
CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def page(hub_models):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    with AppServer("--model", MODEL) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS + CAMERA)
        page = browser.new_context(permissions=["camera"], viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        yield page
        browser.close()


def test_train_then_mistakes_by_cell_then_a_live_preview_then_stop(page, tmp_path):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#sample-button").click()
    expect(page.locator("#class-2-files")).to_contain_text("gravel-15")
    page.locator("#train-button").click()
    expect(page.locator("#train-status")).to_contain_text("Done:", timeout=180_000)

    # The gallery: one picture per mistake (or per least sure answer), each captioned.
    gallery = page.locator("#mistakes")
    expect(gallery.locator("img").first).to_be_visible()
    captions = gallery.locator(".caption-label")
    filter_box = page.locator("#mistakes-filter input")
    expect(filter_box).to_have_value(re.compile(r"^all \(\d+\)$"))  # what the page shows of the value "all"
    pair = next((c for c in captions.all_inner_texts() if ARROW in c), None)
    if pair is not None:  # click that pair's cell of the confusion matrix: the gallery shows that pair only
        true, predicted = pair.rsplit(" ", 1)[0].split(ARROW)
        labels = ["brick", "grass", "gravel"]
        margin = _margin(labels, _font())
        image = page.locator("#confusion img")
        natural_width = image.evaluate("i => i.naturalWidth")
        box = image.bounding_box()
        scale = box["width"] / natural_width
        x = (margin + labels.index(predicted) * CELL + CELL / 2) * scale
        y = (margin + labels.index(true) * CELL + CELL / 2) * scale
        image.click(position={"x": x, "y": y})
        expect(filter_box).to_have_value(re.compile("^" + re.escape(f"{true}{ARROW}{predicted}") + r" \(\d+\)$"))
        expect(captions.first).to_contain_text(f"{true}{ARROW}{predicted}")
        assert all(c.startswith(f"{true}{ARROW}{predicted} ") for c in captions.all_inner_texts())
    else:  # no mistake: the least sure right answers, under a heading that says so
        expect(gallery).to_contain_text("No mistakes: ")
        assert all(re.fullmatch(r"(brick|grass|gravel) \d+%", c) for c in captions.all_inner_texts())

    # The live preview: the fake camera's frames stream to the newest fine-tuned model.
    camera = page.locator("#preview-camera")
    camera.scroll_into_view_if_needed()
    camera.get_by_text("Click to Access Webcam").click()
    camera.get_by_role("button", name="capture photo").click()
    expect(page.locator("#preview-model")).to_contain_text("fine-tuned 1: brick, grass, gravel")
    expect(page.locator("#preview-label [data-testid=label-output-value]")).to_have_text(re.compile("^(brick|grass|gravel)$"))
    save(page, tmp_path, "finetune-loop")  # the results, the mistakes filtered by a cell, and the live preview
    camera.get_by_role("button", name="capture photo").click()  # stop streaming

    # Stop: a second run ends at once and says so; the first model stays.
    page.locator("#train-button").click()
    page.locator("#stop-button").click()
    expect(page.locator("#train-status")).to_contain_text("Stopped")
