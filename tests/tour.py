"""The browser tour's shared set-up: one real server and one Chromium for every ``tests/test_tour_*.py``.

Each tour file drives one tab at desktop (1280x900) and phone (390x844) width, in English and
Chinese, and asserts what the page DRAWS: legend entries, positions against the viewport,
truncated text, English left in a Chinese page, tracebacks in the server's log. Screenshots are
named ``<tab>-<lang>-<width>.png``; with ``RESNET_STUDIO_SCREENSHOTS=DIR`` they are copied there
(``docs/screenshots`` holds the README's, made this way).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Iterable, Iterator, Optional

import pytest

from tests.server import AppServer

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MODEL = "timm/resnet18.tv_in1k"  # the smallest cached checkpoint: the tour is about the page, not the network
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
LOCALES = {"en": "en-US", "zh": "zh-CN"}

browser_only = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)"),
]


class TourServer:
    """The app's URL and its log file: what a tour step printed is read back with ``log_since``."""

    def __init__(self, server: AppServer, log: Path) -> None:
        self.server, self.url, self.log = server, server.url, log

    def mark(self) -> int:
        """The log's current length: pass it to ``log_since`` to read only what a step printed."""
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, mark: int) -> str:
        with open(self.log, encoding="utf-8", errors="replace") as f:
            f.seek(mark)
            return f.read()


@pytest.fixture(scope="session")
def tour_server(hub_models, tmp_path_factory) -> Iterator[TourServer]:
    """``python app.py --model MODEL`` on a free port with the test Hub cache, its output in a file of the test's."""
    tmp = tmp_path_factory.mktemp("tour")
    server = AppServer("--model", MODEL, env={"TMPDIR": str(tmp)}, timeout=180, log=tmp / "server.log")  # importing torch + gradio on two shared, busy cores
    with server:
        log = server.log_path
        yield TourServer(server, log)


@pytest.fixture(scope="session")
def tour_browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # two busy cores: results take seconds
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
        yield browser
        browser.close()


def open_page(browser, url: str, *, width: str = "desktop", lang: str = "en"):
    """A new page (its own context: its own Gradio session) at ``width`` in ``lang``, the app loaded."""
    context = browser.new_context(viewport=WIDTHS[width], locale=LOCALES[lang], extra_http_headers={"Accept-Language": LOCALES[lang]})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector("gradio-app .tabs, gradio-app [role=tablist]", timeout=60_000)
    return page


def close(page) -> None:
    page.context.close()


def open_tab(page, elem_id: str, *, name: Optional[str] = None) -> None:
    """Click the tab whose button has ``#<elem_id>-button`` (Gradio's id for a ``gr.Tab(elem_id=...)``).

    On a narrow page Gradio moves tabs that do not fit into its "More tabs" menu, whose buttons have no
    id: there the tab is found by its shown ``name`` (in the page's language), when given.
    """
    button = page.locator(f"#{elem_id}-button")
    if name is not None and not button.is_visible():
        page.locator(".overflow-menu > button").click()
        page.locator(".overflow-dropdown button").filter(has_text=re.compile(f"^{re.escape(name)}$")).click()
        return
    button.click()


def shot(page, tab: str, lang: str, width: str, tmp_path: Path, *, full_page: bool = True) -> Path:
    """Save ``<tab>-<lang>-<width>.png`` in ``tmp_path`` (and in ``$RESNET_STUDIO_SCREENSHOTS``)."""
    path = tmp_path / f"{tab}-{lang}-{width}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000, f"{path.name} is nearly empty"
    target = os.environ.get("RESNET_STUDIO_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    return path


def columns_outside(page, table_selector: str) -> list[str]:
    """Header texts of the table under ``table_selector`` whose right edge lies past the viewport or
    past a scrolling ancestor's visible box (a column the user must scroll sideways to find)."""
    return page.evaluate(
        """(sel) => {
            const root = document.querySelector(sel);
            if (!root) return ["<no table at " + sel + ">"];
            const vw = document.documentElement.clientWidth;
            const out = [];
            for (const th of root.querySelectorAll("th")) {
                const r = th.getBoundingClientRect();
                if (r.width === 0) continue;
                let right = vw;
                for (let a = th.parentElement; a; a = a.parentElement) {
                    const s = getComputedStyle(a);
                    if (/(auto|scroll|hidden)/.test(s.overflowX)) right = Math.min(right, a.getBoundingClientRect().right);
                }
                if (r.right > right + 1) out.push(th.innerText.trim());
            }
            return out;
        }""",
        table_selector,
    )


def truncated(page, selector: str) -> bool:
    """True when the element's text is cut off (wider than its box) or another element covers its centre."""
    return page.evaluate(
        """(sel) => {
            const el = document.querySelector(sel);
            if (!el) return true;
            if (el.scrollWidth > el.clientWidth + 1) return true;
            const r = el.getBoundingClientRect();
            const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return !(top && (el === top || el.contains(top)));
        }""",
        selector,
    )


def english_left(page, texts: Iterable[str]) -> list[str]:
    """Those of ``texts`` that a person sees on the page (its visible text, placeholders and labels)."""
    seen = page.evaluate(
        """() => {
            const parts = [document.body.innerText];
            for (const el of document.querySelectorAll("[placeholder], [aria-label], [title]")) {
                if (el.offsetParent === null) continue;
                parts.push(el.getAttribute("placeholder") || "", el.getAttribute("aria-label") || "", el.getAttribute("title") || "");
            }
            return parts.join("\\n");
        }"""
    )
    return [t for t in texts if t in seen]


def tabs_out_of_view(page) -> list[str]:
    """Tab names a person cannot tap without scrolling or a menu: buttons outside the viewport, and
    "..." when Gradio's overflow menu ("More tabs") is shown."""
    return page.evaluate(
        """() => {
            const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
            const out = [...document.querySelectorAll("[role=tablist] > [role=tab]")].filter((b) => {
                const r = b.getBoundingClientRect();
                return r.width === 0 || r.left < 0 || r.right > vw + 1 || r.top < 0 || r.bottom > vh;
            }).map((b) => b.innerText.trim());
            if (document.querySelectorAll(".overflow-dropdown button").length) out.push("...");  // tabs moved into the menu
            return out;
        }"""
    )


def raw_booleans(page) -> list[str]:
    """Visible table cells that show a raw ``true``/``false`` instead of words."""
    return page.evaluate(
        """() => [...document.querySelectorAll("td")].filter((td) => td.offsetParent !== null)
            .map((td) => td.innerText.trim()).filter((t) => ["true", "false", "True", "False"].includes(t))"""
    )


def raw_keys(page) -> list[str]:
    """Gradio i18n keys shown as they are ("common.upload"), in text, titles or labels for screen readers: a key no language has."""
    return page.evaluate(
        """() => { const key = /^(common|upload_text|status|dataframe|file|image|chatbot|errors)\\.[a-z_]+$/, found = [];
            for (const e of document.querySelectorAll('body *')) {
                for (const v of [e.childElementCount ? '' : e.textContent.trim(), e.getAttribute('title'), e.getAttribute('aria-label')])
                    if (v && key.test(v.trim())) found.push(v.trim());
            }
            return [...new Set(found)]; }"""
    )


def visible_box(locator) -> Optional[dict]:
    """The element's box in page coordinates (None when it is not drawn)."""
    return locator.bounding_box()


def legend_colours(page, selector: str) -> dict[str, str]:
    """A vega chart's legend as drawn: each label -> its symbol's colour, as hex (``#rrggbb``)."""
    return page.evaluate(
        """(sel) => {
            const labels = [...document.querySelectorAll(sel + ' .vega-embed .role-legend-label text')].map((t) => t.textContent);
            const symbols = [...document.querySelectorAll(sel + ' .vega-embed .role-legend-symbol path')].map((p) => getComputedStyle(p).stroke);
            const hex = (rgb) => '#' + rgb.match(/\\d+/g).slice(0, 3).map((v) => Number(v).toString(16).padStart(2, '0')).join('');
            return Object.fromEntries(labels.map((label, i) => [label, hex(symbols[i])]));
        }""",
        selector,
    )


def tracebacks(log_text: str) -> int:
    return log_text.count("Traceback (most recent call last)")


def finish_desktop_tour(page, tab: str, server, mark: int, tmp_path: Path) -> None:
    """The end of a tab's English desktop tour: its screenshot, the page closed, no traceback in the server's log since ``mark``."""
    shot(page, tab, "en", "desktop", tmp_path)
    close(page)
    assert tracebacks(server.log_since(mark)) == 0
