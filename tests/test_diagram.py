"""Architecture diagrams: drawn from the model itself, shapes as summarize() measures them, offline, foldable without script."""

import re
import xml.etree.ElementTree as ET

import pytest
import torch
import torchvision
from torch import nn

import resnet
from resnet.anatomy.summary import summarize
from resnet.cifar import cifar_resnet
from resnet.diagram import diagram, diagram_html
from resnet.model import ResNet

SVG = "{http://www.w3.org/2000/svg}"
SMALL = (1, 3, 64, 64)
FORBIDDEN = ("http", "https", "url(", "<script", "@import", "<link", "src=", "href")


def blocks_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(f"{s}.{b}", block) for s, stage in model.named_children() if s.startswith("layer") for b, block in stage.named_children()]


def shortcut_of(block: nn.Module):
    return getattr(block, "downsample", None) if hasattr(block, "downsample") else getattr(block, "shortcut", None)


def offline(text: str) -> str:
    # A standalone .svg file must declare the SVG namespace to render at all; that name is never fetched.
    return text.replace('xmlns="http://www.w3.org/2000/svg"', "", 1)


def elements(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def check_diagram(model: nn.Module, svg: str, input_size=SMALL) -> ET.Element:
    """Every assertion a diagram must pass for ``model``; returns the parsed SVG."""
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    for word in FORBIDDEN:
        assert word not in offline(svg).lower(), word
    blocks = blocks_of(model)
    drawn = elements(root, "block")
    assert [e.get("data-name") for e in drawn] == [name for name, _ in blocks]
    residual = {name for name, block in blocks if getattr(block, "residual", True) and not getattr(model, "plain", False)}
    has_weights = {name for name, block in blocks if shortcut_of(block) is not None and any(True for _ in shortcut_of(block).parameters())}
    assert {e.get("data-block") for e in elements(root, "projection")} == has_weights
    assert {e.get("data-block") for e in elements(root, "identity")} == residual - has_weights
    for e in elements(root, "projection"):
        assert "".join(e.itertext()).startswith("1x1 conv + BN")
    # Every layer of every block, and of the stem and head, has its own box, named by its dotted path.
    boxes = [e.get("data-name") for e in elements(root, "layer")]
    leaves = [
        name for name, m in model.named_modules()
        if name and next(m.children(), None) is None and not re.search(r"\.(downsample|shortcut)(\.|$)", name)
    ]
    assert sorted(boxes) == sorted(leaves)
    # The shape on each edge is the output shape summarize() measures for the module the edge leaves.
    shapes = {"input": tuple(input_size)}
    for depth in (2, 3):
        shapes.update({r.name: r.output_shape for r in summarize(model, input_size, depth=depth).rows})
    edges = elements(root, "edge")
    assert edges
    for e in edges:
        source = e.get("data-from")
        expected = shapes[source[:-1]] if source.endswith("+") else shapes[source]  # "layer1.0+": the block's sum
        assert e.get("data-shape") == "x".join(map(str, expected)), source
        assert "".join(e.itertext()) == " x ".join(map(str, expected[1:]))
    assert {e.get("data-from") for e in edges} >= {"input"} | {name for name, _ in blocks}
    return root


@pytest.mark.parametrize("plain", [False, True], ids=["residual", "plain"])
@pytest.mark.parametrize("arch", resnet.ARCHS)
def test_diagram_draws_every_block_shortcut_and_shape_of_the_model(arch, plain):
    model = resnet.build(arch, plain=plain, generator=torch.Generator().manual_seed(0))
    root = check_diagram(model, diagram(model, SMALL))
    projections = elements(root, "projection")
    if plain:
        assert not projections and not elements(root, "identity") and not elements(root, "add")
    else:
        assert len(projections) == (3 if arch in ("resnet18", "resnet34") else 4)
        assert len(elements(root, "add")) == len(blocks_of(model))
    assert len(elements(root, "stage")) == 4


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_cifar_nets_option_a_is_a_line_option_b_a_projection(shortcut):
    model = cifar_resnet(20, shortcut=shortcut, generator=torch.Generator().manual_seed(0))
    size = (1, 3, 32, 32)
    root = check_diagram(model, diagram(model, size), size)
    pads = [e for e in elements(root, "identity") if "PadShortcut" in "".join(e.itertext())]
    assert len(pads) == (2 if shortcut == "A" else 0)
    assert len(elements(root, "projection")) == (0 if shortcut == "A" else 2)
    plain = cifar_resnet(20, plain=True, generator=torch.Generator().manual_seed(0))
    check_diagram(plain, diagram(plain, size), size)


def test_a_torchvision_model_is_drawn_too_with_its_shared_relu_twice_per_block():
    with torch.device("meta"):
        tv = torchvision.models.resnet18()
    tv = tv.to_empty(device="cpu")
    tv.load_state_dict(resnet.build("resnet18", generator=torch.Generator().manual_seed(0)).state_dict())
    root = ET.fromstring(diagram(tv, SMALL))
    assert [e.get("data-name") for e in elements(root, "block")] == [n for n, _ in blocks_of(tv)]
    assert [e.get("data-name") for e in elements(root, "layer")].count("layer1.0.relu") == 2
    assert {e.get("data-block") for e in elements(root, "projection")} == {"layer2.0", "layer3.0", "layer4.0"}


def test_html_folds_each_stage_to_a_summary_line_and_each_block_inside_it():
    model = resnet.build("resnet50", generator=torch.Generator().manual_seed(0))
    page = diagram_html(model)
    for word in FORBIDDEN:
        assert word not in page.lower(), word
    root = ET.fromstring(page)  # well-formed, so it also parses as XML
    stages = [e for e in root if e.tag == "details"]
    assert [e.get("class") for e in stages] == ["stage"] * 4
    assert all(e.get("open") is None for e in root.iter("details"))
    assert [e.find("summary").text for e in stages] == [
        "layer1: 3 x Bottleneck, 256 x 56 x 56",
        "layer2: 4 x Bottleneck, 512 x 28 x 28",
        "layer3: 6 x Bottleneck, 1024 x 14 x 14",
        "layer4: 3 x Bottleneck, 2048 x 7 x 7",
    ]
    for stage, (_, module) in zip(stages, [c for c in model.named_children() if c[0].startswith("layer")]):
        folds = stage.findall("details")
        assert len(folds) == len(module) and all(f.get("class") == "block-fold" for f in folds)
        for fold in folds:  # each block folds on its own and holds exactly its own drawing
            assert [e.get("data-name") for e in elements(fold, "block")] == [fold.get("data-name")]
    assert stages[2].findall("details")[0].find("summary").text == (
        "layer3.0: Bottleneck, 512 x 28 x 28 → 1024 x 14 x 14, shortcut: 1x1 conv + BN"
    )
    # The stem and the head stay in view, outside any fold.
    assert [e.tag for e in root if e.tag == "svg"] == ["svg", "svg"]
    assert page.count('class="block"') == 16


def test_html_opens_the_stages_and_blocks_asked_for_and_refuses_unknown_names():
    model = resnet.build("resnet18", generator=torch.Generator().manual_seed(0))
    root = ET.fromstring(diagram_html(model, SMALL, open_stages=["layer1", "layer3.1"]))
    opened = {e.get("data-name") for e in root.iter("details") if e.get("open") == "open"}
    assert opened == {"layer1", "layer3", "layer3.1"}
    root = ET.fromstring(diagram_html(model, SMALL, open_stages="layer2"))  # one name, as a string
    assert {e.get("data-name") for e in root.iter("details") if e.get("open")} == {"layer2"}
    with pytest.raises(ValueError, match="layer5"):
        diagram_html(model, SMALL, open_stages=["layer5"])


def test_drawing_leaves_no_hooks_and_every_mode_as_it_was_even_when_the_input_is_too_small():
    model = resnet.build("resnet18", generator=torch.Generator().manual_seed(0)).train()
    model.layer2.eval()  # a frozen part inside a training model keeps its own mode
    modes = [m.training for m in model.modules()]
    diagram(model, SMALL)
    with pytest.raises(ValueError, match="too small"):
        diagram_html(model, (1, 3, 8, 8))
    assert [m.training for m in model.modules()] == modes
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    with pytest.raises(ValueError, match="four positive numbers"):
        diagram(model, (3, 64, 64))


def test_title_is_escaped_and_the_default_names_the_plain_twin():
    model = resnet.build("resnet18", plain=True, generator=torch.Generator().manual_seed(0))
    root = ET.fromstring(diagram(model, SMALL, title='<R18> & "plain"'))
    assert root.find(SVG + "title").text == '<R18> & "plain"'
    default = ET.fromstring(diagram(model, SMALL)).find(SVG + "title").text
    assert default == "ResNet (plain): [2, 2, 2, 2] blocks, input 3 x 64 x 64"


@pytest.mark.parametrize(
    "build", [lambda **kw: resnet.build("resnet50", plain=True, **kw), lambda **kw: cifar_resnet(20, **kw)], ids=["resnet50-plain", "cifar20"]
)
def test_a_network_on_the_meta_device_draws_the_same_diagram_without_drawing_any_weight(build):
    # The app traces its diagrams on the meta device: shapes only, no weights made, no numbers drawn.
    before = torch.get_rng_state()
    with torch.device("meta"):
        ghost = build()
    assert torch.equal(torch.get_rng_state(), before)
    real = build(generator=torch.Generator().manual_seed(0))
    size = SMALL if isinstance(real, ResNet) else (1, 3, 32, 32)
    assert diagram(ghost, size) == diagram(real, size)
    assert diagram_html(ghost, size, open_stages="layer2") == diagram_html(real, size, open_stages="layer2")
    assert all(p.is_meta for p in ghost.parameters()) and not any(m._forward_hooks for m in ghost.modules())


def test_the_diagrams_own_words_are_given_in_the_callers_language_and_checked():
    model = resnet.build("resnet18", generator=torch.Generator().manual_seed(0))
    zh = {"input": "输入", "output": "输出", "identity": "恒等映射", "shortcut": "捷径连接：{shortcut}", "no_shortcut": "无捷径连接"}
    page = diagram_html(model, SMALL, words=zh)
    svg = diagram(model, SMALL, words=zh, title="ResNet-18")  # the default title is English: the app gives its own
    for text in (page, svg):
        drawn = " ".join(ET.fromstring(text).itertext())
        assert "输入" in drawn and "输出" in drawn and "恒等映射" in drawn
        assert not re.search(r"\b(input|output|identity|shortcut)\b", drawn), drawn
    blocks = [e for e in ET.fromstring(page).iter("details") if e.get("class") == "block-fold"]
    assert blocks[2].find("summary").text == "layer2.0: BasicBlock, 64 x 16 x 16 → 128 x 8 x 8, 捷径连接：1x1 conv + BN"
    plain = diagram_html(resnet.build("resnet18", plain=True, generator=torch.Generator().manual_seed(0)), SMALL, words=zh)
    assert "无捷径连接" in plain
    assert diagram_html(model, SMALL, words={}) == diagram_html(model, SMALL)  # English by default
    with pytest.raises(ValueError, match="shortcutt"):
        diagram(model, SMALL, words={"shortcutt": "x"})
    with pytest.raises(ValueError, match=r"\{shortcut\}"):
        diagram_html(model, SMALL, words={"shortcut": "捷径连接"})


def test_on_the_page_the_drawings_keep_their_size_in_a_box_that_scrolls_the_file_scales_with_its_window():
    model = resnet.build("resnet18", generator=torch.Generator().manual_seed(0))
    root = ET.fromstring(diagram_html(model, SMALL, open_stages="layer1.0"))
    assert "overflow-x:auto" in root.get("style")
    inline = [e for e in root.iter() if e.tag == "svg"]
    assert inline and all("max-width:none" in e.get("style") and e.get("width") == "780" for e in inline)  # drawn size, never shrunk
    assert "max-width:100%" in ET.fromstring(diagram(model, SMALL)).get("style")
