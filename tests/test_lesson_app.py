"""The lesson tab through its API (compare_networks, block_cost, check_resnet, the shipped lab run) on a real server.

Every number the server sends is checked against the library run here; the uploads check that a
ResNet-50's ~100 MB of weights passes the server's upload cap while a photo over its own 25 MB cap
is still refused (by the photo callbacks, which ``resnet.transforms.load_image`` guards).
"""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET

import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from safetensors.torch import save_file

import resnet
from resnet.anatomy.compare import compare_networks
from resnet.transforms import MAX_IMAGE_BYTES
from tests.conftest import ROOT
from tests.server import AppServer
from ui.tabs.lesson.tab import LAB_RUN

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


@pytest.fixture(scope="module")
def url(hub_models, tmp_path_factory):
    with AppServer("--model", "timm/resnet18.tv_in1k", env={"TMPDIR": str(tmp_path_factory.mktemp("lesson"))}) as url:
        yield url


def test_shipped_lab_run_says_where_it_comes_from(url):
    run = json.loads(LAB_RUN.read_text(encoding="utf-8"))
    assert run["command"].startswith("python -m train.lab") and run["machine"] and run["date"]
    curves, note = Client(url, verbose=False).predict(api_name="/lesson_lab_run")
    networks = {row[2] for row in curves["data"]}
    assert networks == set(run["result"]["networks"]) and run["command"] in note and run["date"] in note


def test_compare_networks_counts_and_chart(url):
    svg, table, csv = Client(url, verbose=False).predict(False, api_name="/compare_networks")
    expected = {r.label: r for r in compare_networks(timed=())}
    rows = {row[0]: row for row in table["data"]}
    assert set(rows) == set(expected) and table["headers"][:3] == ["network", "year", "input"]
    assert rows["VGG-19"][4] == round(expected["VGG-19"].gmacs, 3) and rows["ResNet-50"][5] == 76.13
    root = ET.fromstring(svg)
    marks = [e for e in root.iter() if "mark" in (e.get("class") or "").split()]
    assert len(marks) == 17 and sum("resnet" in e.get("class") for e in marks) == 5
    legend = [e.text for e in root.iter() if e.get("class") == "legend-label"]
    assert legend[0] == "ResNet" and "Fig. 3" in legend[2]
    with open(csv, encoding="utf-8") as f:
        assert f.readline().startswith("network,year,resnet,fig3,input,params,gmacs,top1")
    zh_svg, zh_table, _ = Client(url, verbose=False, headers=ZH).predict(False, api_name="/compare_networks")
    assert "其他网络" in zh_svg and zh_table["headers"][0] == "网络"


def test_block_cost_matches_the_library(url):
    blocks, nets, summary = Client(url, verbose=False).predict(256, 56, api_name="/block_cost")
    assert [row[2] for row in blocks["data"]] == [2 * 9 * 256 * 256 + 4 * 256, 256 * 64 + 9 * 64 * 64 + 64 * 256 + 2 * 384]
    assert [row[1] for row in nets["data"]] == [34, 50] and [row[2] for row in nets["data"]] == [21_797_672, 25_557_032]
    assert "16.8x fewer parameters" in summary and "16 layers deeper" in summary
    with pytest.raises(AppError, match="multiple of 4"):
        Client(url, verbose=False).predict(6, 56, api_name="/block_cost")


def test_check_resnet_takes_a_resnet50s_100_mb_and_names_the_difference(url, tmp_path):
    path = tmp_path / "resnet50.safetensors"
    save_file(resnet.build("resnet50").state_dict(), str(path))
    assert path.stat().st_size > 100 * 10**6 > MAX_IMAGE_BYTES  # over the photos' cap: the upload itself must pass
    report = Client(url, verbose=False).predict(handle_file(str(path)), "resnet50", api_name="/check_resnet")
    assert "Every layer's weight shape matches" in report and "25,557,032" in report
    report = Client(url, verbose=False, headers=ZH).predict(handle_file(str(path)), "resnet34", api_name="/check_resnet")
    assert "第一个不同之处，在第 2 层" in report and "`layer1.0.conv1` 64x64x1x1" in report


def test_check_resnet_onnx_missing_relus(url, tmp_path):
    model = resnet.build("resnet18").eval()
    model.layer2[1].relu1 = torch.nn.Identity()  # the student's bug in one block
    path = tmp_path / "r18.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 64, 64),), str(path), dynamo=False, opset_version=17)
    report = Client(url, verbose=False).predict(handle_file(str(path)), "resnet18", api_name="/check_resnet")
    assert "No ReLU after 1 convolution(s)" in report and "`layer2.1.conv1`" in report


def test_check_resnet_refuses_what_it_cannot_read(url, tmp_path):
    pickle = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pickle)
    with pytest.raises(AppError, match="neither .safetensors nor .onnx"):
        Client(url, verbose=False).predict(handle_file(str(pickle)), "resnet50", api_name="/check_resnet")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(AppError, match="could not be read as a model file"):
        Client(url, verbose=False).predict(handle_file(str(junk)), "resnet50", api_name="/check_resnet")


def test_a_photo_over_its_cap_is_still_refused(url, tmp_path):
    photo = tmp_path / "huge.jpg"
    photo.write_bytes((ROOT / "examples" / "chelsea.png").read_bytes() + b"\x00" * (MAX_IMAGE_BYTES + 1024))
    with pytest.raises(AppError, match="over the 25 MB limit"):
        Client(url, verbose=False).predict(handle_file(str(photo)), "timm/resnet18.tv_in1k", api_name="/classify")
