"""The Inside the network tab as drawn (issue #30 items 11, 12, 14), at desktop and phone width, in English and Chinese.

Desktop English unfolds the diagram and sends one example photo through the checkpoint: the layer counts are worded
("in all 16 layers", never "only 0 of"). The other pages only unfold the diagram: on a phone its text keeps a
readable size and its box scrolls sideways instead of shrinking it, every tab button is in view, and the Chinese
page holds none of the diagram's English words nor Gradio's English widget texts.
"""

import pytest

from tests.tour import browser_only, close, english_left, finish_desktop_tour, open_page, open_tab, raw_booleans, shot, tabs_out_of_view

pytestmark = browser_only

# The diagram's words and Gradio's widget texts that stayed English on the Chinese page (item 12).
ENGLISH = ["shortcut", "no shortcut", "identity", "input", "output", "Drop File Here", "Click to Upload", "Click to Access Webcam", "Runs"]
# Height of the smallest drawn text in the diagram, and whether its box scrolls sideways (and does when asked to).
DIAGRAM = """() => {
    const box = document.querySelector("#inside-diagram .resnet-diagram");
    const heights = [...box.querySelectorAll("svg text")].map((t) => t.getBoundingClientRect().height).filter((h) => h > 0);
    const before = box.scrollLeft;
    box.scrollLeft = 200;
    const moved = box.scrollLeft - before;
    box.scrollLeft = before;
    return {smallest: Math.min(...heights), scrollWidth: box.scrollWidth, clientWidth: box.clientWidth, moved,
            overflow: getComputedStyle(box).overflowX};
}"""


def unfold_first_block(page) -> None:
    from playwright.sync_api import expect

    diagram = page.locator("#inside-diagram")
    expect(diagram.locator("details.stage")).to_have_count(4)  # ResNet-50 on load
    layer1 = diagram.locator("details.stage[data-name=layer1]")
    layer1.locator("summary").first.click()
    layer1.locator("details.block-fold").first.locator("summary").click()
    expect(diagram.locator('g.block[data-name="layer1.0"]')).to_be_visible()


def test_desktop_en_the_diagram_unfolds_and_a_photo_is_worded_by_counts(tour_server, tour_browser, tmp_path):
    from playwright.sync_api import expect

    mark = tour_server.mark()
    page = open_page(tour_browser, tour_server.url)
    open_tab(page, "inside-tab")
    unfold_first_block(page)
    expect(page.locator("#inside-diagram details.block-fold").first.locator("summary")).to_contain_text("shortcut: 1x1 conv + BN")
    drawn = page.evaluate(DIAGRAM)
    assert drawn["smallest"] >= 9 and drawn["scrollWidth"] <= drawn["clientWidth"] + 1, drawn  # at 1280 px it fits whole
    expect(page.locator("#inside-plot")).to_contain_text("Drawn here when you press “Look inside”.")  # not an empty strip
    page.locator("#inside-examples button.gallery-item").nth(1).click()
    expect(page.locator("#inside-image img")).to_be_visible()
    page.locator("#inside-button").click()
    expect(page.locator("#inside-plot")).not_to_contain_text("Drawn here when")  # the plot replaced the hint
    words = page.locator("#inside-text")
    expect(words).to_contain_text("Layer responses")
    text = words.inner_text()
    assert " 0 of the " not in text and "only" not in text, text
    assert "of the 16 layers" in text or "all 16 layers" in text, text
    assert raw_booleans(page) == []
    finish_desktop_tour(page, "inside", tour_server, mark, tmp_path)


@pytest.mark.parametrize("lang, width", [("zh", "desktop"), ("en", "phone"), ("zh", "phone")])
def test_the_diagram_in_every_language_and_width(tour_server, tour_browser, tmp_path, lang, width):
    from playwright.sync_api import expect

    page = open_page(tour_browser, tour_server.url, width=width, lang=lang)
    assert tabs_out_of_view(page) == []  # on a phone too: no tab behind a "..." menu
    open_tab(page, "inside-tab")
    unfold_first_block(page)
    drawn = page.evaluate(DIAGRAM)
    assert drawn["smallest"] >= 9, drawn  # readable: it was 4 px high on a phone, shrunk to the window
    if width == "phone":
        assert drawn["overflow"] == "auto" and drawn["scrollWidth"] > drawn["clientWidth"] and drawn["moved"] > 0, drawn
    if lang == "zh":
        assert english_left(page, ENGLISH) == []
        assert "捷径连接" in page.locator("#inside-diagram").inner_text()
        expect(page.locator("#inside-plot")).to_contain_text("点击“查看网络内部”后在此绘制。")
    shot(page, "inside", lang, width, tmp_path)
    close(page)
