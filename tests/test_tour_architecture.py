"""The Architecture tab as drawn (issue #30 items 7, 8, 9, 11, 12, 14), at desktop and phone width, in English and Chinese.

Desktop English measures everything once (all five depths at 64 pixels, gradient flow of ResNet-18): every column of
both tables lies inside the window, the chart's block axis is whole numbers from 1, the ratios are worded. The other
three pages only load the tab (its table fills on load) and measure the cheap gradient flow: every tab button is in
view on a phone, and no English of Gradio's widgets is left in the Chinese page.
"""

import re

import pytest

from tests.tour import browser_only, close, columns_outside, english_left, finish_desktop_tour, open_page, open_tab, raw_booleans, shot, tabs_out_of_view

pytestmark = browser_only

X_TICKS = "#flow-plot .vega-embed .role-axis[aria-label^='X-axis'] .role-axis-label text"
# Gradio's own widget texts seen in English on the Chinese page (item 12), and the app's own English.
ENGLISH = ["Drop File Here", "Click to Upload", "Click to Access Webcam", "Runs", "shortcut", "Measure all depths", "Gradient flow"]


def set_input_size(page, pixels: int) -> None:
    box = page.locator("#architecture-size input[type=number]")
    box.fill(str(pixels))
    box.press("Enter")


def measure_flow(page) -> list[str]:
    """Click the gradient-flow button, wait for the drawn lines, and return the block axis' tick labels."""
    from playwright.sync_api import expect

    page.locator("#flow-button").click()
    expect(page.locator("#flow-plot .vega-embed .mark-line path").first).to_be_visible()
    expect(page.locator("#flow-text")).not_to_be_empty()
    return page.locator(X_TICKS).all_text_contents()


def assert_ticks_are_blocks(ticks: list[str], blocks: int) -> None:
    assert ticks and all(re.fullmatch(r"\d+", t) for t in ticks), ticks  # no 0.5, 1.5 ...
    assert int(ticks[0]) == 1 and int(ticks[-1]) == blocks, ticks  # from the first block, not from 0


def test_desktop_en_tables_fit_the_window_and_the_measurements_are_worded(tour_server, tour_browser, tmp_path):
    from playwright.sync_api import expect

    mark = tour_server.mark()
    page = open_page(tour_browser, tour_server.url)
    open_tab(page, "architecture")
    expect(page.locator("#summary-table")).to_contain_text("layer4.2")  # ResNet-50, its blocks
    assert columns_outside(page, "#summary-table") == []
    expect(page.locator("#comparison")).to_be_hidden()  # not an empty table headed "1 2 3" before a measurement
    set_input_size(page, 64)
    page.locator("#compare-button").click()
    expect(page.locator("#comparison")).to_contain_text("resnet152")
    assert columns_outside(page, "#comparison") == []
    headers = page.locator("#comparison th").all_inner_texts()
    assert any("fast path" in h for h in headers), headers  # which forward pass it timed ...
    expect(page.locator("#comparison-note")).to_contain_text("the one the Classify tab runs")  # ... and what that is
    page.locator("#architecture-depth label:has-text('ResNet-18')").click()
    assert_ticks_are_blocks(measure_flow(page), 8)
    flow = page.locator("#flow-text").inner_text()
    assert "e+0" not in flow and "(larger)" not in flow and "about" in flow, flow
    assert raw_booleans(page) == []
    finish_desktop_tour(page, "architecture", tour_server, mark, tmp_path)


@pytest.mark.parametrize("lang, width", [("zh", "desktop"), ("en", "phone"), ("zh", "phone")])
def test_the_tab_in_every_language_and_width(tour_server, tour_browser, tmp_path, lang, width):
    from playwright.sync_api import expect

    page = open_page(tour_browser, tour_server.url, width=width, lang=lang)
    assert tabs_out_of_view(page) == []  # every tab reachable, none behind a "..." menu
    open_tab(page, "architecture")
    expect(page.locator("#summary-table")).to_contain_text("layer4.2")
    if width == "desktop":
        assert columns_outside(page, "#summary-table") == []
    page.locator("#architecture-depth label:has-text('ResNet-18')").click()
    assert_ticks_are_blocks(measure_flow(page), 8)
    if lang == "zh":
        assert english_left(page, ENGLISH) == []
        assert "倍" in page.locator("#flow-text").inner_text()
    assert raw_booleans(page) == []
    shot(page, "architecture", lang, width, tmp_path)
    if lang == "zh":  # the one text Gradio writes without its i18n, in the Fine-tune tab's webcam snapshot
        open_tab(page, "finetune")
        expect(page.locator("#finetune")).to_contain_text("点击访问摄像头")
        assert english_left(page, ["Click to Access Webcam"]) == []
    close(page)
