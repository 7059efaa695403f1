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


def _test_device() -> torch.device:
    """``RESNET_TEST_DEVICE`` (default ``cpu``) as a device; a name torch does not know stops the run at once."""
    name = os.environ.get("RESNET_TEST_DEVICE", "cpu")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise pytest.UsageError(f"RESNET_TEST_DEVICE={name!r} is not a device torch knows (cpu, cuda, cuda:1, mps): {e}") from e


def _device_missing(device: torch.device) -> str | None:
    """Why ``device`` cannot run tests here, or None when it can."""
    if device.type == "cuda" and not torch.cuda.is_available():
        return f"RESNET_TEST_DEVICE={device} but torch {torch.__version__} sees no CUDA device"
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        return f"RESNET_TEST_DEVICE={device} but only {torch.cuda.device_count()} CUDA device(s) are present"
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        return f"RESNET_TEST_DEVICE={device} but MPS is not available"
    return None


def pytest_collection_modifyitems(config, items) -> None:
    """Skip ``@pytest.mark.gpu`` tests, saying why, unless ``RESNET_TEST_DEVICE`` names a CUDA device that is present."""
    device = _test_device()
    reason = "needs RESNET_TEST_DEVICE=cuda on a machine with a CUDA GPU" if device.type != "cuda" else _device_missing(device)
    if reason:
        for item in items:
            if item.get_closest_marker("gpu") is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def device() -> torch.device:
    """Where device-generic tests run: ``RESNET_TEST_DEVICE`` (default ``cpu``, so they run everywhere and cannot rot).

    With ``RESNET_TEST_DEVICE=cuda`` on a machine without CUDA, each test that asks for it is skipped with the reason.
    """
    device = _test_device()
    reason = _device_missing(device)
    if reason:
        pytest.skip(reason)
    return device


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


# The browser tour's server and browser, shared by every tests/test_tour_*.py (one start each per run).
from tests.tour import tour_browser, tour_server  # noqa: E402,F401
