"""ResNet Studio: see how ResNet is built, classify photos, fine-tune on your own images.

    python app.py                         # http://127.0.0.1:7860
    python app.py --model ./my-model      # default checkpoint: a Hub repo id or a local folder
    python app.py --help

Nothing is downloaded at import or start-up: checkpoints load on first use, once,
shared by all users. Fine-tuned models live in the browser session that made them.
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import gradio as gr
import pandas as pd
import torch
from PIL import Image

import resnet
import train
from resnet.devices import physical_cores
from resnet.config import CheckpointError
from resnet.hub import DEFAULT_CHECKPOINTS
from resnet.measure import compare_depths, gradient_flow
from resnet.transforms import MAX_IMAGE_BYTES, ImageError
from train.data import DataError, random_patches, read_zip_samples
from train.finetune import STRATEGY_DEFAULTS
from ui.models import ModelPolicy, Refused, SharedModels
from ui.pictures import confusion_image

try:  # On Hugging Face ZeroGPU hardware, GPU work must run inside spaces.GPU.
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(fn):
        return fn


ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"
DEFAULT_MODEL = os.environ.get("RESNET_STUDIO_MODEL", DEFAULT_CHECKPOINTS["resnet50"][0])
CHECKPOINTS = [checkpoint for checkpoint, _ in DEFAULT_CHECKPOINTS.values()] + ["timm/resnet50.a1_in1k", "microsoft/resnet-50"]
FROM_SCRATCH = "resnet18 (from scratch: works offline)"
CLASS_SLOTS = 4
MAX_UPLOAD_MB = MAX_IMAGE_BYTES // 2**20
DEPTHS = [(f"ResNet-{name[6:]}", name) for name in resnet.ARCHS]
TABLE_DEPTHS = {"layers": None, "blocks": 2, "stages": 1}

# Files the app writes (CSV tables, sample sets, model zips) go under one folder, removed at exit;
# each browser session gets its own sub-folder, removed when the session ends.
APP_TMP = Path(tempfile.mkdtemp(prefix="resnet-studio-"))
atexit.register(shutil.rmtree, APP_TMP, ignore_errors=True)

BLOCKS_EXPLAINED = """
**Basic block** (ResNet-18/34): two 3x3 convolutions, each followed by BatchNorm;
a ReLU between them and one after the shortcut is added.

**Bottleneck** (ResNet-50/101/152): a 1x1 convolution narrows the channels by 4,
a 3x3 convolution works at that width (and strides, in torchvision's "v1.5"), a 1x1
widens back; so layer1 turns 64 channels into 256.

**Shortcut**: the block's input is added to its output. When the stride or width
changes, a 1x1 convolution + BatchNorm (`downsample`) projects the input first.
The *plain* network has the same convolutions and no shortcuts.

**RF** is the receptive field: how many input pixels one output position can see,
and how far apart neighbouring positions are.
"""


MODELS = SharedModels(pinned=[DEFAULT_MODEL])  # replaced in __main__ by one sized from the flags


def _session_dir(request: Optional[gr.Request]) -> Path:
    folder = APP_TMP / ((request.session_hash if request and request.session_hash else None) or "no-session")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def end_session(request: gr.Request) -> None:
    """Remove the files this browser session wrote."""
    if request and request.session_hash:
        shutil.rmtree(APP_TMP / request.session_hash, ignore_errors=True)


TUNED_PREFIX = "fine-tuned "


def _tuned_number(name: str) -> int:
    """k in "fine-tuned k: cats, dogs"."""
    return int(name.removeprefix(TUNED_PREFIX).split(":", 1)[0])


# What a visitor sees when a checkpoint cannot be loaded: never the library's own message, which may
# name folders on this server (that one goes to the server's log).
LOAD_FAILURES = {
    "not_found": "{name} was not found on the Hugging Face Hub.",
    "gated": "{name} is gated on the Hugging Face Hub; this app cannot load it.",
    "unreachable": (
        "The Hugging Face Hub did not answer, and {name} is not in this server's cache. What works without "
        "the Hub: the models already loaded, fine-tuning from scratch, and the Architecture tab. Try again in a minute."
    ),
    "not_cached": "{name} is not in the local Hugging Face cache, and this server runs offline (HF_HUB_OFFLINE=1).",
    "unsupported": "{name} is not a ResNet this app can load (ResNet-18 to 152, in the timm, transformers or ResNet Studio layout).",
    "damaged": "The files of {name} are damaged or do not match its architecture.",
}


def _classifier(name: str, tuned: dict[str, resnet.Classifier], policy: ModelPolicy) -> resnet.Classifier:
    if name in tuned:
        return tuned[name]
    if name.startswith(TUNED_PREFIX):
        raise gr.Error(f"{name!r} is not a model of this browser session (fine-tuned models stay with the session that made them).")
    try:
        source, allow_local = policy.source_for(name)
        return MODELS.get(source, allow_local=allow_local)
    except Refused as e:
        raise gr.Error(str(e)) from e
    except CheckpointError as e:
        print(f"ResNet Studio: could not load {source}: {e}", file=sys.stderr, flush=True)
        raise gr.Error(
            LOAD_FAILURES[e.reason].format(name=name) + " Pick another model, or fine-tune one from scratch in the Fine-tune "
            "tab. If you run this app: restart it with --model PATH_OR_REPO (or RESNET_STUDIO_MODEL=...).",
            duration=None,
        ) from e


def _upload_path(image: Any) -> Any:
    """The file behind an upload: events here skip gradio's own decoding so every file meets resnet.load_image."""
    if image is None:
        raise gr.Error("Add a photo first: upload one, take one with the webcam, paste one, or pick an example.")
    if isinstance(image, dict):
        return image.get("path") or image.get("url")
    return image


# --- Architecture ---------------------------------------------------------------------------------------


def summary(arch: str, input_size: float, network: str, rows: str, request: gr.Request = None) -> tuple[pd.DataFrame, str, str]:
    """The per-layer table of the chosen network, its totals and a CSV of the same table."""
    size = int(input_size)
    try:
        s = resnet.summarize(resnet.build(arch, plain=network == "plain"), (1, 3, size, size), depth=TABLE_DEPTHS[rows])
    except ValueError as e:
        raise gr.Error(str(e)) from e
    totals = (
        f"**{arch}{' (plain)' if network == 'plain' else ''}** at {size}x{size}: "
        f"**{s.total_params:,}** parameters ({s.param_bytes / 1e6:.1f} MB), **{s.total_macs / 1e9:.3f} G** MACs, "
        f"{s.activation_bytes / 1e6:.1f} MB of activations for one image."
    )
    csv = _session_dir(request) / f"summary-{arch}-{size}-{network}-{rows}.csv"
    s.to_csv(csv)
    return s.to_frame(), totals, str(csv)


COMPARE_COLUMNS = ["depth", "params (M)", "GMACs", "forward ms (batch 1, this device)", "ImageNet top-1 %", "checkpoint"]


def compare(input_size: float) -> pd.DataFrame:
    """Parameters, MACs, measured latency and ImageNet top-1 for all five depths."""
    rows = compare_depths(int(input_size), device=resnet.default_device())
    values = [
        [r["arch"], round(r["params"] / 1e6, 2), round(r["gmacs"], 3), round(r["latency_ms"], 1), r["imagenet_top1"], r["checkpoint"]]
        for r in rows
    ]
    return pd.DataFrame(values, columns=COMPARE_COLUMNS)


def gradient_flow_plot(arch: str, input_size: float) -> tuple[pd.DataFrame, str]:
    """Per-block gradient norms of the plain and residual nets at initialisation, and what they show."""
    size = min(int(input_size), 224)
    rows, ratios = [], {}
    for network in ("plain", "residual"):
        norms = gradient_flow(arch, plain=network == "plain", input_size=size)
        ratios[network] = norms[0][1] / norms[-1][1]
        rows += [{"block": i + 1, "block name": name, "log10 gradient norm": _log10(norm), "network": network} for i, (name, norm) in enumerate(norms)]
    direction = {k: "larger" if v >= 1 else "smaller" for k, v in ratios.items()}
    text = (
        f"Measured just now ({arch}, one random batch at {size}x{size}, BatchNorm in training mode, random labels): "
        f"in the **plain** net the first block's gradient is **{ratios['plain']:.1e}** times the last block's "
        f"({direction['plain']}); in the **residual** net **{ratios['residual']:.1e}** times ({direction['residual']}). "
        "With BatchNorm, gradients here do not vanish towards the input: without shortcuts they grow by many orders "
        "of magnitude, and with them they stay within a few. The ResNet paper itself says BatchNorm keeps gradients "
        "from vanishing and places the trouble with deep plain nets in optimisation, which is what shortcuts ease."
    )
    return pd.DataFrame(rows), text


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 else float("-inf")


# --- Classify -------------------------------------------------------------------------------------------


@gpu
def classify(image: Any, model_name: str, tuned: dict[str, resnet.Classifier], policy: ModelPolicy) -> tuple[dict[str, float], str]:
    """Top-5 classes of a photo, and how long the prediction took."""
    path = _upload_path(image)
    classifier = _classifier(model_name, tuned, policy)
    start = time.perf_counter()
    try:
        top = classifier.predict(path)  # the top 5, or every class of a smaller model
    except ImageError as e:
        raise gr.Error(f"Cannot classify this file: {e}") from e
    ms = 1000 * (time.perf_counter() - start)
    return {label: probability for label, probability in top}, f"{model_name}: {ms:.0f} ms on {classifier.device.type} (decode, preprocess, forward)"


@gpu
def explain(image: Any, model_name: str, tuned: dict[str, resnet.Classifier], policy: ModelPolicy) -> Image.Image:
    """Grad-CAM overlay for the top class."""
    path = _upload_path(image)
    classifier = _classifier(model_name, tuned, policy)
    try:
        return classifier.explain(path).overlay
    except ImageError as e:
        raise gr.Error(f"Cannot explain this file: {e}") from e


# --- Fine-tune ------------------------------------------------------------------------------------------


def sample_set(request: gr.Request) -> list[Any]:
    """Three texture classes, 16 patches each, cut from the photos in examples/textures."""
    folder = _session_dir(request) / "sample-set"
    values: list[Any] = []
    for index, path in enumerate(sorted((EXAMPLES / "textures").glob("*.png"))):
        photo = Image.open(path).convert("RGB")
        (folder / path.stem).mkdir(parents=True, exist_ok=True)
        files = []
        for n, patch in enumerate(random_patches(photo, 128, 16, seed=index)):
            files.append(str(folder / path.stem / f"{path.stem}-{n:02d}.png"))
            patch.save(files[-1])
        values += [path.stem, files]
    while len(values) < 2 * CLASS_SLOTS:
        values += ["", None]
    return values


def add_snapshot(snapshot: Optional[str], files: Optional[list]) -> list:
    """Append a webcam snapshot to a class's images."""
    files = list(files or [])
    if snapshot:
        files.append(snapshot)
    return files


def _collect_samples(zip_file: Any, slots: tuple) -> tuple[dict[str, list], list[str]]:
    samples: dict[str, list] = {}
    notes: list[str] = []
    for name, files in zip(slots[0::2], slots[1::2]):
        name = (name or "").strip()
        if not files and not name:
            continue
        if not name:
            raise gr.Error("A class has images but no name: name every class.")
        samples.setdefault(name, []).extend(files or [])  # gr.File gives paths in gradio's upload folder
    if zip_file is not None:
        from_zip, notes = read_zip_samples(zip_file, max_images=train.MAX_IMAGES)
        for name, images in from_zip.items():
            samples.setdefault(name, []).extend(images)
    return samples, notes


def _curve(history: list[dict[str, Any]]) -> pd.DataFrame:
    series = {"train_loss": "train loss", "val_loss": "held-out loss", "train_top1": "train accuracy", "val_top1": "held-out accuracy"}
    rows = [{"epoch": r["epoch"], "value": r[key], "series": label} for r in history for key, label in series.items() if key in r]
    return pd.DataFrame(rows, columns=["epoch", "value", "series"])


@gpu
def finetune(
    source: str,
    strategy: str,
    epochs: float,
    lr: float,
    zip_file: Any,
    tuned: dict[str, resnet.Classifier],
    policy: ModelPolicy,
    *slots: Any,
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(),
) -> Iterator[tuple]:
    """Fine-tune on the classes given, yielding the learning curve live, then the results.

    ``policy`` says which checkpoints may be started from, and how many fine-tuned models the session keeps.
    """
    try:
        samples, notes = _collect_samples(zip_file, slots)
    except DataError as e:
        raise gr.Error(str(e)) from e
    start_from: Any = "resnet18" if source == FROM_SCRATCH else _classifier(source, tuned, policy)
    updates: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = train.finetune(start_from, samples, strategy=strategy, epochs=int(epochs), lr=float(lr), on_progress=updates.put)
        except Exception as e:  # handed to the request thread, which reports it
            outcome["error"] = e
        finally:
            updates.put(None)

    worker = threading.Thread(target=run, name="finetune", daemon=True)
    worker.start()
    history: list[dict[str, Any]] = []
    skipped = f" Skipped in the zip: {'; '.join(notes[:3])}{' ...' if len(notes) > 3 else ''}." if notes else ""
    no_change = (gr.skip(),) * 5
    while (record := updates.get()) is not None:
        if record["stage"] == "features":
            progress(record["progress"], desc="Computing backbone features")
            continue
        history.append(record)
        progress(record["progress"], desc=f"Epoch {record['epoch']}/{record['epochs']}")
        status = f"Epoch {record['epoch']}/{record['epochs']}: train loss {record['train_loss']:.3f}" + (
            f", held-out accuracy {record['val_top1']:.0%}" if "val_top1" in record else ""
        )
        yield (_curve(history), status + skipped, *no_change)
    worker.join()
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, (DataError, CheckpointError, ImageError, ValueError)):
            raise gr.Error(str(error))
        raise error

    result = outcome["result"]
    number = max(map(_tuned_number, tuned), default=0) + 1
    name = f"{TUNED_PREFIX}{number}: {', '.join(result.labels)}"
    tuned = {**tuned, name: result.classifier}
    dropped = list(tuned)[: max(0, len(tuned) - policy.max_session_models)]
    for old in dropped:  # bounded memory per session: the oldest model goes, with its files
        del tuned[old]
        old_folder = _session_dir(request) / f"model-{_tuned_number(old)}"
        shutil.rmtree(old_folder, ignore_errors=True)
        old_folder.with_suffix(".zip").unlink(missing_ok=True)
    if dropped:
        skipped += f" This session keeps {policy.max_session_models} fine-tuned models: dropped {'; '.join(dropped)}."
    folder = _session_dir(request) / f"model-{number}"
    result.classifier.save_pretrained(folder)
    archive = shutil.make_archive(str(folder), "zip", folder)
    per_class = pd.DataFrame(
        {"class": list(result.per_class_accuracy), "held-out accuracy": [None if a is None else round(a, 3) for a in result.per_class_accuracy.values()]}
    )
    last = result.history[-1]
    summary_line = f"Done: **{name}**. " + (f"Held-out accuracy {last['val_top1']:.0%}. " if "val_top1" in last else "") + "It is now in the Classify tab's model list, for this browser session only." + skipped
    yield (
        _curve(result.history),
        summary_line,
        per_class,
        confusion_image(result.confusion, result.labels),
        gr.DownloadButton(value=archive, visible=True),
        gr.Dropdown(choices=[*tuned, *policy.listed], value=name),
        tuned,
    )


def strategy_defaults(strategy: str) -> tuple[int, float]:
    """Epochs and learning rate suited to a strategy."""
    return STRATEGY_DEFAULTS[strategy]["epochs"], STRATEGY_DEFAULTS[strategy]["lr"]


def push_to_hub(repo_id: str, token: str, tuned: dict[str, resnet.Classifier]) -> str:
    """Upload the latest fine-tuned model of this session to the Hub."""
    if not tuned:
        raise gr.Error("Fine-tune a model first.")
    if not repo_id or "/" not in repo_id:
        raise gr.Error("Give a repo id such as your-name/my-classifier.")
    name, classifier = list(tuned.items())[-1]
    try:
        url = classifier.push_to_hub(repo_id.strip(), token=token or None)
    except Exception as e:  # huggingface_hub raises many types; the user needs the message
        raise gr.Error(f"Could not push to {repo_id}: {e}") from e
    return f"Pushed **{name}** to [{repo_id}]({url})."


# --- The UI ---------------------------------------------------------------------------------------------


def build_demo(
    default_model: str = DEFAULT_MODEL,
    *,
    allow_hub_models: Sequence[str] = (),
    max_session_models: int = 3,
    classify_concurrency: int = 4,
) -> gr.Blocks:
    """The three tabs and their wiring; ``allow_hub_models`` and ``max_session_models`` as in ``ui.models.ModelPolicy``."""
    checkpoints = CHECKPOINTS if default_model in CHECKPOINTS else [default_model, *CHECKPOINTS]
    rules = ModelPolicy(tuple(checkpoints), tuple(allow_hub_models), max_session_models)
    with gr.Blocks(title="ResNet Studio", delete_cache=(3600, 3600)) as demo:
        tuned = gr.State({})  # this browser session's fine-tuned classifiers, by name
        policy = gr.State(rules)  # what this server lets a visitor load; server-side, never sent by clients
        gr.Markdown("# ResNet Studio\nSee how ResNet is built, classify your photos, fine-tune one on your own images.")

        with gr.Tab("Architecture"):
            with gr.Row():
                arch = gr.Radio(DEPTHS, value="resnet50", label="Depth")
                input_size = gr.Slider(32, 512, value=224, step=32, label="Input size (pixels)")
                network = gr.Radio([("Residual", "residual"), ("Plain (no shortcuts)", "plain")], value="residual", label="Network")
                rows = gr.Radio([("Layers", "layers"), ("Blocks", "blocks"), ("Stages", "stages")], value="blocks", label="Table rows")
            with gr.Row():
                with gr.Column(scale=3):
                    totals = gr.Markdown(elem_id="totals")
                    table = gr.Dataframe(elem_id="summary-table", max_height=480, interactive=False, wrap=False)
                    csv = gr.File(label="This table as CSV", elem_id="summary-csv")
                with gr.Column(scale=1):
                    gr.Markdown(BLOCKS_EXPLAINED)
            with gr.Accordion("All five depths side by side", open=True):
                compare_button = gr.Button("Measure all depths on this device")
                comparison = gr.Dataframe(headers=COMPARE_COLUMNS, elem_id="comparison", interactive=False)
            with gr.Accordion("Gradient flow at initialisation: plain vs residual", open=True):
                flow_button = gr.Button("Measure gradient flow for the chosen depth")
                flow = gr.LinePlot(x="block", y="log10 gradient norm", color="network", elem_id="flow-plot",
                                   x_title="block (input side first)", y_title="log10 of the gradient norm", height=320)
                flow_text = gr.Markdown(elem_id="flow-text")

        with gr.Tab("Classify"):
            with gr.Row():
                with gr.Column():
                    image = gr.Image(type="filepath", sources=["upload", "webcam", "clipboard"], label="Photo", elem_id="classify-image")
                    model = gr.Dropdown(checkpoints, value=default_model, label="Model", allow_custom_value=True, elem_id="model-picker")
                    classify_button = gr.Button("Classify", variant="primary", elem_id="classify-button")
                    gr.Examples(
                        [[str(p)] for p in sorted(EXAMPLES.glob("*.*")) if p.suffix in (".png", ".jpg")],
                        inputs=[image],
                        label="Example photos (licences in examples/LICENSES.md)",
                    )
                with gr.Column():
                    top5 = gr.Label(num_top_classes=5, label="Top 5", elem_id="top5")
                    timing = gr.Markdown(elem_id="timing")
                    overlay = gr.Image(label="Grad-CAM: where the network saw the top class", elem_id="gradcam", interactive=False)

        with gr.Tab("Fine-tune"):
            gr.Markdown(
                "Name two or more classes and give each some images (upload several files at once, or take webcam "
                f"snapshots), or upload one .zip of class folders. At most {train.MAX_IMAGES} images; each file at most "
                f"{MAX_UPLOAD_MB} MB. A fifth of each class is held out to measure accuracy."
            )
            sample_button = gr.Button("Load the sample set: brick, grass and gravel texture patches", elem_id="sample-button")
            slots: list[gr.components.Component] = []
            for i in range(CLASS_SLOTS):
                with gr.Row(variant="panel"):
                    name = gr.Textbox(label=f"Class {i + 1}", placeholder="name", scale=1, elem_id=f"class-{i}-name")
                    files = gr.File(file_count="multiple", file_types=["image"], label="Images", scale=3, height=180, elem_id=f"class-{i}-files")
                    snapshot = gr.Image(sources=["webcam"], type="filepath", label="Webcam snapshot", scale=1, height=160)
                    snapshot.input(add_snapshot, [snapshot, files], files, api_visibility="private")
                slots += [name, files]
            zip_file = gr.File(file_types=[".zip"], label="...or one .zip of class folders (<class>/<image>)", elem_id="zip-file")
            with gr.Row():
                source = gr.Dropdown([*checkpoints, FROM_SCRATCH], value=default_model, label="Start from", elem_id="source", allow_custom_value=True)
                strategy = gr.Radio(
                    [("Head only (fast)", "head"), ("Last stage + head", "last-stage"), ("Everything", "full")], value="head", label="What to train"
                )
                epochs = gr.Slider(1, 50, value=STRATEGY_DEFAULTS["head"]["epochs"], step=1, label="Epochs")
                lr = gr.Number(value=STRATEGY_DEFAULTS["head"]["lr"], label="Learning rate")
            train_button = gr.Button("Train", variant="primary", elem_id="train-button")
            status = gr.Markdown(elem_id="train-status")
            curve = gr.LinePlot(x="epoch", y="value", color="series", elem_id="curve", y_title="loss / accuracy", height=300)
            with gr.Row():
                per_class = gr.Dataframe(label="Held-out accuracy per class", elem_id="per-class", interactive=False)
                confusion = gr.Image(label="Confusion matrix of held-out images (rows: true, columns: predicted)", elem_id="confusion", interactive=False)
            download = gr.DownloadButton("Download the model (.zip: config.json, model.safetensors, model card)", visible=False, elem_id="download")
            with gr.Accordion("Push the model to the Hugging Face Hub", open=False):
                with gr.Row():
                    repo = gr.Textbox(label="Repo id", placeholder="your-name/texture-classifier")
                    token = gr.Textbox(label="Write token (not stored)", type="password")
                push_button = gr.Button("Push")
                pushed = gr.Markdown()

        # Listeners: every action has an API name, so gradio_client can call it.
        gr.on([demo.load, arch.change, input_size.release, network.change, rows.change], summary, [arch, input_size, network, rows], [table, totals, csv], api_name="summary", concurrency_id="measure")
        compare_button.click(compare, input_size, comparison, api_name="compare", concurrency_id="measure", concurrency_limit=1)
        flow_button.click(gradient_flow_plot, [arch, input_size], [flow, flow_text], api_name="gradient_flow", concurrency_id="measure")
        classify_event = classify_button.click(
            classify, [image, model, tuned, policy], [top5, timing], api_name="classify", preprocess=False,
            concurrency_id="classify", concurrency_limit=classify_concurrency, time_limit=120,
        )
        classify_event.success(explain, [image, model, tuned, policy], overlay, api_name="explain", preprocess=False, concurrency_id="classify", time_limit=120)
        sample_button.click(sample_set, None, slots, api_name="sample_set")
        strategy.change(strategy_defaults, strategy, [epochs, lr], api_name="strategy_defaults")
        train_button.click(
            finetune, [source, strategy, epochs, lr, zip_file, tuned, policy, *slots], [curve, status, per_class, confusion, download, model, tuned],
            api_name="finetune", concurrency_id="training", concurrency_limit=1, time_limit=1800,
        )
        push_button.click(push_to_hub, [repo, token, tuned], pushed, api_name="push_to_hub")
        demo.unload(end_session)
    return demo


demo = build_demo()


def parse_args() -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="ResNet Studio: see how ResNet is built, classify photos, fine-tune on your own.")
    parser.add_argument("--host", default=env("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to listen on (default 127.0.0.1, or $GRADIO_SERVER_NAME; Spaces sets 0.0.0.0)")
    parser.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT", 7860)), help="port (default 7860, or $GRADIO_SERVER_PORT)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"default checkpoint: Hub repo id (optionally @revision) or local folder (default {DEFAULT_MODEL}, or $RESNET_STUDIO_MODEL)")
    parser.add_argument(
        "--allow-hub-models", metavar="PATTERN", action="append", default=[p for p in env("RESNET_STUDIO_ALLOW_HUB_MODELS", "").split(",") if p],
        help="also let visitors load Hub repo ids matching PATTERN, e.g. 'timm/resnet*' (repeatable; default: none, only the listed "
        "checkpoints; or $RESNET_STUDIO_ALLOW_HUB_MODELS, comma-separated). Local folders come only from --model",
    )
    parser.add_argument("--max-loaded-models", type=int, default=8, help="pretrained models kept in memory, least recently used dropped first; the default model stays (default 8: at most about 3.5 GB, for a 16 GB Space)")
    parser.add_argument("--max-session-models", type=int, default=3, help="fine-tuned models each browser session keeps; the oldest is dropped (default 3)")
    parser.add_argument("--share", action="store_true", help="also serve through a temporary public gradio.live link")
    parser.add_argument("--queue-size", type=int, default=64, help="most requests waiting in the queue (default 64)")
    parser.add_argument("--classify-concurrency", type=int, default=4, help="classify requests served at once (default 4)")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    torch.set_num_threads(physical_cores())  # hyper-threads slow convolutions down
    MODELS = SharedModels(max_loaded=args.max_loaded_models, pinned=[args.model])
    MODELS.preload(args.model)  # while the server starts; never on the start-up path
    demo = build_demo(
        args.model,
        allow_hub_models=args.allow_hub_models,
        max_session_models=args.max_session_models,
        classify_concurrency=args.classify_concurrency,
    )
    demo.queue(max_size=args.queue_size).launch(
        server_name=args.host, server_port=args.port, share=args.share, max_file_size=f"{MAX_UPLOAD_MB}mb", show_error=True
    )
