"""The Fine-tune tab as drawn (issue #30 items 2, 5, 9, 10, 12, 13; #25 item 4): one training run at desktop width in
English from the page's own defaults for the offline start, then the page at phone width and in Chinese without training."""

import re

import pytest

from tests.tour import WIDTHS, browser_only, close, english_left, open_page, open_tab, raw_keys, shot, tracebacks

pytestmark = browser_only

SCRATCH_SHOWN = "resnet18 (from scratch: works offline)"
# English the tab shows before any training; none of it may be left in the Chinese page.
ENGLISH = [
    "Load the sample set", "Start from", "What to train", "Head only (fast)", "Last stage + head", "Everything", "Learning rate",
    "Any way up", "Held-out accuracy per class", "Confusion matrix", "Held-out images", "Try it live", "Push the model",
]

# The plot's centre, and whether what is drawn there belongs to the plot (not to a progress overlay over it).
PLOT_UNCOVERED = """(sel) => {
    const plot = document.querySelector(sel + " .vega-embed");
    if (!plot) return false;
    plot.scrollIntoView({block: "center"});
    const r = plot.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return !!hit && plot.contains(hit);
}"""
# The components whose status tracker is showing something (progress, an overlay, a generating border) now.
ACTIVE_TRACKERS = """() => [...document.querySelectorAll("[data-testid=status-tracker]")]
    .filter((t) => t.offsetParent !== null && !t.classList.contains("hide"))
    .map((t) => (t.closest("[id]") || {id: ""}).id)"""
# Status trackers saying what ``pattern`` matches (an error badge), visible on the page.
TRACKERS_SAYING = """(pattern) => {
    const re = new RegExp(pattern);
    return [...document.querySelectorAll("[data-testid=status-tracker]")].filter(
        (t) => t.offsetParent !== null && t.getBoundingClientRect().height > 0 && re.test(t.innerText)
    ).length;
}"""


def legend(page, elem_id: str) -> set[str]:
    return set(page.locator(f"#{elem_id} .vega-embed .role-legend-label text").all_text_contents())


def test_desktop_en_from_scratch_with_the_pages_defaults(tour_server, tour_browser, tmp_path):
    from playwright.sync_api import expect

    page = open_page(tour_browser, tour_server.url)
    open_tab(page, "finetune")
    page.locator("#sample-button").click()
    expect(page.locator("#class-2-files")).to_contain_text("gravel-15")
    page.locator("#source input").click()
    page.get_by_role("option", name=SCRATCH_SHOWN).click()
    # The offline start switches to its recipe: everything trained, 20 epochs at 0.002 (the library's defaults).
    expect(page.locator("#strategy input[value=full]")).to_be_checked()
    expect(page.locator("#epochs input[type=number]")).to_have_value("20")
    expect(page.locator("#lr input")).to_have_value("0.002")
    assert page.evaluate(START_SHOWN_WHOLE)[1:] == [True, True], page.evaluate(START_SHOWN_WHOLE)

    stop = page.locator("#stop-button")
    expect(stop).to_be_disabled()  # nothing to stop yet
    page.locator("#train-button").click()
    expect(page.locator("#train-status")).to_contain_text(re.compile(r"Epoch [3-9]/20|Epoch 1\d/20"), timeout=180_000)
    expect(stop).to_be_enabled()
    # While it trains: both charts are drawn and nothing covers them; the progress shows in one place only.
    for chart in ("curve", "accuracy-curve"):
        expect(page.locator(f"#{chart} .vega-embed .mark-line path").first).to_be_visible()
        assert page.evaluate(PLOT_UNCOVERED, f"#{chart}"), f"#{chart} is covered while training"
    assert page.evaluate(ACTIVE_TRACKERS) == ["train-status"]

    # Once the epochs are over Stop has nothing to stop: pressed while the model is packaged, it threw the model away.
    first = page.wait_for_function(STOP_WHILE_PACKAGING, timeout=300_000).json_value()
    assert first == "greyed out while packaging", first
    expect(page.locator("#train-status")).to_contain_text("Done:", timeout=300_000)
    expect(stop).to_be_disabled()
    held_out = int(re.search(r"Held-out accuracy (\d+)%", page.locator("#train-status").inner_text()).group(1))
    assert held_out >= 80  # chance is 33%
    expect(page.locator("#per-class")).to_contain_text("gravel")
    table = page.locator("#per-class").inner_text()
    assert len(re.findall(r"^(?:brick|grass|gravel)\s+\d{1,3}%$", table, re.M)) == 3, table  # percentages, as the status says it
    assert legend(page, "accuracy-curve") == {"training (running, augmented)", "held-out (end of epoch)"}
    assert legend(page, "curve") == {"train loss", "held-out loss"}
    for chart in ("curve", "accuracy-curve"):  # whole epochs, in their order (not 1, 1.5, ...; not 1, 10, 11, ..., 2)
        ticks = page.locator(f"#{chart} .vega-embed .role-axis[aria-label^='X-axis'] .role-axis-label text").all_text_contents()
        assert ticks == [str(e) for e in range(1, 21)], ticks

    # The gallery's heading says what it holds: mistakes, or the least sure right answers.
    gallery = page.locator("#mistakes")
    expect(gallery.locator("img").first).to_be_visible()
    captions = gallery.locator(".caption-label").all_inner_texts()
    heading = "Held-out images the model got wrong" if any("→" in c for c in captions) else "No mistakes: "
    expect(gallery).to_contain_text(heading)
    cut = gallery.locator(".caption-label").evaluate_all("(els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.innerText)")
    assert cut == [], f"captions cut off: {cut}"
    shot(page, "finetune", "en", "desktop", tmp_path)
    page.set_viewport_size(WIDTHS["phone"])  # the same results on a phone: captions wrap in their narrower tiles
    page.wait_for_timeout(500)
    cut = gallery.locator(".caption-label").evaluate_all("(els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.innerText)")
    assert cut == [], f"captions cut off at phone width: {cut}"
    page.set_viewport_size(WIDTHS["desktop"])

    # A user error (every class named alike: one class) is said once, and leaves no traceback in the log.
    mark = tour_server.mark()
    for slot in (1, 2):
        page.locator(f"#class-{slot}-name input, #class-{slot}-name textarea").first.fill("brick")
    page.locator("#train-button").click()
    expect(page.locator(".toast-body").first).to_be_visible()
    page.wait_for_timeout(500)
    assert page.evaluate(TRACKERS_SAYING, r"^\s*Error\s*$") == 1
    assert tracebacks(tour_server.log_since(mark)) == 0
    close(page)


# Which comes first: Stop greyed out while the finished model is packaged, or the end of the run.
STOP_WHILE_PACKAGING = """() => {
  const status = document.querySelector('#train-status').innerText, stop = document.querySelector('#stop-button');
  if (status.includes('Packaging the download') && stop.disabled) return 'greyed out while packaging';
  return status.includes('Done:') ? 'done, with Stop pressable all through the packaging' : false;
}"""
# The "Start from" choice is shown whole and its dropdown arrow covers none of it.
START_SHOWN_WHOLE = """() => {
  const input = document.querySelector('#source input'), arrow = document.querySelector('#source .icon-wrap');
  const textRight = input.getBoundingClientRect().right - parseFloat(getComputedStyle(input).paddingRight);
  return [input.value, input.scrollWidth <= input.clientWidth, textRight <= arrow.getBoundingClientRect().left + 1];
}"""


@pytest.mark.parametrize("lang,width", [("en", "phone"), ("zh", "desktop"), ("zh", "phone")])
def test_the_tab_renders_in_each_language_and_width(tour_server, tour_browser, tmp_path, lang, width):
    from playwright.sync_api import expect

    page = open_page(tour_browser, tour_server.url, width=width, lang=lang)
    open_tab(page, "finetune")
    expect(page.locator("#train-button")).to_be_visible()
    expect(page.locator("#per-class")).to_be_hidden()  # no empty table with headers "1 2 3" before there are results
    page.locator("#source input").click()
    page.get_by_role("option", name=SCRATCH_SHOWN if lang == "en" else re.compile("^resnet18（")).click()
    value, fits, clear_of_arrow = page.evaluate(START_SHOWN_WHOLE)
    assert value.startswith("resnet18") and fits and clear_of_arrow, (value, fits, clear_of_arrow)
    if lang == "zh":
        expect(page.locator("#train-button")).to_have_text("开始训练")
        assert english_left(page, ENGLISH) == []
        if width == "desktop":  # with files listed and an event done: Gradio's upload tooltip and its "complete" for screen readers
            page.locator("#sample-button").click()
            expect(page.locator("#class-2-files")).to_contain_text("gravel-15")
            assert raw_keys(page) == []
            labels = set(page.evaluate("() => [...document.querySelectorAll('[aria-label]')].map((e) => e.getAttribute('aria-label'))"))
            assert {"移除此文件", "恢复默认值"} <= labels and not labels & {"Remove this file", "Reset to default value", "Click to upload or drop files"}
    shot(page, "finetune", lang, width, tmp_path)
    close(page)
