"""Browser tour of the lesson tab ("Start here"): first and selected at page load, its pictures drawn, its buttons open tabs.

Desktop (1280x900) and phone (390x844), English and Chinese. The costly paths (the block
measurement, a 46 MB model checked through the upload) run once, on the desktop English page.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect
from safetensors.torch import save_file

import resnet
from tests.tour import WIDTHS, browser_only, close, english_left, legend_colours, open_page, shot, tracebacks
from ui.locales import en, zh_cn
from ui.tabs.lab.tab import network_colours
from ui.tabs.lesson.tab import LAB_RUN

pytestmark = browser_only

STRINGS = {"en": en.STRINGS, "zh": zh_cn.STRINGS}
# English a Chinese page must not show (the lesson's own texts; names such as ResNet-50 are the same in both).
ENGLISH = ["Start here", "The residual block", "Why: vanishing gradients", "other networks", "marker area = parameters",
           "Check the ResNet you wrote", "Run the degradation experiment live", "Compare the two blocks"]


def drawn_legend(page, selector: str) -> list[str]:
    return page.locator(f"{selector} .vega-embed .role-legend-label text").all_text_contents()


def stroked_lines(page, selector: str) -> int:
    return page.evaluate(
        """(sel) => [...document.querySelectorAll(sel + ' .vega-embed .mark-line path')]
            .filter((p) => { const s = getComputedStyle(p); return s.stroke !== 'none' && s.stroke !== 'transparent' && parseFloat(s.strokeOpacity || 1) > 0; }).length""",
        selector,
    )


def measure_and_check(page, tmp_path) -> None:
    """The block measurement and a check of a ResNet-18's weights as if it were meant to be a ResNet-50."""
    page.locator("#lesson-blocks-button").click()
    expect(page.locator("#lesson-blocks-text")).to_contain_text("fewer parameters", timeout=180_000)
    expect(page.locator("#lesson-blocks")).to_contain_text("1x1 256 -> 64")
    weights = tmp_path / "my_resnet.safetensors"
    save_file(resnet.build("resnet18").state_dict(), str(weights))
    page.locator("#lesson-check-file input[type=file]").set_input_files(str(weights))
    expect(page.locator("#lesson-check-file")).to_contain_text("my_resnet.safetensors")
    page.locator("#lesson-check-button").click()
    report = page.locator("#lesson-check-report")
    expect(report).to_contain_text("First difference, at layer 2")
    expect(report).to_contain_text("layer1.0.conv1")


@pytest.mark.parametrize("width, lang", [("desktop", "en"), ("phone", "en"), ("desktop", "zh"), ("phone", "zh")])
def test_lesson_tab(tour_server, tour_browser, tmp_path, width, lang):
    words = STRINGS[lang]
    mark = tour_server.mark()
    page = open_page(tour_browser, tour_server.url, width=width, lang=lang)
    try:
        first = page.locator('[role="tab"]').first
        expect(first).to_have_attribute("id", "lesson-button")
        expect(first).to_have_attribute("aria-selected", "true")  # first, and what a visitor lands on
        expect(first).to_have_text(words["tab.lesson"])

        # The comparison chart: 17 networks, the 5 ResNets highlighted, the legend in the page's language.
        expect(page.locator("#compare-chart circle.mark")).to_have_count(17)
        expect(page.locator("#compare-chart circle.mark.resnet")).to_have_count(5)
        fills = set(page.locator("#compare-chart circle.mark.resnet").evaluate_all("(cs) => cs.map((c) => c.getAttribute('fill'))"))
        others = set(page.locator("#compare-chart circle.mark.other").evaluate_all("(cs) => cs.map((c) => c.getAttribute('fill'))"))
        assert len(fills) == 1 and not fills & others  # one colour for ResNets, another for the rest
        legend = page.locator("#compare-chart .legend-label").all_text_contents()
        assert legend == [words[f"lesson.compare.{k}"] for k in ("resnet", "other", "fig3", "area")]
        box = page.locator("#compare-chart .compare-chart-box").bounding_box()  # on a phone the chart scrolls inside it
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTHS[width]["width"] + 1, box
        label = page.locator("#compare-chart text.label").first.bounding_box()
        assert label["height"] >= 9, label  # readable, not shrunk to the phone's width

        # The shipped lab run, drawn at once: one stroked line per network, named in the legend.
        networks = set(json.loads(LAB_RUN.read_text(encoding="utf-8"))["result"]["networks"])
        page.locator("#lesson-lab-plot .vega-embed .mark-line path").first.wait_for()
        assert set(drawn_legend(page, "#lesson-lab-plot")) == networks
        assert stroked_lines(page, "#lesson-lab-plot") == len(networks)
        assert legend_colours(page, "#lesson-lab-plot") == network_colours(networks)  # each network in its lab tab colour
        expect(page.locator("#lesson-lab-note")).to_contain_text("python -m train.lab")

        if lang == "zh":
            assert english_left(page, ENGLISH) == []
        if (width, lang) == ("desktop", "en"):
            measure_and_check(page, tmp_path)
        shot(page, "lesson", lang, width, tmp_path)

        # A step's button opens the tab where it is explored (on a phone, from the tab bar's "..." menu).
        page.locator("#lesson-open-lab").click()
        expect(page.locator("#lab-plot")).to_be_visible()
        page.locator("#lesson-button").click()
        page.locator("#lesson-open-finetune").click()
        expect(page.locator("#zip-file")).to_be_visible()
    finally:
        close(page)
    assert tracebacks(tour_server.log_since(mark)) == 0
