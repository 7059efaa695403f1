"""The app in a real browser: Debian's Chromium, headless, driven by playwright (no browser download).

Screenshots of each tab go to the test's tmp folder; with RESNET_STUDIO_SCREENSHOTS=DIR they are
also copied there (the README's pictures come from the tour, tests/test_tour_*.py).
"""

import os
import shutil
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests.conftest import ROOT
from tests.server import AppServer

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MODEL = "timm/resnet18.tv_in1k"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)"),
]


@pytest.fixture(scope="module")
def url(hub_models):
    with AppServer("--model", MODEL) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    # Measuring gradient flow or starting a fine-tune (which imports torchvision) takes seconds on two
    # busy cores: wait for results as long as for actions, not expect()'s default of 5 s.
    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    page.goto(url)
    yield page
    page.close()


def save(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("RESNET_STUDIO_SCREENSHOTS"):
        target = Path(os.environ["RESNET_STUDIO_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)
    return path


def upload_photo(page, photo: Path) -> None:
    """Upload ``photo`` to the Classify tab and wait until the page has cleared the last answer for it.

    A new photo clears the answer through a request of its own: a click on Classify before that request
    returns could see its answer cleared by it.
    """
    with page.expect_response(lambda r: r.request.method == "POST" and "/run/predict" in r.url):
        page.locator("#classify-image input[type=file]").set_input_files(str(photo))


def test_architecture_tab_shows_the_table_and_the_gradient_plot(page, tmp_path):
    from playwright.sync_api import expect

    page.locator("#architecture-button").click()  # "Start here" is the first tab
    expect(page.locator("#totals")).to_contain_text("25,557,032 parameters")
    expect(page.locator("#summary-table")).to_contain_text("layer4.2")
    page.get_by_role("button", name="Measure gradient flow for the chosen depth").click()
    expect(page.locator("#flow-plot .vega-embed .mark-line path").first).to_be_visible()
    expect(page.locator("#flow-text")).to_contain_text("times the last block's")
    save(page, tmp_path, "architecture")


def test_classify_tab_uploads_a_photo_and_reads_the_top_label(page, url, tmp_path):
    from playwright.sync_api import expect

    photo = ROOT / "examples" / "chelsea.png"
    page.get_by_role("tab", name="Classify").click()
    upload_photo(page, photo)
    page.locator("#classify-button").click()
    top = page.locator("#top5 [data-testid=label-output-value]")
    expect(top).not_to_be_empty()
    expected, _, _ = Client(url, verbose=False).predict(handle_file(str(photo)), MODEL, api_name="/classify")
    expect(top).to_have_text(expected["label"])
    expect(page.locator("#gradcam img")).to_be_visible()
    expect(page.locator("#timing")).to_contain_text("ms on cpu")
    save(page, tmp_path, "classify")


def test_finetune_tab_trains_on_the_sample_set(page, tmp_path):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#sample-button").click()
    expect(page.locator("#class-0-name textarea, #class-0-name input").first).to_have_value("brick")
    expect(page.locator("#class-2-files")).to_contain_text("gravel-15")
    page.locator("#train-button").click()
    expect(page.locator("#curve .vega-embed .mark-line path").first).to_be_visible()
    expect(page.locator("#train-status")).to_contain_text("Done:", timeout=180_000)
    expect(page.locator("#confusion img")).to_be_visible()
    expect(page.locator("#per-class")).to_contain_text("gravel")
    save(page, tmp_path, "finetune")
    # The new model is offered in the Classify tab of this session.
    page.get_by_role("tab", name="Classify").click()
    expect(page.locator("#model-picker input")).to_have_value("fine-tuned 1: brick, grass, gravel")


def test_a_sessions_files_are_removed_when_its_page_closes(hub_models, browser, tmp_path):
    from playwright.sync_api import expect

    with AppServer("--model", MODEL, env={"TMPDIR": str(tmp_path)}) as url:
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        page.get_by_role("tab", name="Fine-tune").click()
        page.locator("#sample-button").click()
        expect(page.locator("#class-2-files")).to_contain_text("gravel-15")
        (app_tmp,) = tmp_path.glob("resnet-studio-*")
        sessions = [d for d in app_tmp.iterdir() if d.is_dir()]
        assert len(sessions) == 1 and len(list(sessions[0].rglob("*.png"))) == 48
        page.close()
        deadline = time.monotonic() + 60
        while sessions[0].exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not sessions[0].exists()


@pytest.mark.parametrize(
    "lang, tabs, button, measured",
    [
        ("zh-CN", ["从这里开始", "网络结构", "图像分类", "微调"], "测量所选深度的梯度流", "刚刚测得"),
        ("en-US", ["Start here", "Architecture", "Classify", "Fine-tune"], "Measure gradient flow for the chosen depth", "Measured just now"),
        ("fr-FR", ["Start here", "Architecture", "Classify", "Fine-tune"], "Measure gradient flow for the chosen depth", "Measured just now"),  # no French: English
    ],
)
def test_the_page_speaks_the_browsers_language(browser, url, tmp_path, lang, tabs, button, measured):
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)  # a measurement on two busy cores
    # A Chromium of its own, started in this language (the shared one has playwright's defaults).
    localised = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=[*ARGS, f"--lang={lang}"])
    try:
        page = localised.new_context(locale=lang, viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        expect(page.get_by_role("tab").first).to_have_text(tabs[0])
        assert [t.inner_text() for t in page.get_by_role("tab").all()][:4] == tabs
        page.locator("#architecture-button").click()
        expect(page.locator("#totals")).to_contain_text("25,557,032")  # written by the server, in this language
        if lang == "zh-CN":
            expect(page.locator("#totals")).to_contain_text("个参数")
        page.locator("#architecture-depth input[type=radio][value=resnet18]").check()  # a quick measurement
        expect(page.locator("#totals")).to_contain_text("11,689,512")
        page.get_by_role("button", name=button).click()
        expect(page.locator("#flow-text")).to_contain_text(measured)
        if lang == "zh-CN":
            expect(page.locator("#flow-text")).to_contain_text("普通网络")
            save(page, tmp_path, "architecture-zh")
    finally:
        localised.close()
