"""``python app.py --mcp``: the stateless actions as MCP tools, driven by the official ``mcp`` client over streamable HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request

import pytest
from gradio_client import Client

from tests.conftest import ROOT
from tests.server import AppServer

mcp = pytest.importorskip("mcp", reason="the mcp package is not installed (pip install -r requirements.txt: gradio[mcp])")
from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

MODEL = "timm/resnet18.tv_in1k"
CHELSEA = ROOT / "examples" / "chelsea.png"
TOOLS = {"classify", "explain", "classify_all_depths", "summary", "compare", "diagram", "compare_networks", "block_cost"}


def data_url(path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


async def _session(url: str, work):
    async with streamable_http_client(f"{url}/gradio_api/mcp/") as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await work(session)


def call(url: str, work):
    """Run ``work(session)`` in one MCP session with the server at ``url``."""
    return asyncio.run(_session(url, work))


@pytest.fixture(scope="module")
def mcp_server(hub_models):
    with AppServer("--model", MODEL, "--mcp") as url:
        yield url


def test_tools_are_the_stateless_actions_each_described(mcp_server):
    tools = call(mcp_server, lambda s: s.list_tools()).tools
    assert {t.name for t in tools} == TOOLS  # no finetune, push_to_hub, stop, preview, sample_set, mistakes ...
    for tool in tools:
        assert len(tool.description) > 40, tool.name
        for name, schema in tool.inputSchema["properties"].items():
            assert schema.get("description"), (tool.name, name)
    classify = next(t for t in tools if t.name == "classify")
    assert classify.inputSchema["required"] == ["image"]
    assert classify.inputSchema["properties"]["model"]["default"] == MODEL  # the server's --model
    assert "data:" in classify.inputSchema["properties"]["image"]["description"]


def test_classify_answers_what_the_library_answers(mcp_server, hub_models):
    import resnet

    result = call(mcp_server, lambda s: s.call_tool("classify", {"image": data_url(CHELSEA), "top_k": 3}))
    assert not result.isError, result.content
    answer = json.loads(result.content[0].text)
    expected = resnet.Classifier.from_pretrained(MODEL).predict(CHELSEA, top_k=3)
    assert answer["model"] == MODEL
    assert [row["label"] for row in answer["top"]] == [label for label, _ in expected]
    assert [row["probability"] for row in answer["top"]] == pytest.approx([p for _, p in expected], abs=1e-3)
    overlay = result.content[1]
    assert overlay.type == "image" and overlay.mimeType == "image/jpeg" and base64.b64decode(overlay.data)[:2] == b"\xff\xd8"


def test_summary_and_diagram(mcp_server):
    async def work(session):
        return await session.call_tool("summary", {"arch": "resnet50", "rows": "stages"}), await session.call_tool("diagram", {"arch": "resnet18"})

    summary, diagram = call(mcp_server, work)
    assert not summary.isError and "25,557,032" in summary.content[0].text  # ResNet-50's parameters
    svg = diagram.content[0].text  # MCP clients show PNG, JPEG, GIF or WebP images, rarely SVG: the markup is readable text
    assert svg.lstrip().startswith(("<svg", "<?xml")) and "layer4" in svg and "conv1" in svg


def test_the_lessons_measurements(mcp_server):
    async def work(session):
        return await session.call_tool("compare_networks", {}), await session.call_tool("block_cost", {"width": 64, "map_size": 8})

    networks, blocks = call(mcp_server, work)
    rows = {row["key"]: row for row in json.loads(networks.content[0].text)}
    assert rows["resnet50"]["params"] == 25_557_032 and rows["vgg16"]["forward_ms"] is None
    cost = json.loads(blocks.content[0].text)
    assert [b["kind"] for b in cost["blocks"]] == ["basic", "bottleneck"] and cost["saving"] > 1


def test_a_wrong_argument_is_an_error_the_agent_can_read(mcp_server):
    result = call(mcp_server, lambda s: s.call_tool("summary", {"arch": "resnet51"}))
    assert result.isError and "resnet51" in result.content[0].text


def test_the_pages_endpoints_still_answer_api_clients(mcp_server):
    table, totals, _ = Client(mcp_server, verbose=False).predict("resnet18", 64, "residual", "stages", api_name="/summary")
    assert "11,689,512" in totals


def test_without_the_flag_nothing_is_served_there(app_server):
    for path in ("/gradio_api/mcp/", "/gradio_api/mcp/schema"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(app_server.url + path, timeout=10)
        assert e.value.code == 404, path
