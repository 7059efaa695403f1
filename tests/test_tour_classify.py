"""The Classify tab as a person sees it, at desktop and phone width, in English and Chinese (``tests/tour.py``).

Desktop, English: an example photo classified, its Grad-CAM title readable (not cut off, not under the
picture's buttons); the Many photos and All depths tables with every column in view at 1280 px; a text
file renamed .jpg gives one message and no traceback in the server's log, nor does a page closed while
its request runs. Phone: the answer comes before the examples. Chinese: no English Classify texts left.
"""

from __future__ import annotations

import re
import time

from tests.conftest import ROOT
from tests.tour import browser_only, close, columns_outside, english_left, open_page, open_tab, shot, tracebacks, truncated

pytestmark = browser_only

PHOTOS = [ROOT / "examples" / name for name in ("chelsea.png", "coffee.png")]
# The tab's English texts, as the page shows them (ui/locales/en.py).
ENGLISH = ["Photo", "Model", "Top 5", "Example photos", "Grad-CAM: where the network saw", "Click a class in the top 5",
           "Many photos at once", "All depths: this photo", "end to end"]
# Gradio's own widget texts, which a zh-CN page must show in Chinese too (issue #30 item 12).
GRADIO_ENGLISH = ["Drop File Here", "Click to Upload", "Click to Access Webcam"]


def classify_example(page, index: int = 1) -> None:
    """Pick an example photo (1: chelsea.png), press Classify and wait for the answer and its title."""
    from playwright.sync_api import expect

    page.locator("#classify-examples button.gallery-item").nth(index).click()
    expect(page.locator("#classify-image img")).to_be_visible()
    page.locator("button#classify-button").click()
    expect(page.locator("#top5 [data-testid=label-output-value]")).not_to_be_empty()
    label = page.locator("#top5 [data-testid=label-output-value]").inner_text().strip()
    expect(page.locator("#gradcam-title")).to_contain_text(label)  # the title names the class the map shows


def test_desktop_english(tour_server, tour_browser, tmp_path):
    from playwright.sync_api import expect

    page = open_page(tour_browser, tour_server.url, width="desktop", lang="en")
    open_tab(page, "classify-tab")
    expect(page.locator("#model-status")).to_have_text("")  # the default model is cached: nothing to warn about
    classify_example(page)
    assert not truncated(page, "#gradcam-title"), "the Grad-CAM title is cut off or covered"
    expect(page.locator("#timing")).to_contain_text("end to end")

    page.get_by_text("Many photos at once").click()
    bad = tmp_path / "notes.jpg"
    bad.write_text("a text file renamed .jpg")
    page.locator("#many-files input[type=file]").set_input_files([*map(str, PHOTOS), str(bad)])
    page.locator("#many-button").click()
    expect(page.locator("#many-table")).to_contain_text("not an image format")
    assert columns_outside(page, "#many-table") == []
    shown = page.locator("#many-table").inner_text()  # the probability in percent, as the top 5 beside it says it
    assert re.search(rf"^{re.escape(PHOTOS[0].name)}\n[^\n]+\n\d{{1,3}}\.\d%$", shown, re.M), repr(shown)  # a cell a line: the row's third

    page.get_by_text("All depths: this photo").click()
    page.locator("#depths-button").click()
    expect(page.locator("#depths-table")).to_contain_text("resnet50")
    expect(page.locator("#depths-line")).to_contain_text("no majority")
    assert columns_outside(page, "#depths-table") == []
    shot(page, "classify", "en", "desktop", tmp_path)

    mark = tour_server.mark()
    page.locator("#classify-image input[type=file]").set_input_files(str(bad))
    page.locator("button#classify-button").click()
    expect(page.locator(".toast-title")).to_have_count(1)
    expect(page.locator(".toast-body")).to_contain_text("Cannot classify this file: not an image format")
    errors = page.evaluate("""() => [...document.querySelectorAll('.error')].filter(e => e.offsetParent !== null && !e.closest('.toast-body')).length""")
    assert errors <= 2, f"{errors} error marks: the toast and the answer's badge at most"
    # Nothing of the cat stays beside the refusal: its map, its title and its time went with the new file.
    expect(page.locator("#gradcam img")).to_have_count(0)
    expect(page.locator("#timing")).to_have_text("")
    expect(page.locator("#gradcam-title")).to_have_text("Grad-CAM: where the network saw the top class")
    classify_example(page, 0)
    page.locator("button#classify-button").click()
    close(page)  # while its request may still run: the session's end must not print a traceback either
    time.sleep(3)
    assert tracebacks(tour_server.log_since(mark)) == 0, tour_server.log_since(mark)


def test_phone_english_answer_above_the_examples(tour_server, tour_browser, tmp_path):
    page = open_page(tour_browser, tour_server.url, width="phone", lang="en")
    open_tab(page, "classify-tab")
    classify_example(page)
    answer, examples = page.locator("#top5").bounding_box(), page.locator("#classify-examples").bounding_box()
    assert answer["y"] + answer["height"] <= examples["y"], (answer, examples)
    shot(page, "classify", "en", "phone", tmp_path)
    close(page)


def test_chinese_pages_have_no_english_classify_texts(tour_server, tour_browser, tmp_path):
    from playwright.sync_api import expect

    for width in ("desktop", "phone"):
        page = open_page(tour_browser, tour_server.url, width=width, lang="zh")
        open_tab(page, "classify-tab")
        if width == "desktop":
            classify_example(page)
            page.get_by_text("一次分类多张照片").click()  # its file drop zone: Gradio's own texts
        assert english_left(page, ENGLISH + GRADIO_ENGLISH) == []
        page.locator("#classify-examples").scroll_into_view_if_needed()  # its thumbnails load once in view
        page.wait_for_function("() => [...document.querySelectorAll('#classify-examples img')].every(i => i.complete && i.naturalWidth > 0)")
        shot(page, "classify", "zh", width, tmp_path)
        if width == "phone":  # a refused file: the toast's title is Chinese too (gr.Error's own title is "Error")
            bad = tmp_path / "notes.jpg"
            bad.write_text("a text file renamed .jpg")
            page.locator("#classify-image input[type=file]").set_input_files(str(bad))
            page.locator("button#classify-button").click()
            expect(page.locator(".toast-title")).to_have_text("错误")
        close(page)
