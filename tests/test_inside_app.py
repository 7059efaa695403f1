"""The Inside the network tab through its API: a real server on 127.0.0.1, driven by gradio_client.

Every picture and number the server sends is compared with what the library makes from the same
weights in this process: the diagram with one drawn from a real (not meta) network, the grids and
filters pixel for pixel, the response plot point for point.
"""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import resnet
from resnet.anatomy.inspect import layer_responses, plain_twin, stage_outputs
from resnet.anatomy.views import feature_grid, filter_tiles, response_plot
from resnet.cifar import cifar_resnet
from resnet.diagram import diagram_html
from resnet.transforms import Preprocessing, eval_transform, load_image
from tests.conftest import ROOT
from tests.server import AppServer
from ui.tabs.inside.tab import RANDOM_WEIGHTS

MODEL = "timm/resnet18.tv_in1k"
EXAMPLE = str(ROOT / "examples" / "chelsea.png")
SVG = "{http://www.w3.org/2000/svg}"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
NAMES = {"resnet50": "ResNet-50", "resnet34": "ResNet-34", "cifar20": "CIFAR ResNet-20"}


@pytest.fixture(scope="module")
def url(hub_models):
    with AppServer("--model", MODEL) as url:
        yield url


def classes(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


@pytest.mark.parametrize(
    "arch, network, stages, blocks",
    [("resnet50", "residual", 4, 16), ("resnet34", "plain", 4, 16), ("cifar20", "residual", 3, 9)],
)
def test_diagram_is_the_librarys_folded_by_stage_with_the_whole_svg_to_download(url, arch, network, stages, blocks):
    client = Client(url, verbose=False)
    size = client.predict(arch, api_name="/natural_size")
    assert size == (32 if arch.startswith("cifar") else 224)
    page, svg_path = client.predict(arch, network, size, api_name="/diagram")
    # Traced on the meta device by the app; the same as drawn from a real network with weights.
    real = cifar_resnet(20, generator=torch.Generator().manual_seed(0)) if arch == "cifar20" else resnet.build(
        arch, plain=network == "plain", generator=torch.Generator().manual_seed(0)
    )
    assert page == diagram_html(real, (1, 3, size, size))
    root = ET.fromstring(page)
    folds = [e for e in root if e.tag == "details"]
    assert [e.get("class") for e in folds] == ["stage"] * stages and not any(e.get("open") for e in root.iter("details"))
    assert sum(len(f.findall("details")) for f in folds) == blocks
    with open(svg_path, encoding="utf-8") as f:
        svg = ET.fromstring(f.read())
    plain = " (plain)" if network == "plain" else ""
    assert svg.tag == SVG + "svg" and svg.find(SVG + "title").text == f"{NAMES[arch]}{plain}, input 3 x {size} x {size}"
    drawn = [e.get("data-name") for e in classes(svg, "block")]
    assert drawn == [f"{s}.{b}" for s, stage in real.named_children() if s.startswith("layer") for b, _ in stage.named_children()]
    assert len(drawn) == blocks
    assert bool(classes(svg, "add")) == (network == "residual")


def test_diagram_title_speaks_chinese_and_values_off_the_page_are_refused(url):
    client = Client(url, verbose=False, headers=ZH)
    _, svg_path = client.predict("resnet18", "plain", 64, api_name="/diagram")
    with open(svg_path, encoding="utf-8") as f:
        assert ET.fromstring(f.read()).find(SVG + "title").text == "ResNet-18（普通网络），输入 3 x 64 x 64"
    with pytest.raises(AppError, match="less than minimum value 32"):  # gradio checks each value against its component
        client.predict("resnet18", "residual", 8, api_name="/diagram")
    with pytest.raises(AppError, match="resnet5"):
        client.predict("resnet5", "residual", 224, api_name="/diagram")


def gallery(value) -> list[tuple[np.ndarray, str]]:
    return [(np.asarray(Image.open(item["image"]["path"] if isinstance(item["image"], dict) else item["image"])), item["caption"]) for item in value]


def polylines(svg: str) -> dict[str, str]:
    return {e.get("class"): e.get("points") for e in ET.fromstring(svg).iter(SVG + "polyline")}


def expected_for(model: torch.nn.Module, x: torch.Tensor) -> dict:
    model = model.eval()
    outputs = stage_outputs(model, x)
    return {
        "grids": [np.asarray(feature_grid(fmap[0], top=16, size=64)) for fmap in outputs.values()],
        "filters": np.asarray(filter_tiles(model.conv1.weight)),
        "residual": layer_responses(model, x),
        "plain": layer_responses(plain_twin(model), x),
    }


@pytest.mark.parametrize("choice", [MODEL, RANDOM_WEIGHTS], ids=["listed checkpoint", "random weights"])
def test_inside_an_example_photo_matches_the_library_on_the_same_weights(url, choice):
    if choice == MODEL:
        classifier = resnet.Classifier.from_pretrained(MODEL, fast=False)  # the test Hub cache the server reads too
        x, view = classifier.prepare(EXAMPLE)
        model = classifier.model
    else:  # a ResNet-18 from the fixed seed, ImageNet's preprocessing: nothing downloaded
        model = resnet.build("resnet18", generator=torch.Generator().manual_seed(0))
        x = eval_transform(Preprocessing())(load_image(EXAMPLE))
    expected = expected_for(model, x[None])
    grids, filters, plot, summary = Client(url, verbose=False).predict(handle_file(EXAMPLE), choice, api_name="/inside")
    shown = gallery(grids)
    assert [caption.split(",")[0] for _, caption in shown] == ["input", "stem", "layer1", "layer2", "layer3", "layer4"]
    assert shown[0][0].shape == (224, 224, 3)
    assert shown[0][1] == "input, 3 x 224 x 224" and shown[3][1] == "layer2, 128 x 28 x 28"
    for (picture, caption), grid in zip(shown[1:], expected["grids"]):
        assert picture.shape == (4 * 64 + 6, 4 * 64 + 6, 3) and np.array_equal(picture, grid), caption
    tiles = np.asarray(Image.open(filters))
    assert tiles.shape == (8 * 28 + 14, 8 * 28 + 14, 3) and np.array_equal(tiles, expected["filters"])  # 64 filters, 7x7, 4 px each
    lines = polylines(plot)
    assert set(lines) == {"series residual", "series plain"} and all(len(p.split()) == 16 for p in lines.values())
    assert lines == polylines(response_plot(expected["residual"], expected["plain"]))
    assert ">residual<" in plot and ">3x3 layer (input side first)<" in plot
    assert "**Layer responses**" in summary and "plain twin" in summary
    assert ("These weights are random" in summary) == (choice == RANDOM_WEIGHTS)
    assert ("these weights were trained" in summary) == (choice == MODEL)


def test_inside_speaks_chinese_and_refuses_what_it_cannot_use(url, tmp_path):
    client = Client(url, verbose=False, headers=ZH)
    grids, _, plot, summary = client.predict(handle_file(EXAMPLE), RANDOM_WEIGHTS, api_name="/inside")
    assert "**层响应**" in summary and "这些权重是随机的" in summary and "普通孪生网络" in summary
    assert gallery(grids)[2][1] == "layer1，64 x 56 x 56"
    assert ">残差网络<" in plot and ">普通网络<" in plot
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a picture")
    with pytest.raises(AppError, match="无法用这个文件查看网络内部"):
        client.predict(handle_file(str(notes)), RANDOM_WEIGHTS, api_name="/inside")
    with pytest.raises(AppError, match="is not a model this app offers"):
        Client(url, verbose=False).predict(handle_file(EXAMPLE), "someone/else", api_name="/inside")


def test_a_model_fine_tuned_in_this_session_can_be_looked_inside(url):
    client = Client(url, verbose=False)
    slots = client.predict(api_name="/sample_set")
    args = []
    for name, files in zip(slots[0::2], slots[1::2]):
        args += [name, [handle_file(f) for f in files[:4]] if files else None]
    result = client.predict(MODEL, "head", 1, 0.003, None, *args, api_name="/finetune")
    tuned = result[5]["value"]  # the model picker
    assert tuned.startswith("fine-tuned 1")
    grids, filters, _, summary = client.predict(handle_file(EXAMPLE), tuned, api_name="/inside")
    assert len(gallery(grids)) == 6 and f"**{tuned}**" in summary
    with pytest.raises(AppError, match="not a model of this browser session"):
        Client(url, verbose=False).predict(handle_file(EXAMPLE), tuned, api_name="/inside")
