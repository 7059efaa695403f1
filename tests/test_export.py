"""ONNX export: the exported graph, run by onnxruntime on images prepared by ONNX_SNIPPET, gives the app's top-5."""

import ast
import json

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -r requirements-dev.txt)")
onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install -r requirements-dev.txt)")

import resnet  # noqa: E402
from resnet.checkpoints.card import onnx_section  # noqa: E402
from resnet.checkpoints.onnx import ONNX_SNIPPET, export_onnx  # noqa: E402
from tests.textures import patches, texture_photos  # noqa: E402


@pytest.fixture(scope="module")
def exact(texture_model) -> resnet.Classifier:
    return resnet.Classifier.from_pretrained(texture_model, device="cpu", fast=False)


@pytest.fixture(scope="module")
def exported(exact, tmp_path_factory):
    return export_onnx(exact.model, exact.config, tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory) -> list:
    """Held-out texture patches as PNG files, plus non-square crops that exercise the resize and crop rounding."""
    folder = tmp_path_factory.mktemp("photos")
    images = [image for group in patches("val", 3, seed=8).values() for image in group]
    photo = texture_photos()["gravel"]
    images += [photo.crop((0, 300, 121, 389)), photo.crop((200, 256, 291, 512)), photo.crop((10, 400, 64, 450))]
    paths = []
    for i, image in enumerate(images):
        image.save(folder / f"{i}.png")
        paths.append(folder / f"{i}.png")
    return paths


def test_export_writes_an_fp32_graph_with_a_dynamic_batch_and_the_preprocessing(exact, exported):
    assert exported.name == "model.onnx"
    model = onnx.load(exported)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    (inp,), (out,) = model.graph.input, model.graph.output
    crop = exact.config.preprocessing.crop_size
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert inp.name == "pixel_values" and dims == ["batch", 3, crop, crop] and inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert out.name == "logits" and [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 3]
    saved = json.loads(exported.with_name("preprocessing.json").read_text())
    assert {k: saved[k] for k in ("crop_size", "resize_size", "interpolation", "mean", "std")} == exact.config.preprocessing.to_dict()
    assert saved["labels"] == exact.labels and saved["input_name"] == "pixel_values"


def test_any_batch_size_gives_the_fp32_models_logits(exact, exported):
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    batch = torch.stack([exact.preprocess(images[0]) for images in patches("val", 1, seed=2).values()])
    for x in (batch[:1], batch):
        (logits,) = session.run(None, {"pixel_values": x.numpy()})
        with torch.no_grad():
            assert np.allclose(logits, exact.model(x).numpy(), atol=1e-4)


def test_snippet_reproduces_the_apps_top5_exact_and_fast(exact, exported, photo_files, texture_model):
    namespace: dict = {}
    exec(ONNX_SNIPPET, namespace)  # the snippet as the model card prints it: onnxruntime, Pillow, numpy
    fast = resnet.Classifier.from_pretrained(texture_model, device="cpu")
    assert fast.fast is not None  # the app's default path
    for path in photo_files:
        theirs, ours, quick = namespace["top5"](path, str(exported.parent)), exact.predict(path), fast.predict(path)
        assert [label for label, _ in theirs] == [label for label, _ in ours], path.name
        assert np.allclose([p for _, p in theirs], [p for _, p in ours], atol=1e-3), path.name
        assert theirs[0][0] == quick[0][0], path.name
        assert np.allclose([p for _, p in theirs], [dict(quick)[label] for label, _ in theirs], atol=2e-2), path.name


def test_classifier_export_onnx_takes_a_file_path_and_leaves_the_model_alone(exact, tmp_path):
    before = {k: v.clone() for k, v in exact.model.state_dict().items()}
    path = exact.export_onnx(tmp_path / "nested" / "textures.onnx", opset=13)
    assert path == tmp_path / "nested" / "textures.onnx" and sorted(p.name for p in path.parent.iterdir()) == ["preprocessing.json", "textures.onnx"]
    assert onnx.load(path).opset_import[0].version == 13
    assert not exact.model.training and all(torch.equal(before[k], v) for k, v in exact.model.state_dict().items())
    with pytest.raises(ValueError, match="opset must be between 7 and 20, got 99"):
        exact.export_onnx(tmp_path, opset=99)


def test_model_card_section_shows_the_snippet_and_the_input(exact):
    section = onnx_section(exact.config)
    crop = exact.config.preprocessing.crop_size
    assert ONNX_SNIPPET in section and f"(batch, 3, {crop}, {crop})" in section and section.startswith("\n## ONNX")


def test_snippet_needs_only_onnxruntime_pillow_and_numpy():
    tree = ast.parse(ONNX_SNIPPET)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"json", "numpy", "onnxruntime", "PIL"}


def _installed_closure(requirement_lines: list) -> set:
    """Distribution names that ``pip install -r`` of these lines brings in (as installed here), with extras and markers."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    todo, seen = [Requirement(line) for line in requirement_lines], set()
    while todo:
        requirement = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.distribution(requirement.name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            dependency = Requirement(line)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in (requirement.extras or {""})):
                todo.append(dependency)
    return {name for name, _ in seen}


def test_onnx_and_int8_export_need_only_what_requirements_txt_installs(tmp_path):
    """The README's install (requirements.txt) exports: every package the export and int8 code import is in its closure."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = """
import json, sys, numpy as np, resnet
from resnet.checkpoints.config import ModelConfig
from resnet.checkpoints.int8 import quantize_int8
from resnet.transforms import Preprocessing
config = ModelConfig("resnet18", ("a", "b", "c"), Preprocessing.from_crop_pct(32, 0.875))
classifier = resnet.Classifier(resnet.build("resnet18", num_classes=3), config, device="cpu", fast=False)
classifier.export_onnx(sys.argv[1])
images = list(np.random.default_rng(0).standard_normal((16, 3, 32, 32), dtype=np.float32))
quantize_int8(sys.argv[1], images[:8], images[8:], latency_runs=1)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=root, capture_output=True, text=True, check=True).stdout
    modules = json.loads(out.strip().splitlines()[-1])
    from importlib import metadata

    from packaging.utils import canonicalize_name

    owners = metadata.packages_distributions()
    used = {canonicalize_name(d) for m in modules for d in owners.get(m, [])} - {"resnet-studio"}
    lines = [line.split("#")[0].strip() for line in (root / "requirements.txt").read_text().splitlines()]
    missing = used - _installed_closure([line for line in lines if line and not line.startswith("-")])
    assert not missing, f"the export imports {sorted(missing)}, which requirements.txt does not install"
