"""The Fine-tune tab: classes and their images in, a learning curve live, then results, a download and a push."""

from __future__ import annotations

import queue
import shutil
import threading
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import gradio as gr
import pandas as pd
from PIL import Image

import resnet
import train
from resnet.config import CheckpointError
from resnet.transforms import ImageError
from train.data import DataError, random_patches, read_zip_samples
from train.finetune import STRATEGY_DEFAULTS

from .i18n import error_text, static, text
from .models import TUNED_PREFIX, ModelPolicy, resolve
from .pictures import confusion_image
from .session import gpu, session_dir

__all__ = ["FROM_SCRATCH", "add_snapshot", "finetune", "push_to_hub", "sample_set", "strategy_defaults", "tab"]

TEXTURES = Path(__file__).resolve().parents[1] / "examples" / "textures"
FROM_SCRATCH = "resnet18 (from scratch: works offline)"  # the value API clients send; the page shows it translated
CLASS_SLOTS = 4
SERIES = ("train_loss", "val_loss", "train_top1", "val_top1")


def sample_set(request: gr.Request) -> list[Any]:
    """Three texture classes, 16 patches each, cut from the photos in examples/textures."""
    folder = session_dir(request) / "sample-set"
    values: list[Any] = []
    for index, path in enumerate(sorted(TEXTURES.glob("*.png"))):
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


def _collect_samples(zip_file: Any, slots: tuple, request: Optional[gr.Request]) -> tuple[dict[str, list], list]:
    samples: dict[str, list] = {}
    notes: list = []
    for name, files in zip(slots[0::2], slots[1::2]):
        name = (name or "").strip()
        if not files and not name:
            continue
        if not name:
            raise gr.Error(text(request, "finetune.unnamed"))
        samples.setdefault(name, []).extend(files or [])  # gr.File gives paths in gradio's upload folder
    if zip_file is not None:
        from_zip, notes = read_zip_samples(zip_file, max_images=train.MAX_IMAGES)
        for name, images in from_zip.items():
            samples.setdefault(name, []).extend(images)
    return samples, notes


def _curve(history: list[dict[str, Any]], request: Optional[gr.Request]) -> pd.DataFrame:
    labels = {key: text(request, f"finetune.series.{key}") for key in SERIES}
    rows = [{"epoch": r["epoch"], "value": r[key], "series": labels[key]} for r in history for key in SERIES if key in r]
    return pd.DataFrame(rows, columns=["epoch", "value", "series"])


def _tuned_number(name: str) -> int:
    """k in "fine-tuned k: cats, dogs"."""
    return int(name.removeprefix(TUNED_PREFIX).split(":", 1)[0])


def _picker(tuned: dict, listed: Sequence[str], request: Optional[gr.Request]) -> list[tuple[str, str]]:
    """The model picker's choices: this session's models (named in the request's language), then the listed ones."""
    mine = [(text(request, "classify.tuned_name", number=_tuned_number(n), labels=n.split(": ", 1)[1]), n) for n in tuned]
    return [*mine, *((c, c) for c in listed)]


def _train_in_thread(start_from: Any, samples: dict, strategy: str, epochs: float, lr: float) -> tuple[queue.Queue, dict, threading.Thread]:
    """Run ``train.finetune`` in a thread; its progress records arrive on the queue, then None."""
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
    return updates, outcome, worker


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
        samples, notes = _collect_samples(zip_file, slots, request)
    except DataError as e:
        raise gr.Error(error_text(request, e)) from e
    start_from: Any = "resnet18" if source == FROM_SCRATCH else resolve(source, tuned, policy, request)
    updates, outcome, worker = _train_in_thread(start_from, samples, strategy, epochs, lr)
    history: list[dict[str, Any]] = []
    shown = [text(request, f"zip.{n.code}", name=n.name) for n in notes[:3]]
    skipped = text(request, "finetune.skipped", notes="; ".join(shown) + (" ..." if len(notes) > 3 else "")) if notes else ""
    no_change = (gr.skip(),) * 5
    while (record := updates.get()) is not None:
        if record["stage"] == "features":
            progress(record["progress"], desc=text(request, "finetune.features"))
            continue
        history.append(record)
        progress(record["progress"], desc=text(request, "finetune.epoch", epoch=record["epoch"], epochs=record["epochs"]))
        status = text(request, "finetune.epoch_status", epoch=record["epoch"], epochs=record["epochs"], loss=f"{record['train_loss']:.3f}")
        if "val_top1" in record:
            status += text(request, "finetune.epoch_accuracy", accuracy=f"{record['val_top1']:.0%}")
        yield (_curve(history, request), status + skipped, *no_change)
    worker.join()
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, (DataError, ImageError)):
            raise gr.Error(error_text(request, error))
        if isinstance(error, (CheckpointError, ValueError)):
            raise gr.Error(text(request, "error.invalid", reason=error))
        raise error

    result = outcome["result"]
    number = max(map(_tuned_number, tuned), default=0) + 1
    name = f"{TUNED_PREFIX}{number}: {', '.join(result.labels)}"
    tuned = {**tuned, name: result.classifier}
    dropped = list(tuned)[: max(0, len(tuned) - policy.max_session_models)]
    for old in dropped:  # bounded memory per session: the oldest model goes, with its files
        del tuned[old]
        old_folder = session_dir(request) / f"model-{_tuned_number(old)}"
        shutil.rmtree(old_folder, ignore_errors=True)
        old_folder.with_suffix(".zip").unlink(missing_ok=True)
    if dropped:
        skipped += text(request, "finetune.dropped", limit=policy.max_session_models, names="; ".join(dropped))
    folder = session_dir(request) / f"model-{number}"
    result.classifier.save_pretrained(folder)
    archive = shutil.make_archive(str(folder), "zip", folder)
    per_class = pd.DataFrame(
        {
            text(request, "column.class"): list(result.per_class_accuracy),
            text(request, "column.held-out accuracy"): [None if a is None else round(a, 3) for a in result.per_class_accuracy.values()],
        }
    )
    last = result.history[-1]
    summary_line = text(request, "finetune.done", name=name)
    if "val_top1" in last:
        summary_line += text(request, "finetune.done_accuracy", accuracy=f"{last['val_top1']:.0%}")
    yield (
        _curve(result.history, request),
        summary_line + text(request, "finetune.done_where") + skipped,
        per_class,
        confusion_image(result.confusion, result.labels),
        gr.DownloadButton(value=archive, visible=True),
        gr.Dropdown(choices=_picker(tuned, policy.listed, request), value=name),
        tuned,
    )


def strategy_defaults(strategy: str) -> tuple[int, float]:
    """Epochs and learning rate suited to a strategy."""
    return STRATEGY_DEFAULTS[strategy]["epochs"], STRATEGY_DEFAULTS[strategy]["lr"]


def push_to_hub(repo_id: str, token: str, tuned: dict[str, resnet.Classifier], request: gr.Request = None) -> str:
    """Upload the latest fine-tuned model of this session to the Hub."""
    if not tuned:
        raise gr.Error(text(request, "push.no_model"))
    if not repo_id or "/" not in repo_id:
        raise gr.Error(text(request, "push.bad_repo"))
    name, classifier = list(tuned.items())[-1]
    try:
        url = classifier.push_to_hub(repo_id.strip(), token=token or None)
    except Exception as e:  # huggingface_hub raises many types; the user needs the message
        raise gr.Error(text(request, "push.failed", repo=repo_id, reason=e)) from e
    return text(request, "push.done", name=name, repo=repo_id, url=url)


def tab(checkpoints: Sequence[str], default_model: str, tuned: gr.State, policy: gr.State, picker: gr.Dropdown) -> None:
    """Declare the Fine-tune tab and wire it; a finished run updates ``picker`` (the Classify tab's)."""
    with gr.Tab(static("tab.finetune")):
        gr.Markdown(static("finetune.intro"))
        sample_button = gr.Button(static("finetune.sample_button"), elem_id="sample-button")
        slots: list[gr.components.Component] = []
        for i in range(CLASS_SLOTS):
            with gr.Row(variant="panel"):
                name = gr.Textbox(label=static("finetune.class"), placeholder=static("finetune.class_name"), scale=1, elem_id=f"class-{i}-name")
                files = gr.File(file_count="multiple", file_types=["image"], label=static("finetune.images"), scale=3, height=180, elem_id=f"class-{i}-files")
                snapshot = gr.Image(sources=["webcam"], type="filepath", label=static("finetune.snapshot"), scale=1, height=160)
                snapshot.input(add_snapshot, [snapshot, files], files, api_visibility="private")
            slots += [name, files]
        zip_file = gr.File(file_types=[".zip"], label=static("finetune.zip"), elem_id="zip-file")
        with gr.Row():
            source = gr.Dropdown(
                [*((c, c) for c in checkpoints), (static("finetune.from_scratch"), FROM_SCRATCH)], value=default_model,
                label=static("finetune.start_from"), elem_id="source", allow_custom_value=True,
            )
            strategy = gr.Radio([(static(f"finetune.strategy.{s}"), s) for s in ("head", "last-stage", "full")], value="head", label=static("finetune.strategy"))
            epochs = gr.Slider(1, 50, value=STRATEGY_DEFAULTS["head"]["epochs"], step=1, label=static("finetune.epochs"))
            lr = gr.Number(value=STRATEGY_DEFAULTS["head"]["lr"], label=static("finetune.lr"))
        train_button = gr.Button(static("finetune.button"), variant="primary", elem_id="train-button")
        status = gr.Markdown(elem_id="train-status")
        curve = gr.LinePlot(
            x="epoch", y="value", color="series", elem_id="curve", x_title=static("finetune.curve_x"), y_title=static("finetune.curve_y"),
            color_title=static("finetune.curve_series"), height=300,
        )
        with gr.Row():
            per_class = gr.Dataframe(label=static("finetune.per_class"), elem_id="per-class", interactive=False)
            confusion = gr.Image(label=static("finetune.confusion"), elem_id="confusion", interactive=False)
        download = gr.DownloadButton(static("finetune.download"), visible=False, elem_id="download")
        with gr.Accordion(static("finetune.push"), open=False):
            with gr.Row():
                repo = gr.Textbox(label=static("finetune.repo"), placeholder=static("finetune.repo_placeholder"))
                token = gr.Textbox(label=static("finetune.token"), type="password")
            push_button = gr.Button(static("finetune.push_button"))
            pushed = gr.Markdown()

    sample_button.click(sample_set, None, slots, api_name="sample_set")
    strategy.change(strategy_defaults, strategy, [epochs, lr], api_name="strategy_defaults")
    train_button.click(
        finetune, [source, strategy, epochs, lr, zip_file, tuned, policy, *slots], [curve, status, per_class, confusion, download, picker, tuned],
        api_name="finetune", concurrency_id="training", concurrency_limit=1, time_limit=1800,
    )
    push_button.click(push_to_hub, [repo, token, tuned], pushed, api_name="push_to_hub")
