"""int8 export: a ResNet trained here, quantized by ONNX Runtime, predicts what torch predicts, or is left out saying why."""

import zipfile

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import resnet
import resnet.checkpoints.int8 as quantize
from resnet.__main__ import main
from resnet.checkpoints.card import int8_section
from resnet.checkpoints.int8 import INT8_FILE, quantize_int8
from tests.test_export import exact  # noqa: F401  the texture model, loaded exactly (no fast path)
from tests.textures import patches


@pytest.fixture(scope="module")
def images(exact) -> dict:
    """Preprocessed calibration images (training half of each texture) and 102 held-out ones (the other half)."""
    cal = [exact.preprocess(image).numpy() for group in patches("train", 16, seed=3).values() for image in group]
    held = [exact.preprocess(image).numpy() for group in patches("val", 34, seed=9).values() for image in group]
    return {"calibration": cal, "held_out": np.stack(held)}


@pytest.fixture(scope="module")
def int8(exact, images, tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8")
    exact.export_onnx(folder)
    return quantize_int8(folder, images["calibration"], list(images["held_out"]), latency_runs=5)


def test_int8_top1_agrees_with_torch_on_held_out_images(exact, images, int8):
    assert int8.path is not None and int8.path.name == INT8_FILE and int8.reason is None, int8.describe()
    session = ort.InferenceSession(str(int8.path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"pixel_values": images["held_out"]})
    with torch.no_grad():
        reference = exact.model(torch.from_numpy(images["held_out"])).argmax(1).numpy()
    agreement = (logits.argmax(1) == reference).mean()
    assert agreement >= 0.99 and int8.agreement >= 0.99 and int8.held_out == 102 and int8.calibration == 48, (agreement, int8.describe())
    assert int8.fp32_ms > 0 and int8.int8_ms > 0


def test_the_file_holds_int8_weights_in_qdq_form(int8):
    model = onnx.load(int8.path)
    ops = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    weights = {init.name: init.data_type for init in model.graph.initializer}
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    dequantized = {node.output[0]: node for node in model.graph.node if node.op_type == "DequantizeLinear"}
    int8_convs = [c for c in convs if c.input[1] in dequantized and weights.get(dequantized[c.input[1]].input[0]) == onnx.TensorProto.INT8]
    # Every convolution but the first (it reads the raw pixels and stays fp32) takes int8 weights, one scale per output channel.
    assert len(int8_convs) == len(convs) - 1 and weights.get(convs[0].input[1]) == onnx.TensorProto.FLOAT
    arrays = {init.name: onnx.numpy_helper.to_array(init) for init in model.graph.initializer}
    for conv in int8_convs:
        weight, scale = (arrays[name] for name in dequantized[conv.input[1]].input[:2])
        assert scale.shape == (weight.shape[0],), conv.name
    assert int8.path.stat().st_size < 0.4 * int8.path.with_name("model.onnx").stat().st_size


def test_a_model_that_disagrees_is_left_out_and_the_card_says_why(exact, images, tmp_path):
    exact.export_onnx(tmp_path)
    (tmp_path / INT8_FILE).write_bytes(b"an older file")  # a refused model must not leave an earlier one behind
    # Ranges calibrated on images fifty times too faint clip almost every activation: the int8 model then disagrees.
    faint = [image * 0.02 for image in images["calibration"]]
    report = quantize_int8(tmp_path, faint, list(images["held_out"]), latency_runs=0)
    assert report.reason == "disagrees" and report.path is None and not (tmp_path / INT8_FILE).exists()
    assert report.agreement < 0.99
    section = int8_section(report)
    assert f"`{INT8_FILE}` is not included" in section and f"{report.agreement:.1%} of 102 held-out images; 99% is needed" in section


def test_the_threshold_decides(exact, images, int8, tmp_path):
    """The same model is kept or left out as its measured agreement meets the threshold or not."""
    exact.export_onnx(tmp_path)
    few = list(images["held_out"][::17])  # 6 images
    kept = quantize_int8(tmp_path, images["calibration"], few, threshold=1.0, latency_runs=0)
    if kept.agreement < 1.0:
        pytest.skip(f"this model disagrees on one of six images ({kept.describe()})")
    assert kept.path is not None
    with pytest.raises(ValueError, match="threshold must be in"):
        quantize_int8(tmp_path, images["calibration"], few, threshold=1.5)
    empty = quantize_int8(tmp_path, images["calibration"], [], latency_runs=0)
    assert empty.reason == "no_held_out" and "no held-out images" in empty.describe() and not (tmp_path / INT8_FILE).exists()


def test_the_command_line_exports_int8_for_a_checkpoint_folder(texture_model, tmp_path, capsys):
    calibration = tmp_path / "photos" / "any" / "depth"
    calibration.mkdir(parents=True)
    for name, group in patches("train", 10, seed=4).items():
        for i, image in enumerate(group):
            image.save(calibration / f"{name}-{i}.png")
    out = tmp_path / "out"
    assert main(["export", str(texture_model), "--out", str(out), "--int8", "--calibration", str(tmp_path / "photos")]) == 0
    said = capsys.readouterr().out
    assert "Calibrating on 24 image(s), checking on 6 held-out image(s)" in said and f"{INT8_FILE}: top-1 agrees with fp32 on 100.0% of 6" in said
    assert sorted(p.name for p in out.iterdir()) == ["model-int8.onnx", "model.onnx", "preprocessing.json"]
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(texture_model), "--out", str(out), "--int8"])
    assert exit_.value.code == 2 and "--int8 needs --calibration" in capsys.readouterr().err


@pytest.fixture(scope="module")
def finetuned(exact):
    """A FinetuneResult as the app gets one: 8 training and 3 held-out texture patches per class."""
    import train

    train_images, held = patches("train", 8, seed=6), patches("val", 3, seed=7)
    held_out = [(image, k) for k, group in enumerate(held.values()) for image in group]
    samples = {name: train_images[name] + held[name] for name in train_images}  # as the user gave them: held-out ones among them
    result = train.FinetuneResult(exact, [{"epoch": 1}], {}, np.zeros((3, 3), dtype=np.int64), held_out=held_out)
    return result, samples


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_download_holds_the_int8_model_and_the_card_its_figures(finetuned, tmp_path, lang):
    from ui.tabs.finetune.download import package_model

    result, samples = finetuned
    archive, note, label = package_model(result, samples, tmp_path / "model-1", lang)
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        card = z.read("README.md").decode()
    assert {"model.onnx", "preprocessing.json", INT8_FILE, "config.json", "model.safetensors", "README.md"} == names
    assert "## int8" in card and "on 24 of the training images" in card and "| 100.0% |" in card  # the 9 held-out images were not calibrated on
    if lang == "en":
        assert note.startswith(" The zip also holds model-int8.onnx: the same top class as the full-precision model for 100.0% of the 9")
        assert label == "Download the model: a .zip of config.json, model-int8.onnx, model.onnx, model.safetensors, preprocessing.json, README.md (model card)"
    else:
        assert note.startswith(" zip 中还有 model-int8.onnx：在 9 张留出图像中") and label.startswith("下载模型：一个 .zip，内含 config.json、model-int8.onnx")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_download_without_int8_says_why_in_the_status_the_card_and_the_button(finetuned, tmp_path, monkeypatch, lang):
    import ui.tabs.finetune.download

    def faint(folder, calibration, held_out):  # ranges fifty times too narrow: the int8 model disagrees and is refused
        return quantize_int8(folder, [image * 0.02 for image in calibration], held_out, latency_runs=0)

    monkeypatch.setattr(quantize, "quantize_int8", faint)
    result, samples = finetuned
    archive, note, label = ui.tabs.finetune.download.package_model(result, samples, tmp_path / "model-1", lang)
    with zipfile.ZipFile(archive) as z:
        assert INT8_FILE not in z.namelist() and "model.onnx" in z.namelist()
        assert f"`{INT8_FILE}` is not included. Its top-1 agreed with the fp32 model's on" in z.read("README.md").decode()
    assert INT8_FILE not in label
    expected = {"en": " model-int8.onnx is not in the zip: its top class matched the full-precision model's for only", "zh-CN": " zip 中没有 model-int8.onnx：在 9 张留出图像中"}
    assert note.startswith(expected[lang]), note


def test_without_onnxruntime_the_download_keeps_fp32_and_says_so(finetuned, tmp_path, monkeypatch):
    import sys

    import ui.tabs.finetune.download

    monkeypatch.setitem(sys.modules, "resnet.checkpoints.int8", None)  # as if onnxruntime (which it imports) were not installed
    result, samples = finetuned
    archive, note, label = ui.tabs.finetune.download.package_model(result, samples, tmp_path / "model-1", "en")
    assert note == " model-int8.onnx is not in the zip: ONNX Runtime is not installed on this server (pip install -r requirements.txt)."
    assert "model.onnx" in label and INT8_FILE not in label


def test_a_failed_onnx_export_is_said_on_the_button(finetuned, tmp_path, monkeypatch):
    import ui.tabs.finetune.download

    def broken(self, folder, *, opset=17):
        raise RuntimeError("no exporter")

    monkeypatch.setattr(resnet.Classifier, "export_onnx", broken)
    result, samples = finetuned
    archive, note, label = ui.tabs.finetune.download.package_model(result, samples, tmp_path / "model-1", "en")
    assert note == " The ONNX export failed (RuntimeError); the zip holds the PyTorch checkpoint only."
    assert label == "Download the model: a .zip of config.json, model.safetensors, README.md (model card)"
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == ["README.md", "config.json", "model.safetensors"]


def test_cpu_flags_name_the_int8_instructions():
    flags = quantize.int8_flags()
    assert flags == {} or set(flags) == {"AVX2", "AVX512-VNNI", "AVX-VNNI", "AMX"}
