"""Shared test set-up: an offline, quiet environment and paths to the shared reference data."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Before anything imports gradio or huggingface_hub: both read these at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
# A Hugging Face home and cache of the tests' own: never the user's, never the network.
_HF_HOME = tempfile.mkdtemp(prefix="resnet-studio-hf-")
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_CACHE"] = os.path.join(_HF_HOME, "hub")
os.environ.pop("HF_TOKEN", None)

import pytest  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "photos"

# Two cores: let torch use both, and keep test timings stable.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    """Real photographs: ../shared/photos, or the byte-identical copies the app ships in examples/."""
    return PHOTOS if PHOTOS.is_dir() else ROOT / "examples"


@pytest.fixture(scope="session")
def hub_models():
    """The test Hub cache (``HF_HUB_CACHE``), built once: repo id -> torchvision model holding its weights."""
    from tests.hubcache import build_test_cache

    return build_test_cache(os.environ["HF_HUB_CACHE"])


@pytest.fixture(scope="session")
def texture_model(tmp_path_factory) -> Path:
    """A ResNet-18 trained from scratch on texture patches (about 10 s): a backbone with real features."""
    from tests.textures import write_imagefolder
    from train.__main__ import main as train_main

    root = tmp_path_factory.mktemp("textures")
    data = write_imagefolder(root / "data", train_per_class=48, val_per_class=16)
    out = root / "model"
    args = ["--data", str(data), "--out", str(out), "--arch", "resnet18", "--input-size", "64", "--epochs", "8",
            "--batch-size", "16", "--lr", "0.02", "--no-progress"]
    assert train_main(args) == 0
    return out


@pytest.fixture(scope="session")
def app_server(hub_models, tmp_path_factory):
    """``python app.py`` on a free 127.0.0.1 port with the test Hub cache; TMPDIR is the test's, so its files can be inspected."""
    from tests.server import AppServer

    tmp = tmp_path_factory.mktemp("app-tmp")
    server = AppServer(env={"TMPDIR": str(tmp)})
    with server:
        server.tmp = tmp
        yield server
