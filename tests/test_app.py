"""The app as users and API clients meet it: a real server on 127.0.0.1, driven through gradio_client."""

import os
import re
import subprocess
import sys
import time
import zipfile
from csv import reader as csv_reader
from types import SimpleNamespace

from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.conftest import ROOT
from tests.server import AppServer, free_port
from tests.textures import patches

EXAMPLE = str(ROOT / "examples" / "chelsea.png")
DEFAULT = "timm/resnet50.tv2_in1k"


@pytest.fixture(scope="module")
def server(app_server):
    return app_server.url


def slot_args(slots, per_class=None):
    args = []
    for name, files in zip(slots[0::2], slots[1::2]):
        args += [name, [handle_file(f) for f in files[:per_class]] if files else None]
    return args


def test_app_imports_without_launching():
    code = "import app, gradio; assert isinstance(app.demo, gradio.Blocks); assert not app.demo.is_running; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_start_up_and_classifying_never_import_torchvision(tmp_path):
    # torchvision's import loads torch._dynamo, over a second on two cores: serving must not pay for it.
    import resnet
    from resnet.checkpoints.config import ModelConfig

    resnet.Classifier(resnet.build("resnet18", num_classes=2).eval(), ModelConfig("resnet18", ("a", "b"))).save_pretrained(tmp_path)
    code = (
        "import sys, app, resnet; "
        f"clf = resnet.Classifier.from_pretrained({str(tmp_path)!r}); clf.predict({EXAMPLE!r}); clf.explain({EXAMPLE!r}); "
        "print(sorted(m for m in sys.modules if m.startswith(('torchvision', 'torch._dynamo'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_every_action_has_an_api_name(server):
    endpoints = Client(server, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("summary", "compare", "gradient_flow", "classify", "explain", "classify_many", "classify_all_depths", "sample_set", "finetune",
                 "stop_finetune", "mistakes", "preview", "preview_photo", "push_to_hub", "degradation", "stop_degradation", "diagram", "inside"):
        assert f"/{name}" in endpoints


def test_classify_and_explain_an_example_photo(server, hub_models):
    client = Client(server, verbose=False)
    label, overlay, timing = client.predict(handle_file(EXAMPLE), DEFAULT, api_name="/classify")  # one call: answer and overlay
    assert len(label["confidences"]) == 5 and label["label"] == label["confidences"][0]["label"]
    assert DEFAULT in timing and " ms on cpu" in timing
    assert Image.open(overlay).size == (224, 224)
    explained = client.predict(handle_file(EXAMPLE), DEFAULT, "", api_name="/explain")  # the top class, as /classify showed it
    assert (np.asarray(Image.open(explained).convert("RGB")) == np.asarray(Image.open(overlay).convert("RGB"))).all()


def test_architecture_endpoints(server):
    client = Client(server, verbose=False)
    table, totals, csv = client.predict("resnet18", 64, "residual", "stages", api_name="/summary")
    assert [row[0] for row in table["data"]][4:8] == ["layer1", "layer2", "layer3", "layer4"]
    assert "11,689,512" in totals
    with open(csv, encoding="utf-8") as f:  # the download is the table shown, column for column
        assert next(csv_reader(f)) == table["headers"]
    plain_table, plain_totals, _ = client.predict("resnet34", 224, "plain", "layers", api_name="/summary")
    assert not any("downsample" in row[0] for row in plain_table["data"])
    comparison = client.predict(64, api_name="/compare")
    assert [row[0] for row in comparison["data"]] == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert all(row[3] > 0 for row in comparison["data"])
    plot, text = client.predict("resnet34", 64, api_name="/gradient_flow")
    networks = {row[3] for row in plot["data"]}
    assert networks == {"plain", "residual"} and len(plot["data"]) == 2 * 16
    assert "plain" in text and "residual" in text and "times the last block's" in text


def test_finetune_then_classify_in_the_same_session_only(server, tmp_path):
    client = Client(server, verbose=False)
    slots = client.predict(api_name="/sample_set")
    assert list(slots[0::2][:3]) == ["brick", "grass", "gravel"] and all(len(f) == 16 for f in slots[1::2][:3])
    job = client.submit("timm/resnet18.tv_in1k", "head", 3, 0.003, None, *slot_args(slots, per_class=8), api_name="/finetune")
    updates = list(job)
    curve, status, per_class, confusion, download, model, _pairs, _gallery, accuracy = job.result()  # the State outputs stay on the server
    assert len(updates) >= 4  # three epochs streamed, then the results
    assert {row[2] for row in curve["data"]} >= {"train loss"} and {row[2] for row in accuracy["data"]} >= {"held-out (end of epoch)"}
    assert status.startswith("Done: **fine-tuned 1: brick, grass, gravel**")
    assert [row[0] for row in per_class["data"]] == ["brick", "grass", "gravel"]
    assert all(0 <= row[1] <= 1 for row in per_class["data"]), per_class["data"]  # numbers for a program; the page shows them in percent
    assert [row[1] for row in per_class["metadata"]["display_value"]] == [f"{row[1]:.0%}" for row in per_class["data"]]
    assert Image.open(confusion).size[0] > 200
    with zipfile.ZipFile(download["value"]) as archive:
        names = sorted(archive.namelist())
    # model-int8.onnx ships only when it agrees with the fp32 model on the held-out images; the status says which
    int8 = ["model-int8.onnx"] if "model-int8.onnx is not in the zip" not in status else []
    assert names == sorted(["README.md", "config.json", "model.onnx", "model.safetensors", "preprocessing.json", *int8])
    tuned = model["value"]
    label, _, timing = client.predict(handle_file(EXAMPLE), tuned, api_name="/classify")
    assert {c["label"] for c in label["confidences"]} == {"brick", "grass", "gravel"}

    other = Client(server, verbose=False)
    with pytest.raises(AppError, match="not a model of this browser session"):
        other.predict(handle_file(EXAMPLE), tuned, api_name="/classify")


def test_bad_input_gets_a_message_not_a_crash(server, tmp_path):
    client = Client(server, verbose=False)
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    with pytest.raises(AppError, match="not an image format"):
        client.predict(handle_file(str(text)), DEFAULT, api_name="/classify")
    with pytest.raises(AppError, match="at least two classes"):
        client.predict("resnet18 (from scratch: works offline)", "head", 2, 0.003, None, "only", [handle_file(EXAMPLE)], *[None] * 6, api_name="/finetune")
    label, _, _ = client.predict(handle_file(EXAMPLE), DEFAULT, api_name="/classify")  # still serving
    assert len(label["confidences"]) == 5


def test_offline_start_with_an_empty_cache(tmp_path):
    env = {"HF_HUB_CACHE": str(tmp_path / "empty-cache"), "HF_HUB_OFFLINE": "1"}
    # It serves without its default model instead of waiting for it: the page answers (AppServer's usual wait) and
    # Classify says what is missing. How fast a loaded machine starts it is not this test's question.
    with AppServer(env=env) as url:
        client = Client(url, verbose=False)
        with pytest.raises(AppError) as e:
            client.predict(handle_file(EXAMPLE), DEFAULT, api_name="/classify")
        message = str(e.value)
        assert "not in the local Hugging Face cache" in message and "HF_HUB_OFFLINE" in message and "--model" in message
        table, totals, _ = client.predict("resnet50", 224, "residual", "blocks", api_name="/summary")
        assert "25,557,032" in totals
        slots = client.predict(api_name="/sample_set")
        result = client.predict("resnet18 (from scratch: works offline)", "head", 2, 0.003, None, *slot_args(slots, per_class=4), api_name="/finetune")
        assert result[1].startswith("Done: **fine-tuned 1")


def test_the_servers_messages_reach_stderr_once_each(tmp_path):
    # What python app.py sets up: the ui.* loggers' lines on stderr as "ResNet Studio: ...", one handler however often it is called.
    code = (
        "import ui.app; from ui.models import MODELS; ui.app.log_to_stderr(); ui.app.log_to_stderr(); "
        "MODELS.preload('nobody/no-such-model').join()"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "empty-cache"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    said = [line for line in out.stderr.splitlines() if "the default model is not available yet" in line]
    assert len(said) == 1 and said[0].startswith("ResNet Studio: the default model is not available yet: "), out.stderr


def test_model_flag_and_gradio_server_port(hub_models, texture_model):
    port = free_port()
    with AppServer("--model", str(texture_model), env={"GRADIO_SERVER_PORT": str(port)}, port=port) as url:
        assert url.endswith(f":{port}")
        label, _, timing = Client(url, verbose=False).predict(handle_file(EXAMPLE), str(texture_model), api_name="/classify")
        assert {c["label"] for c in label["confidences"]} == {"brick", "grass", "gravel"}


def test_help_documents_the_flags():
    out = subprocess.run([sys.executable, "app.py", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    for flag in ("--host", "--port", "--model", "--share", "--queue-size", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "127.0.0.1", "7860"):
        assert flag in out.stdout, flag


def test_push_and_naming_messages(server):
    client = Client(server, verbose=False)
    with pytest.raises(AppError, match="Fine-tune a model first"):
        client.predict("me/model", "", api_name="/push_to_hub")
    with pytest.raises(AppError, match="has images but no name"):
        client.predict("resnet18 (from scratch: works offline)", "head", 2, 0.003, None, "", [handle_file(EXAMPLE)], "b", [handle_file(EXAMPLE)], *[None] * 4, api_name="/finetune")


def test_callbacks_keep_the_operators_model_and_write_into_the_session_folder(tmp_path, monkeypatch):
    import app
    from ui.tabs.architecture import tab as architecture
    from ui.tabs.finetune import training as finetune
    from ui import session

    request = SimpleNamespace(session_hash="session-for-test", headers={})
    *_, csv = architecture.summary("resnet18", 64, "residual", "stages", request=request)
    assert Path(csv).parent == session.APP_TMP / "session-for-test"
    images = patches("train", 3, size=64)
    slots = [value for name, files in images.items() for value in (name, files)] + ["", None]
    listed = ("me/custom-model", *app.CHECKPOINTS)
    policy = app.ModelPolicy(listed)
    form = {"source": finetune.FROM_SCRATCH, "strategy": "head", "epochs": 1, "lr": 0.01, "zip_file": None, **dict(zip(finetune.SLOT_FIELDS, slots))}
    *_, last = finetune.finetune({}, policy, request, lambda *a, **k: None, **form)
    picker = last["picker"]
    assert [value for _, value in picker.choices] == ["fine-tuned 1: brick, grass, gravel", *listed]
    monkeypatch.setattr(session, "REMOVAL_DELAY_S", 0.5)
    session.end_session(request)
    # Not at once: a request of the closed page may still be handing its files to Gradio; then gone.
    assert Path(csv).exists()
    with pytest.raises(gr.Error, match="This page was closed"):
        session.session_dir(request)
    deadline = time.monotonic() + 10
    while (session.APP_TMP / "session-for-test").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (session.APP_TMP / "session-for-test").exists()
