"""The Residual learning tab through the running app: live curves, a text from the numbers, the data picker, and a Stop that stops."""

import io
import os
import time
import zipfile

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from tests.server import AppServer
from tests.test_lab import class_folders_and_zip


@pytest.fixture(scope="module")
def server(hub_models):
    with AppServer("--model", "timm/resnet18.tv_in1k", timeout=180) as url:  # two shared, busy cores
        yield url


@pytest.fixture(scope="module")
def class_zip(tmp_path_factory):
    """A zip of three texture classes, 30 small images each: 72 training images, more than one batch of 64."""
    return class_folders_and_zip(tmp_path_factory.mktemp("labzip"), 30, 24)[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_degradation_returns_curves_for_every_network_and_a_text(server):
    client = Client(server, verbose=False)
    plot, text = client.predict([20], "quick", 30, api_name="/degradation")  # data left out: the digits
    networks = {row[2] for row in plot["data"]}
    assert networks == {"plain-20", "residual-20"}
    steps = sorted({row[0] for row in plot["data"] if row[2] == "plain-20"})
    assert steps[-1] == 30 and all(0 <= row[1] <= 1 for row in plot["data"])
    assert "Measured just now" in text and "At 20 layers" in text and "Table 6 (not measured here)" in text
    zh = Client(server, verbose=False, headers={"Accept-Language": "zh-CN"})
    _, zh_text = zh.predict([20], "quick", 30, "patches", api_name="/degradation")
    assert "刚刚测得" in zh_text and "论文表 6" in zh_text


def test_the_picker_shows_training_images_of_the_chosen_data(server):
    client = Client(server, verbose=False)
    grids = {}
    for choice in ("digits", "patches"):
        upload, image = client.predict(choice, None, api_name="/lab_preview")
        assert upload["visible"] is False
        with Image.open(image) as picture:
            grids[choice] = picture.size
    assert grids["digits"][1] > grids["patches"][1]  # a row per class: ten digits, five photos
    upload, image = client.predict("zip", None, api_name="/lab_preview")
    assert upload["visible"] is True and image is None  # the upload appears; nothing to show yet


def test_a_zip_of_class_folders_trains_and_a_bad_zip_is_refused(server, class_zip, tmp_path):
    client = Client(server, verbose=False)
    _, image = client.predict("zip", handle_file(str(class_zip)), api_name="/lab_preview")
    with Image.open(image) as picture:
        assert picture.height > 60  # three rows of images
    plot, text = client.predict([20], "quick", 30, "zip", handle_file(str(class_zip)), api_name="/degradation")
    assert {row[2] for row in plot["data"]} == {"plain-20", "residual-20"} and "Measured just now" in text
    fake = tmp_path / "photos.zip"
    fake.write_bytes(b"not a zip at all")
    for api, args in (("/lab_preview", ("zip", handle_file(str(fake)))), ("/degradation", ([20], "quick", 30, "zip", handle_file(str(fake))))):
        with pytest.raises(Exception, match="photos.zip is not a readable zip archive") as refused:
            client.predict(*args, api_name=api)
        assert str(tmp_path) not in str(refused.value)  # no server path either way
    with pytest.raises(Exception, match="Upload a .zip of class folders first"):
        client.predict([20], "quick", 30, "zip", None, api_name="/degradation")
    small = tmp_path / "small.zip"
    with zipfile.ZipFile(small, "w") as z:
        for name in ("a/1.png", "a/2.png", "b/1.png", "b/2.png"):
            buffer = io.BytesIO()
            Image.new("RGB", (16, 16), "red" if name[0] == "a" else "blue").save(buffer, "PNG")
            z.writestr(name, buffer.getvalue())
    with pytest.raises(Exception, match="fewer than one batch of 64"):
        client.predict([20], "quick", 30, "zip", handle_file(str(small)), api_name="/degradation")


def test_too_few_steps_are_refused_in_the_request_language(server):
    with pytest.raises(Exception, match="at least 30 steps"):
        Client(server, verbose=False).predict([20], "quick", 5, api_name="/degradation")
    with pytest.raises(Exception, match="请至少选择 30 步"):
        Client(server, verbose=False, headers={"Accept-Language": "zh-CN"}).predict([20], "quick", 5, api_name="/degradation")


def test_stop_ends_the_run_and_frees_the_cpu(server):
    pid = next(int(p) for p in os.listdir("/proc") if p.isdigit() and _is_server(int(p), server))
    client = Client(server, verbose=False, httpx_kwargs={"timeout": 60})  # the cancel request, on a busy machine
    job = client.submit([20], "default", 4000, api_name="/degradation")  # minutes of work, a curve point every 20 steps
    deadline = time.monotonic() + 120
    while len(job.outputs()) < 1 and time.monotonic() < deadline:  # the curves are being drawn: it trains
        time.sleep(0.2)
    assert job.outputs(), "no live update within two minutes"
    job.cancel()
    # The time is the behaviour here: the work ends at its next step (well under a second), so the server goes idle.
    # The window, 20 one-second looks, is generous for 2 loaded cores and far shorter than the minutes the cancelled
    # run would keep a core busy if it went on.
    start = time.monotonic()
    idle = False
    while not idle and time.monotonic() - start < 20:
        before = cpu_seconds(pid)
        time.sleep(1.0)
        idle = cpu_seconds(pid) - before < 0.3  # under a third of one core: the training thread is gone
    assert idle, "the server still trains 20 s after Stop"
    # The next job in the training group runs (not queued behind the cancelled one: that one has ended, above).
    plot, _ = Client(server, verbose=False).predict([20], "quick", 30, api_name="/degradation")
    assert {row[2] for row in plot["data"]} == {"plain-20", "residual-20"}


def _is_server(pid: int, url: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    port = url.rsplit(":", 1)[1].encode()
    return b"app.py" in b" ".join(args) and port in args


def test_stop_is_greyed_out_once_the_last_step_is_done_and_the_errors_are_measured():
    """Pressed while the final errors are measured, Stop would only lose them: the state Stop follows turns false then."""
    from ui.tabs.lab.tab import degradation

    updates = list(degradation([20], "quick", 30))
    stepping = [update[2] for update in updates]
    measuring = [i for i, update in enumerate(updates) if update[1].startswith("Training done: measuring")]
    assert len(measuring) == 1 and all(stepping[: measuring[0]]) and stepping[measuring[0]:] == [False, False]
    assert updates[-1][1].startswith("Measured just now")
