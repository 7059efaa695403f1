"""The app's two languages: the dictionaries agree, every key is used, requests get their language."""

import re
import string
from pathlib import Path
from types import SimpleNamespace

import pytest

from resnet.checkpoints.config import CheckpointError
from tests.conftest import ROOT
from train import lab
from train.checks import MESSAGES
from train.finetune import MAX_IMAGES
from train.lab import findings as lab_describe
from ui.i18n import LANGUAGES, language, text
from ui.models import _ADVICE_BY_REASON

SOURCES = [ROOT / "app.py", *sorted(p for p in (ROOT / "ui").rglob("*.py") if "locales" not in p.parts)]
# Keys built at run time from a code: the family prefix and where its codes come from.
FAMILIES = {
    "load.": set(CheckpointError.REASONS),
    "image.": set(re.findall(r'code="(\w+)"', (ROOT / "resnet" / "transforms.py").read_text())),
    "data.": set(re.findall(r'code="(\w+)"', (ROOT / "train" / "data.py").read_text() + (ROOT / "train" / "zips.py").read_text())) | {"data"},
    "zip.": set(re.findall(r'ZipNote\("(\w+)"', (ROOT / "train" / "zips.py").read_text())),
    "check.": set(MESSAGES),
}


# The message codes train.lab.describe returns (its English wording is keyed by them; "measure" has two keys of ours).
LAB_CODES = set(lab_describe._ENGLISH) - {"measure"}


def fields(template: str) -> set[tuple[str, str]]:
    return {(name, conversion or "") for _, name, _, conversion in string.Formatter().parse(template) if name is not None}


def used_keys() -> set[str]:
    source = "\n".join(p.read_text(encoding="utf-8") for p in SOURCES)
    keys = set(re.findall(r'"([^"\n]+)"', source)) & set(LANGUAGES["en"])  # every literal that names a key
    # f-string keys: f"column.{c}", f"network.{network}", ...: expand from the values the code gives them
    for prefix, values in FAMILIES.items():
        keys |= {prefix + v for v in values}
    return keys


def test_both_languages_have_the_same_keys_and_placeholders():
    en, zh = LANGUAGES["en"], LANGUAGES["zh-CN"]
    assert set(en) == set(zh), (set(en) ^ set(zh))
    for key in en:
        assert fields(en[key]) == fields(zh[key]), key
        assert zh[key].strip(), key


def test_every_code_a_library_raises_has_a_text():
    for prefix, codes in FAMILIES.items():
        for code in codes:
            assert prefix + code in LANGUAGES["en"], prefix + code


def test_data_check_texts_take_the_parameters_of_the_english_messages():
    for code, english in MESSAGES.items():
        assert fields(LANGUAGES["en"][f"check.{code}"]) == fields(english), code


def test_no_key_is_unused():
    used = used_keys()
    dynamic = {  # keys whose last part comes from a variable; listed with the values the code uses
        *(f"column.{c}" for c in ("layer", "type", "input", "output", "kernel/stride", "params", "MACs (M)", "output (kB)",
                                   "RF size/stride", "depth", "params (M)", "GMACs", "forward ms", "fast ms", "top1", "checkpoint")),
        "network.plain", "network.residual",
        *(f"arch.rows.{r}" for r in ("layers", "blocks", "stages")),
        *(f"finetune.strategy.{s}" for s in ("head", "last-stage", "full")),
        *(f"finetune.series.{k}" for k in ("train_loss", "val_loss", "train_top1", "val_top1")),
        *(f"lab.preset.{p}" for p in lab.PRESETS),
        *(f"lab.{code}" for code in LAB_CODES),
        *(f"models.advice.{reason}" for reason in _ADVICE_BY_REASON),
    }
    unused = set(LANGUAGES["en"]) - used - dynamic
    assert not unused, sorted(unused)
    # The summary's columns are the ones the library writes.
    from resnet.anatomy.summary import FRAME_COLUMNS

    assert {f"column.{c}" for c in FRAME_COLUMNS} <= set(LANGUAGES["en"])


@pytest.mark.parametrize(
    "header, expected",
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("zh", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9", "en"),  # a language the app does not have: English
        ("fr;q=0.9,zh-CN;q=0.8", "zh-CN"),
        ("en;q=0.5,zh-CN;q=0.9", "zh-CN"),
        ("", "en"),
    ],
)
def test_the_request_language_follows_accept_language(header, expected):
    assert language(SimpleNamespace(headers={"accept-language": header})) == expected


def test_runtime_texts_are_filled_in_the_request_language():
    zh = SimpleNamespace(headers={"accept-language": "zh-CN"})
    assert text(zh, "finetune.epoch", epoch=2, epochs=5) == "第 2/5 轮"
    assert text(None, "finetune.epoch", epoch=2, epochs=5) == "Epoch 2/5"
    intro = text(None, "finetune.intro")
    assert f"At most {MAX_IMAGES} images" in intro and "25 MB" in intro  # the app's limits, filled in once
    with pytest.raises(KeyError):
        text(None, "no.such.key")


def test_the_library_stays_language_free():
    for path in sorted((ROOT / "resnet").rglob("*.py")) + sorted((ROOT / "train").rglob("*.py")):
        assert not re.search(r"[\u4e00-\u9fff]", path.read_text(encoding="utf-8")), path
        assert "ui.i18n" not in path.read_text(encoding="utf-8"), path
    assert Path(ROOT / "ui" / "locales" / "zh_cn.py").is_file()


def test_gradios_own_texts_that_its_chinese_lacks_are_given_in_both_languages():
    import gradio

    from ui.style import GRADIO_KEYS, UNTRANSLATED, UNTRANSLATED_PREFIXES

    assets = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    bundles = "".join(p.read_text(encoding="utf-8", errors="replace") for p in assets.glob("*.js"))
    for key in [*GRADIO_KEYS, *UNTRANSLATED.values(), *UNTRANSLATED_PREFIXES.values()]:
        english, chinese = LANGUAGES["en"][key], LANGUAGES["zh-CN"][key]
        assert english in bundles, (key, english)  # Gradio's very words: the key or the text it writes
        assert re.search(r"[\u4e00-\u9fff]", chinese), (key, chinese)
    for english, key in UNTRANSLATED.items():
        assert LANGUAGES["en"][key] == english
