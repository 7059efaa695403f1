"""The Residual learning tab as drawn (issue #30 items 1 and 9, #31): one short run of depths 20 and 56 at desktop width in
English, whose chart must draw all four networks from its first update on; then the page at phone width and in Chinese
without training: the data picker and the training images are visible, and no English is left in the Chinese page."""

import pytest

from tests.tour import browser_only, close, english_left, legend_colours, open_page, open_tab, shot, tracebacks
from ui.tabs.lab.tab import network_colours

pytestmark = browser_only

NETWORKS = {"plain-20", "residual-20", "plain-56", "residual-56"}
TAB_NAME = {"en": "Residual learning", "zh": "残差学习"}  # for a phone, where the tab may sit in Gradio's "More tabs" menu
# English the tab shows before any run; none of it may be left in the Chinese page.
ENGLISH = [
    "Residual learning", "Why shortcuts?", "handwritten digits", "patches of the five example photos", "your own .zip",
    "Training images of the chosen data", "Depths (layers)", "How long", "SGD steps per network", "Run the experiment",
]
# Each line of the chart: its stroke, and whether a person sees it.
LINES = """(sel) => [...document.querySelectorAll(sel + " .vega-embed .mark-line path")].map((p) => {
    const s = getComputedStyle(p);
    const box = p.getBBox();
    return {stroke: s.stroke, opacity: parseFloat(s.strokeOpacity) * parseFloat(s.opacity), width: parseFloat(s.strokeWidth),
            length: p.getTotalLength(), drawn: box.width > 0 || box.height > 0};
})"""


def legend(page) -> list[str]:
    return page.locator("#lab-plot .vega-embed .role-legend-label text").all_text_contents()


def assert_every_network_drawn(page) -> None:
    assert set(legend(page)) == NETWORKS, legend(page)
    lines = page.evaluate(LINES, "#lab-plot")
    assert len(lines) == len(NETWORKS), lines
    for line in lines:
        assert line["stroke"] not in ("none", "", "transparent") and line["opacity"] > 0 and line["width"] > 0, line
        assert line["length"] > 0 and line["drawn"], line
    assert len({line["stroke"] for line in lines}) == len(NETWORKS), lines  # four lines a person can tell apart


def assert_picker_and_samples_visible(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#lab-data")).to_be_visible()
    image = page.locator("#lab-samples img")
    expect(image).to_be_visible()
    image.scroll_into_view_if_needed()
    box, viewport = image.bounding_box(), page.viewport_size
    assert box["width"] > 100 and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1, box
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", image.element_handle())


def test_desktop_en_a_short_run_draws_all_four_networks(tour_server, tour_browser, tmp_path):
    from playwright.sync_api import expect

    mark = tour_server.mark()
    page = open_page(tour_browser, tour_server.url)
    open_tab(page, "lab")
    assert_picker_and_samples_visible(page)
    expect(page.locator("#lab-data input[value=digits]")).to_be_checked()  # the default data
    steps = page.locator("#lab-steps input")
    steps.fill("30")
    steps.press("Tab")
    stop = page.locator("#lab-stop")
    expect(stop).to_be_disabled()  # nothing to stop yet
    page.locator("#lab-run").click()
    expect(stop).to_be_enabled()  # the run starts only once Stop can stop it
    # The first update drawn already holds all four networks (a LinePlot keeps the legend of the update that drew it).
    expect(page.locator("#lab-plot .vega-embed .mark-line path").first).to_be_attached(timeout=120_000)
    assert set(legend(page)) == NETWORKS, legend(page)
    assert legend_colours(page, "#lab-plot") == network_colours(NETWORKS)  # as on the "Start here" tab
    expect(page.locator("#lab-text")).to_contain_text("Measured just now", timeout=180_000)
    expect(stop).to_be_disabled()  # the run is over
    assert_every_network_drawn(page)
    ticks = page.locator("#lab-plot .vega-embed .role-axis-label text").all_text_contents()
    steps_ticks = [t for t in ticks if not t.endswith("%")]
    assert "30" in steps_ticks and all(t.replace(",", "").isdigit() for t in steps_ticks), ticks  # whole steps only
    assert any(t.endswith("%") for t in ticks), ticks  # the error axis in percent
    shot(page, "lab", "en", "desktop", tmp_path)
    # Other data: the digits' curves and words go, so that nothing on the page belongs to data not chosen.
    page.locator("#lab-data input[value=patches]").check()
    expect(page.locator("#lab-text")).to_have_text("Other data chosen: press Run the experiment to train the networks on them.")
    expect(page.locator("#lab-plot .vega-embed .mark-line path")).to_have_count(0)
    close(page)
    assert tracebacks(tour_server.log_since(mark)) == 0


@pytest.mark.parametrize("lang, width", [("en", "phone"), ("zh", "desktop"), ("zh", "phone")])
def test_the_tab_without_a_run(tour_server, tour_browser, tmp_path, lang, width):
    from playwright.sync_api import expect

    page = open_page(tour_browser, tour_server.url, width=width, lang=lang)
    open_tab(page, "lab", name=TAB_NAME[lang])
    assert_picker_and_samples_visible(page)
    # Choosing the photo patches shows their images instead (five classes: a shorter picture than the ten digits').
    before = page.locator("#lab-samples img").get_attribute("src")
    page.locator("#lab-data input[value=patches]").check()
    expect(page.locator("#lab-samples img")).not_to_have_attribute("src", before or "")
    page.locator("#lab-data input[value=zip]").check()
    expect(page.locator("#lab-zip")).to_be_visible()
    page.locator("#lab-data input[value=digits]").check()
    expect(page.locator("#lab-zip")).to_be_hidden()
    assert_picker_and_samples_visible(page)
    if lang == "zh":
        expect(page.locator("#lab-data")).to_contain_text("手写数字")
        assert english_left(page, ENGLISH) == []
    shot(page, "lab", lang, width, tmp_path)
    close(page)
