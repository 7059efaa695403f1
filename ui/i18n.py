"""English and Simplified Chinese: static texts through ``gr.I18n`` (the browser picks), texts made at run time through the request's language.

Gradio translates what the page is built with (labels, buttons, Markdown) in the browser,
from the dictionaries given to ``launch(i18n=...)``. What a callback writes (a measured
summary, an error) is made on the server: ``text(request, key, **params)`` reads the
request's ``Accept-Language`` and fills the template of the best language, English when the
browser asks for one the app does not have.
"""

from __future__ import annotations

import re
from typing import Any, Optional, Union

import gradio as gr

from .locales import en, zh_cn

__all__ = ["I18N", "LANGUAGES", "error_text", "language", "problem_text", "static", "text"]

LANGUAGES: dict[str, dict[str, str]] = {"en": en.STRINGS, "zh-CN": zh_cn.STRINGS}
FALLBACK = "en"
_CONSTANT = re.compile(r"\{(max_images|max_mb)\}")


def _with_constants(strings: dict[str, str]) -> dict[str, str]:
    """The app's limits written into the static texts once (the browser's translation fills no placeholders)."""
    from resnet.transforms import MAX_IMAGE_BYTES
    from train.finetune import MAX_IMAGES

    values = {"max_images": str(MAX_IMAGES), "max_mb": str(MAX_IMAGE_BYTES // 2**20)}
    return {key: _CONSTANT.sub(lambda m: values[m.group(1)], value) for key, value in strings.items()}


I18N = gr.I18n(**{code: _with_constants(strings) for code, strings in LANGUAGES.items()})


def static(key: str) -> gr.i18n.I18nData:
    """A text the browser translates: for labels, buttons, tab names and Markdown the page is built with."""
    if key not in LANGUAGES[FALLBACK]:
        raise KeyError(f"no English text for {key!r}; add it to ui/locales/en.py and zh_cn.py")
    return I18N(key)


def language(request: Union[gr.Request, str, None]) -> str:
    """The app's language closest to what the request asks for (``Accept-Language``), else English."""
    if isinstance(request, str):
        return request if request in LANGUAGES else FALLBACK
    header = ""
    if request is not None:
        header = (getattr(request, "headers", None) or {}).get("accept-language", "") or ""
    ranked = []
    for position, part in enumerate(header.split(",")):
        tag, _, weight = part.strip().partition(";q=")
        try:
            quality = float(weight) if weight else 1.0
        except ValueError:
            quality = 0.0
        if tag:
            ranked.append((-quality, position, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh") and not tag.startswith(("zh-tw", "zh-hk", "zh-mo", "zh-hant")):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return FALLBACK


def text(request: Union[gr.Request, str, None], key: str, **params: Any) -> str:
    """The text for ``key`` in the request's language, its ``{placeholders}`` filled from ``params``."""
    strings = LANGUAGES[language(request)]
    template = strings.get(key, LANGUAGES[FALLBACK][key])
    return _with_constants({key: template})[key].format(**params)


def error_text(request: Optional[gr.Request], error: Exception) -> str:
    """An ``ImageError`` or ``DataError`` in the request's language, from its code and parameters."""
    from resnet.transforms import ImageError

    problems = getattr(error, "problems", None)  # train.checks.DataCheckError: each problem worded
    if problems:
        return "; ".join(problem_text(request, p) for p in problems)
    family = "image" if isinstance(error, ImageError) else "data"
    code, params = getattr(error, "code", None), getattr(error, "params", {})
    if code is None or f"{family}.{code}" not in LANGUAGES[FALLBACK]:
        return text(request, "error.invalid", reason=str(error))
    return text(request, f"{family}.{code}", **params)


def problem_text(request: Optional[gr.Request], problem: Any) -> str:
    """A ``train.checks.Problem`` in the request's language."""
    return text(request, f"check.{problem.code}", **problem.params)
