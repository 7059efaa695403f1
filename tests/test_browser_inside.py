"""The Inside the network tab in a real browser: the diagram folds by stage inside gr.HTML, and a photo goes inside.

Screenshots go to the test's tmp folder, and with RESNET_STUDIO_SCREENSHOTS=DIR also there
(the README's pictures come from the tour, tests/test_tour_*.py).
"""

import os
import re

import pytest

from tests.server import AppServer
from tests.test_browser import ARGS, CHROMIUM, MODEL, save

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)"),
]


@pytest.fixture(scope="module")
def page(hub_models):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)  # two busy cores: a forward pass through two networks takes seconds
    with AppServer("--model", MODEL) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(url)
        page.get_by_role("tab", name="Inside the network").click()
        yield page
        browser.close()


def test_the_diagram_is_folded_by_stage_and_a_click_unfolds_it(page, tmp_path):
    from playwright.sync_api import expect

    diagram = page.locator("#inside-diagram")
    stages = diagram.locator("details.stage")
    expect(stages).to_have_count(4)  # ResNet-50: gradio's HTML keeps <details> and <summary>
    expect(stages.first.locator("summary").first).to_have_text("layer1: 3 x Bottleneck, 256 x 56 x 56")
    layer1 = diagram.locator("details.stage[data-name=layer1]")
    blocks = layer1.locator("details.block-fold")
    expect(blocks).to_have_count(3)
    expect(blocks.first).to_be_hidden()
    layer1.locator("summary").first.click()
    for i in range(3):
        expect(blocks.nth(i)).to_be_visible()
    drawing = diagram.locator('g.block[data-name="layer1.0"]')
    expect(drawing).to_be_hidden()
    blocks.first.locator("summary").click()
    expect(drawing).to_be_visible()
    expect(drawing.locator("g.projection")).to_be_visible()  # layer1.0 widens 64 to 256 channels: a projection
    expect(diagram.locator("details.stage[data-name=layer2] details.block-fold").first).to_be_hidden()
    expect(page.locator("#inside-svg a")).to_have_attribute("href", re.compile(r"/diagram-resnet50-residual-224\.svg$"))
    page.locator("#inside-photo-part").get_by_text("A photo through a checkpoint").click()  # the picture shows the diagram only
    save(page, tmp_path, "diagram")
    page.locator("#inside-photo-part").get_by_text("A photo through a checkpoint").click()


def test_an_example_photo_goes_inside_the_network(page, tmp_path):
    from playwright.sync_api import expect

    page.locator("#inside-diagram-part").get_by_text("The network, block by block").click()  # fold the diagram away
    expect(page.locator("#inside-diagram")).to_be_hidden()
    page.locator("#inside-examples button.gallery-item").nth(1).click()  # chelsea.png, sorted after camera.png
    expect(page.locator("#inside-image img")).to_be_visible()
    page.locator("#inside-button").click()
    expect(page.locator("#inside-text")).to_contain_text("Layer responses")
    expect(page.locator("#inside-text")).to_contain_text("these weights were trained")
    grids = page.locator("#inside-grids img")
    expect(grids).to_have_count(6)
    for i in range(6):
        expect(grids.nth(i)).to_be_visible()
    expect(page.locator("#inside-grids")).to_contain_text("layer4, 512 x 7 x 7")
    expect(page.locator("#inside-filters img")).to_be_visible()
    for series in ("residual", "plain"):
        expect(page.locator(f"#inside-plot svg polyline.series.{series}")).to_be_visible()
    save(page, tmp_path, "inside")
