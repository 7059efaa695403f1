"""``pip install .`` gives a working app outside the checkout: every module, the files it reads, the ``resnet-studio`` command.

The package is installed (no dependencies: this venv has them) into a temporary folder from a copy of the
sources, and everything below runs from another folder with only that one on ``PYTHONPATH``, so a file
read from the checkout instead of the installed package would fail here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.server import free_port

SOURCES = ("resnet", "train", "ui", "examples", "pyproject.toml", "requirements.txt", "README.md")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The package installed into ``site``; ``env`` runs Python against it from ``elsewhere``."""
    tmp = tmp_path_factory.mktemp("package")
    source, site, elsewhere = tmp / "source", tmp / "site", tmp / "elsewhere"
    for name in SOURCES:  # a copy: building writes build/ and *.egg-info next to the sources
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", "--target", str(site), str(source)]
    out = subprocess.run(pip, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    return {"site": site, "elsewhere": elsewhere, "env": env}


def run(installed: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=installed["elsewhere"], env=installed["env"], capture_output=True, text=True, timeout=120)


def test_modules_and_their_files_come_from_the_installed_package(installed):
    code = (
        "import resnet, train, ui.i18n, ui.locales.zh_cn; from resnet.config import imagenet_labels; from ui import samples, classify; "
        "print(resnet.__file__); print(len(imagenet_labels())); print(sorted(ui.i18n.LANGUAGES)); "
        "print(sorted(p.name for p in classify.EXAMPLES.glob('*.png'))[:2]); print(len(list(samples.TEXTURES.glob('*.png'))))"
    )
    out = run(installed, sys.executable, "-c", code)
    assert out.returncode == 0, out.stderr[-3000:]
    where, labels, languages, photos, textures = out.stdout.strip().splitlines()
    assert Path(where).is_relative_to(installed["site"])
    assert labels == "1000"
    assert languages == "['en', 'zh-CN']"
    assert photos == "['camera.png', 'chelsea.png']" and textures == "3"


def test_every_file_the_app_reads_is_installed(installed):
    for pattern in ("resnet/**/*.txt", "train/**/*.npz", "ui/**/*.py", "examples/**/*.png", "examples/**/*.jpg", "examples/LICENSES.md"):
        for path in ROOT.glob(pattern):
            if "__pycache__" not in path.parts:
                assert (installed["site"] / path.relative_to(ROOT)).is_file(), path.relative_to(ROOT)


def test_the_labs_command_line_answers(installed):
    lab = run(installed, sys.executable, "-m", "train.lab", "--help")
    assert lab.returncode == 0 and "--steps" in lab.stdout, lab.stderr[-2000:]


def test_resnet_studio_serves_the_page_from_any_folder(installed):
    port = free_port()
    env = {**installed["env"], "GRADIO_SERVER_PORT": str(port)}
    proc = subprocess.Popen([str(installed["site"] / "bin" / "resnet-studio")], cwd=installed["elsewhere"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"resnet-studio did not answer: {proc.stdout.read()[-3000:] if proc.poll() is not None else 'still starting'}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
