"""Checkpoint loading through the real huggingface_hub code path, on a cache the tests build (HF_HUB_OFFLINE=1)."""

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image

import resnet
from resnet import Classifier
from resnet.checkpoints.config import CheckpointError, ModelConfig
from resnet.transforms import Preprocessing, load_image
from tests.conftest import ROOT
from tests.hubcache import add_repo, tensor_bytes, timm_files, torchvision_model, transformers_files


def photo_batch(clf: Classifier, photos_dir: Path) -> torch.Tensor:
    return torch.stack([clf.preprocess(photos_dir / name) for name in ("chelsea.png", "rocket.jpg", "coffee.png")])


def reference_logits(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(batch)


@pytest.mark.parametrize("repo_id", ["timm/resnet50.tv2_in1k", "timm/resnet18.tv_in1k", "microsoft/resnet-50"])
def test_logits_equal_torchvision_with_the_same_weights(hub_models, photos_dir, repo_id):
    clf = Classifier.from_pretrained(repo_id, device="cpu", fast=False)  # the exact fp32 mode
    batch = photo_batch(clf, photos_dir)
    diff = (clf.logits(batch) - reference_logits(hub_models[repo_id], batch)).abs().max().item()
    assert diff <= 1e-4
    assert clf.config.source == repo_id and len(clf.config.revision) == 40


def test_timm_tv2_preprocessing_equals_torchvision_exactly(hub_models, photos_dir):
    clf = Classifier.from_pretrained("timm/resnet50.tv2_in1k")
    reference = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.transforms()
    assert (clf.config.preprocessing.resize_size, clf.config.preprocessing.crop_size) == (232, 224)
    for name in ("chelsea.png", "rocket.jpg", "camera.png", "coins.png"):
        image = load_image(photos_dir / name)
        assert torch.equal(clf.preprocess(photos_dir / name), reference(image))


def test_timm_tv_preprocessing_equals_torchvision_exactly(hub_models, photos_dir):
    clf = Classifier.from_pretrained("timm/resnet18.tv_in1k")
    reference = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    for name in ("coffee.png", "camera.png", "rocket.jpg"):
        assert torch.equal(clf.preprocess(photos_dir / name), reference(load_image(photos_dir / name)))


def test_imagenet_labels_come_from_torchvision_metadata(hub_models):
    clf = Classifier.from_pretrained("timm/resnet50.tv2_in1k")
    assert clf.labels == torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]


def test_transformers_layout_reads_labels_and_preprocessor(hub_models):
    clf = Classifier.from_pretrained("microsoft/resnet-50")
    assert clf.config.arch == "resnet50" and clf.config.layout == "transformers"
    assert clf.labels[:2] == ["label 0", "label 1"]
    p = clf.config.preprocessing
    assert (p.crop_size, p.resize_size, p.interpolation) == (224, 256, "bicubic")


@pytest.mark.parametrize("arch,depths,layer_type", [("resnet18", [2, 2, 2, 2], "basic"), ("resnet101", [3, 4, 23, 3], "bottleneck")])
def test_transformers_layout_other_depths(tmp_path, arch, depths, layer_type):
    reference = torchvision_model(arch, seed=5, num_classes=10)
    folder = tmp_path / arch
    folder.mkdir()
    for name, data in transformers_files(reference, depths, layer_type, preprocessor=False).items():
        (folder / name).write_bytes(data)
    clf = Classifier.from_pretrained(folder, device="cpu", fast=False)
    x = torch.randn(2, 3, 64, 64)
    assert (clf.logits(x) - reference_logits(reference, x)).abs().max().item() <= 1e-4
    assert clf.config.preprocessing == Preprocessing()  # no preprocessor_config.json: defaults


def test_save_pretrained_round_trip_gives_identical_logits(hub_models, tmp_path, photos_dir):
    clf = Classifier.from_pretrained("timm/resnet18.tv_in1k", device="cpu", fast=False)
    clf.save_pretrained(tmp_path / "saved")
    assert sorted(os.listdir(tmp_path / "saved")) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["arch"] == "resnet18" and config["num_classes"] == 1000 and config["resize_size"] == 256
    again = Classifier.from_pretrained(tmp_path / "saved", device="cpu", fast=False)
    batch = photo_batch(clf, photos_dir)
    assert torch.equal(clf.logits(batch), again.logits(batch))
    assert again.labels == clf.labels and again.config.preprocessing == clf.config.preprocessing
    card = (tmp_path / "saved" / "README.md").read_text()
    assert "library_name: resnet-studio" in card and "Classifier.from_pretrained" in card


def test_existing_model_card_is_never_overwritten(tmp_path):
    clf = Classifier(resnet.build("resnet18", num_classes=2), ModelConfig("resnet18", ("a", "b")), device="cpu")
    (tmp_path / "README.md").write_text("my own card")
    clf.save_pretrained(tmp_path)
    assert (tmp_path / "README.md").read_text() == "my own card"
    # Every file with the permissions of any file the user writes (not 600 for the weights alone).
    (tmp_path / "plain").write_text("")
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == dict.fromkeys(
        ["README.md", "config.json", "model.safetensors", "plain"], oct((tmp_path / "plain").stat().st_mode & 0o777)
    )


def test_revisions(hub_models):
    commit = Classifier.from_pretrained("timm/resnet18.tv_in1k").config.revision
    assert Classifier.from_pretrained(f"timm/resnet18.tv_in1k@{commit}").config.revision == commit
    assert Classifier.from_pretrained("timm/resnet18.tv_in1k", revision="main").config.revision == commit
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE"):
        Classifier.from_pretrained("timm/resnet18.tv_in1k@v9-not-cached")


def test_offline_and_not_cached_says_what_to_do(hub_models):
    with pytest.raises(CheckpointError) as e:
        Classifier.from_pretrained("timm/resnet34.tv_in1k")
    message = str(e.value)
    assert "not in the local Hugging Face cache" in message and "HF_HUB_OFFLINE" in message and "local folder" in message


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_mismatched_weights_name_the_first_bad_keys(tmp_path):
    files = timm_files(torchvision_model("resnet18", num_classes=10), "resnet18", 0.875, "bilinear")
    config = json.loads(files["config.json"])
    config["num_classes"] = 1000
    files["config.json"] = json.dumps(config).encode()
    with pytest.raises(CheckpointError, match=r"shape mismatches .*fc\.weight \(10, 512\) vs \(1000, 512\)"):
        Classifier.from_pretrained(write_folder(tmp_path / "a", files))
    files = timm_files(torchvision_model("resnet18"), "resnet34", 0.875, "bilinear")
    with pytest.raises(CheckpointError, match=r"missing keys \['layer1.2.conv1.weight'"):
        Classifier.from_pretrained(write_folder(tmp_path / "b", files))


def test_truncated_or_corrupted_weights(hub_models, tmp_path):
    files = timm_files(torchvision_model("resnet18"), "resnet18", 0.875, "bilinear")
    truncated = dict(files, **{"model.safetensors": files["model.safetensors"][: len(files["model.safetensors"]) // 2]})
    with pytest.raises(CheckpointError, match="model.safetensors is corrupted or truncated"):
        Classifier.from_pretrained(write_folder(tmp_path / "truncated", truncated))
    # The same damage inside the Hub cache, through hf_hub_download.
    add_repo(os.environ["HF_HUB_CACHE"], "test/damaged", dict(files, **{"model.safetensors": b"\x00" * 64}))
    with pytest.raises(CheckpointError, match="hf cache delete"):
        Classifier.from_pretrained("test/damaged")


def test_config_that_is_not_json(tmp_path):
    folder = write_folder(tmp_path / "bad", {"config.json": b"{not json", "model.safetensors": b""})
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        Classifier.from_pretrained(folder)


def test_unsupported_architecture(tmp_path):
    files = timm_files(torchvision_model("resnet18"), "resnet50d", 0.875, "bilinear")
    with pytest.raises(CheckpointError, match="architecture 'resnet50d' is not supported"):
        Classifier.from_pretrained(write_folder(tmp_path / "r50d", files))


def test_folder_without_config(tmp_path):
    with pytest.raises(CheckpointError, match="has no config.json"):
        Classifier.from_pretrained(tmp_path)


def test_bin_weights_load_with_weights_only_and_pickles_are_refused(tmp_path):
    reference = torchvision_model("resnet18", num_classes=3)
    files = timm_files(reference, "resnet18", 0.875, "bilinear")
    del files["model.safetensors"]
    files["pytorch_model.bin"] = tensor_bytes(reference.state_dict())
    clf = Classifier.from_pretrained(write_folder(tmp_path / "bin", files), device="cpu", fast=False)
    x = torch.randn(1, 3, 64, 64)
    assert (clf.logits(x) - reference_logits(reference, x)).abs().max().item() <= 1e-4

    files["pytorch_model.bin"] = tensor_bytes({"payload": Image.new("RGB", (1, 1))})  # an arbitrary pickled object
    with pytest.raises(CheckpointError, match="pytorch_model.bin is corrupted or truncated"):
        Classifier.from_pretrained(write_folder(tmp_path / "pickle", files))


def test_push_to_hub_creates_the_repo_and_uploads_the_three_files(monkeypatch):
    from huggingface_hub import HfApi

    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create"] = (repo_id, kwargs, self.token)

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls["files"] = sorted(os.listdir(folder_path))
        calls["config"] = json.loads(Path(folder_path, "config.json").read_text())
        return f"https://huggingface.co/{repo_id}/commit/abc"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    clf = Classifier(resnet.build("resnet18", num_classes=2), ModelConfig("resnet18", ("cat", "dog")), device="cpu")
    url = clf.push_to_hub("someone/pets", token="hf_test")
    assert url.endswith("/commit/abc")
    assert calls["create"][0] == "someone/pets" and calls["create"][1]["exist_ok"] and calls["create"][2] == "hf_test"
    assert calls["files"] == ["README.md", "config.json", "model.safetensors"]
    assert calls["config"]["labels"] == ["cat", "dog"]


class _FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers every request as the Hub answers for a repository that does not exist."""

    def _not_found(self):
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("X-Error-Message", "Repository not found")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _not_found

    def log_message(self, *args):
        pass


# Put before a child's code: counts the connections the process opens to the Hub (HF_ENDPOINT's port), so a test
# tells one try from a retry loop by what was asked, not by how long it took.
COUNT_HUB_CONNECTIONS = """
import os, socket, urllib.parse
_hub_port = urllib.parse.urlsplit(os.environ["HF_ENDPOINT"]).port
hub_connections = []
_connect = socket.socket.connect
def _counting_connect(self, address):
    if isinstance(address, tuple) and address[1] == _hub_port:
        hub_connections.append(address)
    return _connect(self, address)
socket.socket.connect = _counting_connect
"""


def run_online(code: str, endpoint: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter whose Hub is ``endpoint``, with ``hub_connections`` counting what it opens there."""
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": endpoint}
    return subprocess.run([sys.executable, "-c", COUNT_HUB_CONNECTIONS + code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def load_in_subprocess(source: str, endpoint: str) -> subprocess.CompletedProcess:
    code = (
        f"import resnet\ntry:\n    resnet.Classifier.from_pretrained({source!r})\nexcept resnet.checkpoints.config.CheckpointError as e:\n"
        "    print('CheckpointError:', e)\nprint('connections', len(hub_connections))\n"
    )
    return run_online(code, endpoint)


def connections(out: subprocess.CompletedProcess) -> list[int]:
    """The child's ``connections N`` lines, in order."""
    return [int(line.split()[1]) for line in out.stdout.splitlines() if line.startswith("connections ")]


def test_unknown_repo_on_a_reachable_hub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        out = load_in_subprocess("nobody/no-such-model", endpoint)
    finally:
        server.shutdown()
    assert "CheckpointError: no model repository nobody/no-such-model on the Hugging Face Hub" in out.stdout, out.stderr


def test_unreachable_hub_fails_with_advice_after_huggingface_hubs_own_retries():
    out = load_in_subprocess("timm/resnet34.tv_in1k", closed_port_endpoint())
    assert "could not reach the Hugging Face Hub" in out.stdout and "HF_HUB_OFFLINE=1" in out.stdout, out.stderr
    # Without hub_timeout, huggingface_hub's own policy applies: its user-agent look-up, then the HEAD of config.json
    # tried once and retried 5 times (about 23 s of back-off, measured). No loop of ours on top: at most those 8.
    assert 1 <= connections(out)[0] <= 8, out.stdout + out.stderr


def test_published_top1_figures_are_torchvision_metadata():
    from resnet.checkpoints.hub import DEFAULT_CHECKPOINTS

    for arch, (checkpoint, top1) in DEFAULT_CHECKPOINTS.items():
        weights = getattr(torchvision.models, f"ResNet{arch[6:]}_Weights")
        version = "IMAGENET1K_V2" if checkpoint.endswith("tv2_in1k") else "IMAGENET1K_V1"
        assert getattr(weights, version).meta["_metrics"]["ImageNet-1K"]["acc@1"] == top1, arch


def test_checkpoint_without_batchnorm_step_counters_loads(tmp_path):
    reference = torchvision_model("resnet18", num_classes=4)
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    from safetensors.torch import save as safetensors_bytes

    files = timm_files(reference, "resnet18", 0.875, "bilinear")
    files["model.safetensors"] = safetensors_bytes({k: v.contiguous() for k, v in state.items()})
    clf = Classifier.from_pretrained(write_folder(tmp_path / "no-counters", files), device="cpu", fast=False)
    x = torch.randn(1, 3, 64, 64)
    assert (clf.logits(x) - reference_logits(reference, x)).abs().max().item() <= 1e-4


@pytest.mark.parametrize("arch", ["resnet34", "resnet101", "resnet152"])
def test_timm_layout_at_the_other_depths(tmp_path, arch):
    reference = torchvision_model(arch, seed=6, num_classes=5)
    clf = Classifier.from_pretrained(write_folder(tmp_path / arch, timm_files(reference, arch, 0.965, "bicubic")), device="cpu", fast=False)
    x = torch.randn(1, 3, 64, 64)
    ours, theirs = clf.logits(x), reference_logits(reference, x)
    assert ((ours - theirs).abs().max() / theirs.abs().max()).item() <= 1e-6  # random deep nets: logits near 1e6
    assert clf.config.arch == arch and clf.config.preprocessing.interpolation == "bicubic"


def closed_port_endpoint() -> str:
    import socket

    with socket.socket() as s:  # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_hub_timeout_tries_once_then_reads_the_cache(hub_models):
    code = (
        "import resnet\n"
        "clf = resnet.Classifier.from_pretrained('timm/resnet18.tv_in1k', hub_timeout=1, device='cpu')\n"
        "print('loaded', clf.config.arch, clf.config.revision is not None)\n"
        "print('connections', len(hub_connections))\n"
        "try:\n"
        "    resnet.Classifier.from_pretrained('timm/not-cached-anywhere', hub_timeout=1)\n"
        "except resnet.checkpoints.config.CheckpointError as e:\n"
        "    print('reason', e.reason)\n"
        "print('connections', len(hub_connections))\n"
    )
    out = run_online(code, closed_port_endpoint())
    assert "loaded resnet18 True" in out.stdout and "reason unreachable" in out.stdout, out.stdout + out.stderr
    # Each load asks once: the HEAD of config.json (plus huggingface_hub's user-agent look-up, once per process).
    # huggingface_hub's own retries would make 6 tries of each HEAD.
    first, both = connections(out)
    assert 1 <= first <= 2 and both - first == 1, out.stdout


@pytest.fixture
def silent_hub():
    """A server on 127.0.0.1 that accepts connections and never answers (a Hub behind a proxy that holds them)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held, done = [], threading.Event()

    def accept():
        while not done.is_set():
            try:
                held.append(server.accept()[0])
            except socket.timeout:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    done.set()
    thread.join()
    for connection in [server, *held]:
        connection.close()


def test_a_hub_that_never_answers_costs_one_budget_for_the_whole_load(hub_models, silent_hub):
    code = (
        "import time, huggingface_hub.file_download, resnet\n"
        "start = time.monotonic()\n"
        "try:\n"
        "    resnet.Classifier.from_pretrained('timm/not-cached-anywhere', hub_timeout=1)\n"
        "except resnet.checkpoints.config.CheckpointError as e:\n"
        "    print('reason', e.reason, round(time.monotonic() - start, 2))\n"
        "print('connections', len(hub_connections))\n"
        "clf = resnet.Classifier.from_pretrained('timm/resnet18.tv_in1k', hub_timeout=1, device='cpu')\n"
        "print('loaded', clf.config.arch)\n"
    )
    out = run_online(code, silent_hub)
    refused, _, loaded = out.stdout.split("\n")[:3]
    # One 1 s budget for every request the load makes before the Hub's first answer. huggingface_hub's first request,
    # its user-agent look-up, waits 3 s on its own: the load refuses while that one is still unanswered, before the
    # HEAD of config.json is even sent (a budget per request would send it, and refuse after 4 s at the earliest).
    assert refused.startswith("reason timeout") and connections(out) == [1], out.stdout + out.stderr
    # The time is the behaviour here (given up within its budget); 6 s, six budgets, for a loaded 2-core machine
    # (the interpreter's start and imports are not timed).
    assert float(refused.split()[-1]) < 6, out.stdout
    assert loaded == "loaded resnet18", out.stdout  # a cached checkpoint still loads, from the cache


def test_is_cached_makes_no_request(hub_models, texture_model, tmp_path):
    from resnet.checkpoints.hub import is_cached

    assert is_cached("timm/resnet18.tv_in1k") and is_cached("timm/resnet18.tv_in1k@main")
    assert not is_cached("timm/resnet34.tv_in1k") and not is_cached("not a repo id")
    assert not is_cached("timm/resnet18.tv_in1k", cache_dir=tmp_path)
    assert is_cached(str(texture_model)) and not is_cached(str(texture_model), allow_local=False)
    assert not is_cached(str(tmp_path))  # a folder without config.json


def test_hub_options_and_reasons(hub_models, tmp_path, texture_model):
    cache = os.environ["HF_HUB_CACHE"]
    clf = Classifier.from_pretrained("timm/resnet18.tv_in1k", cache_dir=cache, local_files_only=True, device="cpu", fast=False)
    assert clf.config.arch == "resnet18"
    with pytest.raises(CheckpointError, match="local_files_only") as e:
        Classifier.from_pretrained("timm/resnet18.tv_in1k", cache_dir=tmp_path / "empty", local_files_only=True)
    assert e.value.reason == "not_cached"
    assert Classifier.from_pretrained(texture_model, device="cpu").config.num_classes == 3
    with pytest.raises(CheckpointError) as e:  # a folder exists there, but a stranger's id is never read as a path
        Classifier.from_pretrained(texture_model, allow_local=False)
    assert e.value.reason == "not_found"
    with pytest.raises(CheckpointError) as e:
        Classifier.from_pretrained(tmp_path)
    assert e.value.reason == "not_found"
    with pytest.raises(ValueError, match="unknown reason"):
        CheckpointError("x", reason="bad")
