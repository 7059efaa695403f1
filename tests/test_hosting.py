"""Hosting for strangers (SECURITY.md): each rule checked through the running app, as a visitor would."""

import contextlib
import re
import socket
import struct
import threading
import time
from types import SimpleNamespace
from typing import Iterator

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import ui.models
from resnet.checkpoints.config import CheckpointError
from tests.conftest import ROOT
from tests.hubcache import add_repo, timm_files, torchvision_model
from tests.server import AppServer, memory_mb
from ui.models import ModelPolicy, Refused, SharedModels

EXAMPLE = str(ROOT / "examples" / "chelsea.png")
REFUSED = "is not a model this app offers. Choose one from the list or a model you fine-tuned in this session"
EXTRA = [f"timm/resnet18.extra{i:02d}_in1k" for i in range(20)]  # allowed by pattern, never listed


@pytest.fixture(scope="module")
def hosted(hub_models, texture_model, tmp_path_factory):
    """The app as a Space would run it, with the Hub cache plus 20 unlisted timm repos visitors may name."""
    import os

    cache = os.environ["HF_HUB_CACHE"]
    files = timm_files(torchvision_model("resnet18", seed=7), "resnet18", 0.875, "bilinear")
    for repo_id in EXTRA:
        add_repo(cache, repo_id, files)
    server = AppServer("--allow-hub-models", "timm/resnet18.extra*", "--max-loaded-models", "3")
    with server:
        server.texture_model = texture_model
        yield server


def refusal(client: Client, name: str) -> str:
    with pytest.raises(AppError) as e:
        client.predict(handle_file(EXAMPLE), name, api_name="/classify")
    return str(e.value)


def test_a_visitor_cannot_name_folders_urls_or_other_repos(hosted):
    client = Client(hosted.url, verbose=False)
    names = [
        "/etc", "/tmp", "/no/such/folder", str(hosted.texture_model),  # a real checkpoint folder on this server
        "../../etc", "timm/../../etc", "./examples", "~", "https://example.com/model", "file:///etc/passwd",
        "x" * 5000, "someone/resnet50", "timm/resnet50.a1_in1k_not_listed", "timm/resnet18.extra00_in1k/../x",
    ]
    messages = {}
    for name in names:
        message = refusal(client, name)
        assert REFUSED in message, (name, message)
        messages[name] = message.split(REFUSED)[1]  # the name shown (at most 60 characters) comes before this
        assert len(message) < 400
    assert len(set(messages.values())) == 1  # the same words whether the folder exists or not
    assert "/" not in next(iter(messages.values())).replace("timm/resnet18.extra*", "")


def test_an_allowed_repo_in_the_cache_loads_and_listed_ones_still_work(hosted, hub_models):
    client = Client(hosted.url, verbose=False)
    label, _, timing = client.predict(handle_file(EXAMPLE), EXTRA[0], api_name="/classify")
    assert len(label["confidences"]) == 5 and EXTRA[0] in timing
    label, _, _ = client.predict(handle_file(EXAMPLE), "timm/resnet18.tv_in1k", api_name="/classify")
    assert len(label["confidences"]) == 5


def test_files_not_uploaded_by_the_visitor_are_refused(hosted):
    # gradio's own rule, relied on here: a request cannot point the app at a file on the server.
    response = httpx.post(
        f"{hosted.url}/gradio_api/call/classify",
        json={"data": [{"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}, "timm/resnet18.tv_in1k"]},
    )
    event = response.json()["event_id"]
    with httpx.stream("GET", f"{hosted.url}/gradio_api/call/classify/{event}", timeout=60) as stream:
        text = "".join(stream.iter_text())
    assert "event: error" in text and "not uploaded by a user" in text


def test_memory_stays_flat_while_visitors_cycle_through_20_checkpoints(hosted):
    client = Client(hosted.url, verbose=False)
    for repo_id in EXTRA[1:4]:
        client.predict(handle_file(EXAMPLE), repo_id, api_name="/classify")
    warm = memory_mb(hosted.proc.pid, "VmRSS")
    after = []
    for repo_id in EXTRA[4:]:
        client.predict(handle_file(EXAMPLE), repo_id, api_name="/classify")
        after.append(memory_mb(hosted.proc.pid, "VmRSS"))
    # 16 more resnet18s (about 70 MB each with the fast path) would add a gigabyte; the LRU keeps three.
    assert max(after) - warm < 250, f"RSS went from {warm:.0f} MB to {max(after):.0f} MB"


@contextlib.contextmanager
def resetting_hub() -> Iterator[tuple[str, list]]:
    """A Hub address that resets every connection at once, unanswered; yields it and the list of connections made."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted, done = [], threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                connection = server.accept()[0]
            except socket.timeout:
                continue
            accepted.append(connection.getpeername())
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()  # with no linger: a reset, as from a port nobody listens on

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        done.set()
        thread.join()
        server.close()


def test_an_unreachable_hub_fails_fast_and_is_remembered(tmp_path):
    with resetting_hub() as (endpoint, connections):
        env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": endpoint, "HF_HUB_CACHE": str(tmp_path / "empty")}
        with AppServer("--model", "timm/resnet18.tv_in1k", env=env) as url:
            client = Client(url, verbose=False)
            start = time.monotonic()
            message = refusal(client, "timm/resnet18.tv_in1k")
            first = time.monotonic() - start
            asked = len(connections)
            assert refusal(client, "timm/resnet18.tv_in1k") == message
            assert asked > 0 and len(connections) == asked  # remembered: the second refusal asks the Hub nothing
    assert "Hugging Face Hub did not answer" in message and "fine-tuning from scratch" in message
    assert str(tmp_path) not in message  # nothing about the server's folders
    # The time is the behaviour here: a Hub that resets connections is given up on at once, well within the 3 s budget
    # (SharedModels.hub_timeout). 20 s, several budgets, only catches a retry loop on 2 loaded cores (a 5 s bound
    # failed at load 30).
    assert first < 20, first


# --- the rules as library code -------------------------------------------------------------------------


def test_policy_refuses_everything_but_the_list_and_the_patterns():
    policy = ModelPolicy(("timm/resnet50.tv2_in1k", "/srv/models/mine"), ("timm/resnet*",))
    assert policy.source_for("/srv/models/mine") == ("/srv/models/mine", True)  # the operator's folder
    assert policy.source_for("timm/resnet34.a1_in1k") == ("timm/resnet34.a1_in1k", False)  # never read as a folder
    assert policy.source_for("timm/resnet34.a1_in1k@main") == ("timm/resnet34.a1_in1k@main", False)
    for name in ("/srv/models", "timm/resnet../x", "timm/resnet34/../../x", "timm/vit_base", "timm/resnet50 ", ""):
        with pytest.raises(Refused, match=re.escape(REFUSED)):
            policy.source_for(name)
    with pytest.raises(Refused, match="allows no other models"):
        ModelPolicy(("a/b",)).source_for("timm/resnet50")


class FakeClassifier:
    def __init__(self, source):
        self.source = source


def test_the_lru_keeps_the_budget_pins_the_default_and_remembers_failures(monkeypatch):
    clock = [1000.0]  # a fake clock, read by ui.models only: the failure memory passes when the test says so
    monkeypatch.setattr(ui.models, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    calls = []

    def load(source, *, hub_timeout, allow_local):
        calls.append(source)
        if source.startswith("down/"):
            raise CheckpointError("the Hub did not answer", reason="unreachable")
        return FakeClassifier(source)

    models = SharedModels(max_loaded=3, pinned=["default"], failure_memory_s=0.5, load=load)
    models.get("default")
    for i in range(10):
        models.get(f"m{i}")
        assert len(models.loaded()) <= 3 and "default" in models.loaded()
    assert models.loaded() == ["default", "m8", "m9"]
    models.get("m8")
    assert calls.count("m8") == 1 and models.loaded()[-1] == "m8"  # a hit moves it to the back of the queue
    for _ in range(3):
        with pytest.raises(CheckpointError, match="did not answer"):
            models.get("down/repo")
    assert calls.count("down/repo") == 1  # remembered, not retried
    clock[0] += 0.6
    with pytest.raises(CheckpointError):
        models.get("down/repo")
    assert calls.count("down/repo") == 2  # tried again once the memory has passed


def test_concurrent_requests_for_one_model_load_it_once():
    calls = []

    def load(source, **_):
        calls.append(source)
        time.sleep(0.2)
        return FakeClassifier(source)

    models = SharedModels(max_loaded=2, load=load)
    threads = [threading.Thread(target=models.get, args=("same",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["same"]


def sample_slots(client: Client, per_class: int) -> list:
    slots = client.predict(api_name="/sample_set")
    return [value for name, files in zip(slots[0::2], slots[1::2]) for value in (name, [handle_file(f) for f in files[:per_class]] if files else None)]


def test_a_session_keeps_at_most_its_share_of_fine_tuned_models(hub_models):
    with AppServer("--max-session-models", "2") as url:
        client = Client(url, verbose=False)
        slots = sample_slots(client, per_class=3)
        statuses = [client.predict("resnet18 (from scratch: works offline)", "head", 1, 0.01, None, *slots, api_name="/finetune")[1] for _ in range(3)]
        assert "dropped" not in statuses[1]
        assert "keeps 2 fine-tuned models: dropped fine-tuned 1: brick, grass, gravel" in statuses[2]
        with pytest.raises(AppError, match="not a model of this browser session"):
            client.predict(handle_file(EXAMPLE), "fine-tuned 1: brick, grass, gravel", api_name="/classify")
        label, _, _ = client.predict(handle_file(EXAMPLE), "fine-tuned 3: brick, grass, gravel", api_name="/classify")
        assert {c["label"] for c in label["confidences"]} == {"brick", "grass", "gravel"}


def test_a_measurement_is_the_same_while_another_user_fine_tunes(app_server):
    alone = Client(app_server.url, verbose=False).predict("resnet18", 64, api_name="/gradient_flow")
    trainer = Client(app_server.url, verbose=False)
    job = trainer.submit("resnet18 (from scratch: works offline)", "full", 2, 0.01, None, *sample_slots(trainer, 4), api_name="/finetune")
    while not job.status().code.name == "PROCESSING":
        time.sleep(0.05)
    during = Client(app_server.url, verbose=False).predict("resnet18", 64, api_name="/gradient_flow")
    job.result()
    assert during == alone  # its own random generator: no other user's seeding reaches it
