"""The Residual learning tab through the running app: live curves, a text from the numbers, and a Stop that stops."""

import os
import time

import pytest
from gradio_client import Client

from tests.server import AppServer


@pytest.fixture(scope="module")
def server(hub_models):
    with AppServer("--model", "timm/resnet18.tv_in1k") as url:
        yield url


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_degradation_returns_curves_for_every_network_and_a_text(server):
    client = Client(server, verbose=False)
    plot, text = client.predict([20], "quick", 30, api_name="/degradation")
    networks = {row[2] for row in plot["data"]}
    assert networks == {"plain-20", "residual-20"}
    steps = sorted({row[0] for row in plot["data"] if row[2] == "plain-20"})
    assert steps[-1] == 30 and all(0 <= row[1] <= 1 for row in plot["data"])
    assert "Measured just now" in text and "At 20 layers" in text and "Table 6 (not measured here)" in text
    zh = Client(server, verbose=False, headers={"Accept-Language": "zh-CN"})
    _, zh_text = zh.predict([20], "quick", 10, api_name="/degradation")
    assert "刚刚测得" in zh_text and "论文表 6" in zh_text


def test_stop_ends_the_run_and_frees_the_cpu(server):
    pid = next(int(p) for p in os.listdir("/proc") if p.isdigit() and _is_server(int(p), server))
    client = Client(server, verbose=False, httpx_kwargs={"timeout": 60})  # the cancel request, on a busy machine
    job = client.submit([20], "default", 4000, api_name="/degradation")  # minutes of work, a curve point every 20 steps
    deadline = time.monotonic() + 120
    while len(job.outputs()) < 1 and time.monotonic() < deadline:  # the curves are being drawn: it trains
        time.sleep(0.2)
    assert job.outputs(), "no live update within two minutes"
    job.cancel()
    start = time.monotonic()
    idle_after = None
    while time.monotonic() - start < 20:
        before = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - before < 0.3:  # under a third of one core: the training thread is gone
            idle_after = time.monotonic() - start
            break
    assert idle_after is not None and idle_after < 10, idle_after
    # The next job in the training group starts at once.
    start = time.monotonic()
    plot, _ = Client(server, verbose=False).predict([20], "quick", 5, api_name="/degradation")
    assert {row[2] for row in plot["data"]} == {"plain-20", "residual-20"} and time.monotonic() - start < 60


def _is_server(pid: int, url: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    port = url.rsplit(":", 1)[1].encode()
    return b"app.py" in b" ".join(args) and port in args
