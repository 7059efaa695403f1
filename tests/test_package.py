"""``pip install .`` gives a working app outside the checkout: every module, the files it reads, the commands.

The package is installed (no dependencies: this venv has them) into a temporary folder from a copy of the
sources, and everything below runs from another folder with only that one on ``PYTHONPATH``. A guard
(``sitecustomize``, an audit hook) makes every open or listing of a path inside the checkout fail, the
virtual environment aside, so code that still reads ``examples/`` or a data file from the checkout fails
here even where that file exists.
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
REFUSED = "READ FROM THE CHECKOUT:"
# Loaded by every Python started with the package's environment (it is on PYTHONPATH), before the program runs.
GUARD = f'''
import os, sys

_CHECKOUT = os.path.abspath(os.environ["PACKAGE_TEST_CHECKOUT"])
_ALLOWED = tuple({{os.path.abspath(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix)}})  # the interpreter and venv


def _under(path, folder):
    return path == folder or path.startswith(folder + os.sep)


def _guard(event, args):
    if event in ("open", "os.listdir", "os.scandir") and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.abspath(os.fsdecode(args[0]))
        if _under(path, _CHECKOUT) and not any(_under(path, folder) for folder in _ALLOWED):
            sys.stderr.write("{REFUSED} " + path + "\\n")  # said even where the program catches the error
            raise PermissionError("{REFUSED} " + path)


sys.addaudithook(_guard)
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The package installed into ``site``; ``env`` runs Python against it, guarded, from ``elsewhere``."""
    tmp = tmp_path_factory.mktemp("package")
    source, site, guard, elsewhere = tmp / "source", tmp / "site", tmp / "guard", tmp / "elsewhere"
    for name in SOURCES:  # a copy: building writes build/ and *.egg-info next to the sources
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", "--target", str(site), str(source)]
    out = subprocess.run(pip, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(guard)]), "PYTHONSAFEPATH": "1", "PACKAGE_TEST_CHECKOUT": str(ROOT)}
    return {"site": site, "elsewhere": elsewhere, "env": env}


def run(installed: dict, *args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run(list(args), cwd=cwd or installed["elsewhere"], env=env or installed["env"], capture_output=True, text=True, timeout=120)
    assert REFUSED not in out.stderr, out.stderr[-3000:]
    return out


def test_the_guard_refuses_a_read_from_the_checkout(installed):
    out = subprocess.run([sys.executable, "-c", f"open({str(ROOT / 'pyproject.toml')!r})"], cwd=installed["elsewhere"],
                         env=installed["env"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and REFUSED in out.stderr, out.stderr[-2000:]


def test_modules_and_their_files_come_from_the_installed_package(installed):
    code = (
        "import resnet, train, ui.i18n, ui.locales.zh_cn; from resnet.checkpoints.config import imagenet_labels; from resnet import assets; "
        "print(resnet.__file__); print(assets.EXAMPLES); print(len(imagenet_labels())); print(sorted(ui.i18n.LANGUAGES)); "
        "print([p.name for p in assets.example_photos()][:2]); print(len(list(assets.TEXTURES.glob('*.png'))))"
    )
    out = run(installed, sys.executable, "-c", code)
    assert out.returncode == 0, out.stderr[-3000:]
    where, examples, labels, languages, photos, textures = out.stdout.strip().splitlines()
    assert Path(where).is_relative_to(installed["site"]) and Path(examples).is_relative_to(installed["site"])
    assert labels == "1000"
    assert languages == "['en', 'zh-CN']"
    assert photos == "['camera.png', 'chelsea.png']" and textures == "3"


def test_every_file_the_app_reads_is_installed(installed):
    patterns = ("resnet/**/*.txt", "train/**/*.npz", "ui/**/*.py", "ui/**/*.json", "examples/**/*.png", "examples/**/*.jpg", "examples/LICENSES.md")
    for pattern in patterns:
        for path in ROOT.glob(pattern):
            if "__pycache__" not in path.parts:
                assert (installed["site"] / path.relative_to(ROOT)).is_file(), path.relative_to(ROOT)


def test_the_lab_reads_its_shipped_data_whatever_the_working_folder_holds(installed, tmp_path):
    # The working folder is on sys.path here (no PYTHONSAFEPATH, as for a user's ``python -m``), and it holds an
    # examples/ folder of its own: the photo patches still come from the shipped photos alone.
    (tmp_path / "examples").mkdir()
    shutil.copy2(ROOT / "examples" / "chelsea.png", tmp_path / "examples" / "decoy.png")
    env = {key: value for key, value in installed["env"].items() if key != "PYTHONSAFEPATH"}
    code = "from train.lab import load_data\nfor data in ('patches', 'digits'): print(load_data(data, image_size=16, seed=0).describe())"
    out = run(installed, sys.executable, "-c", code, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    patches, digits = out.stdout.strip().splitlines()
    assert "'classes': ['camera', 'chelsea', 'coffee', 'coins', 'rocket'], 'train_images': 1280, 'held_out_images': 320" in patches
    assert "'data': 'UCI handwritten digits'" in digits and "'train_images': 1438, 'held_out_images': 359" in digits


@pytest.mark.parametrize("command, expected", [
    ("python -m train.lab --help", "--steps"),
    ("python -m train --help", "--data"),
    ("python -m resnet --help", "summary"),
    ("resnet-studio --help", "--model"),
])
def test_the_command_lines_answer(installed, command, expected):
    program, *args = command.split()
    executable = sys.executable if program == "python" else str(installed["site"] / "bin" / program)
    out = run(installed, executable, *args)
    assert out.returncode == 0 and expected in out.stdout, out.stderr[-2000:]


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
        log = proc.communicate(timeout=20)[0]
    assert REFUSED not in log, log[-3000:]
