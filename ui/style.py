"""The page's own look and behaviour beyond Gradio's defaults: ``CSS`` and a start-up script, ``JS``.

- The Inside tab's diagram scrolls sideways in its box at its drawn size: on a phone, shrinking it to
  the window made its text 4 px high.
- The tab bar wraps onto more lines on a narrow screen, where Gradio's default hides the tabs that do
  not fit behind a "..." menu (three of five on a phone). ``gr.Tabs(overflow_behavior="wrap")`` would
  say so, but in Gradio 6.31 an explicit ``gr.Tabs`` around our tabs loses one: opening the Fine-tune
  tab (rendered on first opening) drew it twice and the next tab not at all. So the page keeps Gradio's
  implicit tab bar; the CSS gives its hidden measuring copy of the buttons no width (all tabs then
  "fit" and none goes to the menu) and lets the real bar wrap as the "wrap" mode does.
- A dropdown's arrow sits over the end of its input: the Fine-tune tab's "Start from" keeps the arrow's
  width free, so a long choice ends in an ellipsis beside the arrow, not under it.
- ``JS`` (run once when the page loads) sets ``<html lang>`` to the language Gradio chose (so the
  browser picks Simplified Chinese glyphs and screen readers the right voice), and translates the
  texts Gradio 6.31 writes without its i18n ("Click to Access Webcam" in ``gr.Image``'s webcam source,
  a few whole aria-labels, the start of a slider's aria-labels).

Gradio's own widget texts (upload, buttons, footer) follow the browser's language through its bundled
translations; the few its Chinese file lacks are keys of ``ui/locales`` (``GRADIO_KEYS``), which
``launch(i18n=...)`` hands to the browser with ours.
"""

from __future__ import annotations

import json

from .i18n import LANGUAGES

__all__ = ["CSS", "GRADIO_KEYS", "JS", "UNTRANSLATED", "UNTRANSLATED_PREFIXES"]

# Keys of Gradio's own texts that its bundled zh-CN translation lacks (so a Chinese page showed "Runs",
# "In queue ..."): ui/locales gives them in both languages, and launch(i18n=...) hands them to the browser.
GRADIO_KEYS = (
    "common.runs", "common.runs_description", "common.back_to_app", "common.back_to_app_description", "common.download_all",
    "common.progress", "common.run", "status.queue_position", "dataframe.filter", "dataframe.clear_filter",
    "common.complete", "common.upload",  # in no bundled language: a screen reader's "done" and a file list's upload tooltip showed the key
)
# Texts Gradio's frontend writes as plain strings, not through its i18n -> our key for them: whole texts, and
# the English start of the slider's aria-labels ("number input for Input size (pixels)").
UNTRANSLATED = {
    "Click to Access Webcam": "gradio.webcam", "Error": "gradio.error", "Warning": "gradio.warning",  # toast titles: gr.Error's default
    # Whole aria-labels, read out by screen readers: a file list's remove button, a slider's reset, an upload area.
    "Remove this file": "gradio.remove_file", "Reset to default value": "gradio.reset", "Click to upload or drop files": "gradio.upload_or_drop",
}
UNTRANSLATED_PREFIXES = {"number input for ": "gradio.number_input_for", "range slider for ": "gradio.range_slider_for"}

CSS = """
#inside-diagram .resnet-diagram { overflow-x: auto; -webkit-overflow-scrolling: touch; }
#inside-diagram .resnet-diagram svg { max-width: none; }
#mistakes .caption-label { white-space: normal; max-width: calc(100% - 8px); }
#source input { padding-right: 24px; text-overflow: ellipsis; }
.tab-wrapper > .tab-container.visually-hidden > button { padding: 0 !important; border: 0 !important; font-size: 0 !important; }
.tab-wrapper { height: auto !important; }
.tab-wrapper > .tab-container[role=tablist] { flex-wrap: wrap; height: auto; overflow: visible; }
.tab-wrapper > .tab-container[role=tablist] > button { height: var(--size-8); }
"""


def _translations(table: dict[str, str]) -> dict[str, dict[str, str]]:
    """Language -> {Gradio's English: our text}, for the languages whose text differs."""
    return {code: {en: strings[key] for en, key in table.items() if strings[key] != en} for code, strings in LANGUAGES.items()}


def _script() -> str:
    texts, prefixes = _translations(UNTRANSLATED), _translations(UNTRANSLATED_PREFIXES)
    # Gradio picks its language as this does: the browser's own tag if it has it, else its first part, else English.
    return """() => {
  const texts = %s, prefixes = %s;
  const tag = navigator.language || "en";
  const lang = tag in texts ? tag : (tag.split("-")[0] in texts ? tag.split("-")[0] : "en");
  document.documentElement.lang = lang;
  const text = texts[lang] || {}, prefix = Object.entries(prefixes[lang] || {});
  if (!Object.keys(text).length && !prefix.length) return;
  const label = (el) => {
    const said = el.getAttribute && el.getAttribute("aria-label");
    if (!said) return;
    if (said in text) return el.setAttribute("aria-label", text[said]);
    const hit = prefix.find(([en]) => said.startsWith(en));
    if (hit) el.setAttribute("aria-label", hit[1] + said.slice(hit[0].length));
  };
  const swap = (node) => {
    if (node.nodeType === 1) { label(node); node.querySelectorAll("[aria-label]").forEach(label); }
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    for (let t = node.nodeType === 3 ? node : walker.nextNode(); t; t = walker.nextNode()) {
      const said = t.nodeValue.trim();
      if (said in text) t.nodeValue = t.nodeValue.replace(said, text[said]);
    }
  };
  swap(document.body);
  new MutationObserver((changes) => changes.forEach((c) => {
    if (c.type === "attributes") label(c.target); else if (c.type === "characterData") swap(c.target); else c.addedNodes.forEach(swap);
  })).observe(document.body, {childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["aria-label"]});
}""" % (json.dumps(texts, ensure_ascii=False), json.dumps(prefixes, ensure_ascii=False))


JS = _script()

