"""The training loop, the python -m train command (one process, resumed, torchrun) and the app's fine-tune."""

import argparse
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import resnet
import train
from resnet.checkpoints.config import ModelConfig
from resnet.model import resnet18
from resnet.transforms import Preprocessing, eval_transform
from tests.conftest import ROOT
from tests.textures import patches, write_imagefolder
from train.augment import AugmentedSubset, RandomCropFlip
from train.checkpoint import latest_checkpoint
from train.config import TrainConfig
from train.data import DataError, TransformedSubset, in_memory, stratified_split, tiny_imagenet
from train.evaluate import evaluate
from train.loop import Checkpoints, Hooks, fit, set_trainable
from train.presets import STRATEGY_DEFAULTS
from train.schedule import lr_at

TRAIN_ARGS = ["--arch", "resnet18", "--input-size", "64", "--batch-size", "16", "--lr", "0.02", "--no-progress"]


@pytest.fixture(scope="module")
def texture_folder(tmp_path_factory) -> Path:
    return write_imagefolder(tmp_path_factory.mktemp("tex") / "data", train_per_class=48, val_per_class=16)


def run_train(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=600, **kwargs)


def test_lr_schedule_is_a_pure_function():
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(10, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(55, 100, 1.0, 10, min_lr=0.0) == pytest.approx(0.5)
    assert lr_at(100, 100, 1.0, 10, min_lr=0.1) == pytest.approx(0.1)
    assert lr_at(80, 100, 0.3, 0, schedule="constant") == 0.3


def test_set_trainable():
    model = resnet18()
    set_trainable(model, "backbone")
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    set_trainable(model, "last-stage")
    assert all(n.startswith(("layer4.", "fc.")) for n, p in model.named_parameters() if p.requires_grad)
    set_trainable(model, "stem")
    assert not model.conv1.weight.requires_grad and model.layer1[0].conv1.weight.requires_grad
    with pytest.raises(ValueError, match="'everything'"):
        set_trainable(model, "everything")


def test_stratified_split_is_seeded_and_keeps_every_class():
    targets = [0] * 10 + [1] * 5 + [2] * 1
    train_idx, val_idx = stratified_split(targets, 0.2, seed=3)
    assert sorted(train_idx + val_idx) == list(range(16)) and not set(train_idx) & set(val_idx)
    assert [targets[i] for i in val_idx].count(0) == 2 and [targets[i] for i in val_idx].count(1) == 1
    assert 15 in train_idx  # a class with one image keeps it for training
    assert stratified_split(targets, 0.2, seed=3) == (train_idx, val_idx)


def test_evaluate_restores_training_mode_and_counts_correctly():
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2)), model.bias.zero_()
    data = torch.utils.data.TensorDataset(torch.tensor([[1.0, 0], [0, 1.0], [1.0, 0]]), torch.tensor([0, 1, 1]))
    model.train()
    metrics = evaluate(model, data, batch_size=2, device=torch.device("cpu"), num_classes=2)
    assert model.training
    assert metrics["top1"] == pytest.approx(2 / 3) and metrics["confusion"].tolist() == [[1, 0], [1, 1]]


def test_command_line_trains_well_above_chance(texture_folder, tmp_path):
    out = tmp_path / "run"
    result = run_train("--data", texture_folder, "--out", out, "--epochs", "8", *TRAIN_ARGS)
    assert result.returncode == 0, result.stderr
    log = json.loads((out / "log.json").read_text())
    assert len(log) == 8 and max(r["val_top1"] for r in log) >= 0.8  # chance is 1/3
    assert "done: 8 epochs, best held-out top-1" in result.stdout
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss,train_top1,lr,val_loss,val_top1,val_top5") and len(rows) == 9
    clf = resnet.Classifier.from_pretrained(out, device="cpu")
    assert clf.labels == ["brick", "grass", "gravel"]
    assert clf.config.preprocessing.crop_size == 64
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-0007", "epoch-0008"]


def test_help_documents_every_flag():
    out = run_train("--help")
    assert out.returncode == 0
    for flag in ("--data", "--arch", "--weights", "--epochs", "--batch-size", "--lr", "--out", "--resume", "--val-split",
                 "--freeze", "--push-to-hub", "--optimizer", "--amp", "--label-smoothing", "--grad-clip", "--warmup-epochs",
                 "--channels-last", "--early-stopping", "--input-size", "--workers", "torchrun"):
        assert flag in out.stdout, flag


def test_sigkill_mid_epoch_then_resume_finishes_like_an_uninterrupted_run(texture_folder, tmp_path):
    args = ["--data", texture_folder, "--epochs", "5", *TRAIN_ARGS, "--seed", "1"]
    whole = run_train(*args, "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "train", *map(str, args), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (out / "checkpoints" / "epoch-0002").is_dir() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # well into epoch 3
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"

    done = latest_checkpoint(out)
    assert done is not None and done.name in ("epoch-0002", "epoch-0003")
    for folder in (out / "checkpoints").glob("epoch-*"):  # every checkpoint left behind is complete and loads
        resnet.Classifier.from_pretrained(folder, device="cpu")
        torch.load(folder / "state.pt", weights_only=True)

    resumed = run_train(*args, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout
    assert not list((out / "checkpoints").glob(".tmp-*"))
    ours, theirs = json.loads((out / "log.json").read_text()), json.loads((tmp_path / "whole" / "log.json").read_text())
    assert [r["epoch"] for r in ours] == [1, 2, 3, 4, 5]
    for a, b in zip(ours, theirs):  # the same batches, the same numbers
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_top1"] == pytest.approx(b["val_top1"])
    a = resnet.Classifier.from_pretrained(out / "checkpoints" / "epoch-0005", device="cpu").model.state_dict()
    b = resnet.Classifier.from_pretrained(tmp_path / "whole" / "checkpoints" / "epoch-0005", device="cpu").model.state_dict()
    assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) < 1e-4


def test_torchrun_runs_two_processes_and_its_checkpoint_loads(texture_folder, tmp_path):
    out = tmp_path / "ddp"
    # --standalone: a single-node rendezvous on a free localhost port.
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "train", "--data", str(texture_folder), "--out", str(out), "--epochs", "2", *TRAIN_ARGS]
    # A session of its own, so a hang kills the workers too, not only the launcher.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    assert "2 process(es)" in stdout and stdout.count("done: 2 epochs") == 1  # rank 0 alone logs
    clf = resnet.Classifier.from_pretrained(out, device="cpu")
    assert clf.config.training["epochs_done"] in (1, 2) and len(json.loads((out / "log.json").read_text())) == 2


def make_tiny_imagenet(root: Path) -> dict[str, str]:
    wnids = ["n02124075", "n01443537", "n04067472"]  # deliberately not sorted
    names = {"n01443537": "goldfish, Carassius auratus", "n02124075": "Egyptian cat", "n04067472": "reel"}
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (root / "words.txt").write_text("".join(f"{w}\t{n}\n" for w, n in names.items()) + "n00000001\tunused\n")
    colours = {w: c for w, c in zip(wnids, [(200, 40, 40), (40, 200, 40), (40, 40, 200)])}
    for w in wnids:
        (root / "train" / w / "images").mkdir(parents=True)
        (root / "train" / w / f"{w}_boxes.txt").write_text("")
        for i in range(4):
            Image.new("RGB", (64, 64), colours[w]).save(root / "train" / w / "images" / f"{w}_{i}.JPEG")
    (root / "val" / "images").mkdir(parents=True)
    truth, lines = {}, []
    for i, w in enumerate(wnids * 2):
        name = f"val_{i}.JPEG"
        Image.new("RGB", (64, 64), colours[w]).save(root / "val" / "images" / name)
        lines.append(f"{name}\t{w}\t0\t0\t63\t63")
        truth[name] = w
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return {name: names[w].split(",")[0] for name, w in truth.items()}


def test_tiny_imagenet_layout_labels_validation_images(tmp_path):
    truth = make_tiny_imagenet(tmp_path)
    val = tiny_imagenet(tmp_path, "val")
    train_set = tiny_imagenet(tmp_path, "train")
    assert val.classes == train_set.classes == ["goldfish", "Egyptian cat", "reel"]  # sorted wnids, readable names
    for (path, target) in val.items:
        assert val.classes[target] == truth[Path(path).name]
    assert len(train_set) == 12 and train_set.classes[train_set.targets[0]] == "goldfish"
    result = run_train("--data", tmp_path, "--out", tmp_path / "out", "--epochs", "1", *TRAIN_ARGS)
    assert result.returncode == 0, result.stderr
    assert "12 training / 6 held-out" in result.stdout


@pytest.mark.parametrize("strategy", ["head", "last-stage", "full"])
def test_finetune_strategies_give_a_classifier_with_the_new_labels(texture_model, strategy):
    samples = {f"my {name}": images for name, images in patches("train", 12, seed=5).items()}
    seen = []
    result = train.finetune(str(texture_model), samples, strategy=strategy, epochs=3, on_progress=seen.append, device="cpu")
    clf = result.classifier
    assert clf.labels == list(samples) and clf.config.training["strategy"] == strategy
    held_out = patches("val", 4, seed=9)
    right = sum(clf.predict(image, top_k=1)[0][0] == f"my {name}" for name, images in held_out.items() for image in images)
    assert right >= 8  # of 12 unseen patches, each named by its own photo's new label (chance: 4)
    assert [r["epoch"] for r in seen if r["stage"] == "train"] == [1, 2, 3]
    assert len(result.history) == 3 and {"train_loss", "val_top1"} <= set(result.history[0])
    assert result.confusion.shape == (3, 3) and result.confusion.sum(axis=1).tolist() == [2, 2, 2]  # round(12 * 0.2) a class
    assert set(result.per_class_accuracy) == set(samples)
    assert not clf.model.training


def test_head_on_cached_features_matches_the_plain_loop(texture_model):
    samples = patches("train", 20, seed=11)
    cached = train.finetune(str(texture_model), samples, strategy="head", epochs=10, options=train.FinetuneOptions(held_out=0.25), device="cpu")
    plain = train.finetune(str(texture_model), samples, strategy="head", epochs=10, options=train.FinetuneOptions(held_out=0.25, cache_features=False), device="cpu")
    a, b = cached.history[-1]["val_top1"], plain.history[-1]["val_top1"]
    assert a >= 0.8 and abs(a - b) <= 0.1  # chance is 1/3; 15 held-out images, so 0.1 is one or two images


def test_finetune_leaves_the_source_classifier_untouched(texture_model):
    source = resnet.Classifier.from_pretrained(texture_model, device="cpu")
    before = {k: v.clone() for k, v in source.model.state_dict().items()}
    two_classes = {name: images for name, images in patches("train", 6).items() if name != "gravel"}
    result = train.finetune(source, two_classes, strategy="full", epochs=1, device="cpu")
    assert all(torch.equal(before[k], v) for k, v in source.model.state_dict().items())
    assert source.model.fc.out_features == 3 and source.labels == ["brick", "grass", "gravel"]
    assert result.classifier.model.fc.out_features == 2 and result.labels == ["brick", "grass"]


def test_head_strategy_trains_a_new_head_on_the_unchanged_backbone(texture_model):
    source = resnet.Classifier.from_pretrained(texture_model, device="cpu")
    result = train.finetune(source, patches("train", 6, seed=4), strategy="head", epochs=2, device="cpu")
    ours, theirs = result.classifier.model.state_dict(), source.model.state_dict()
    backbone = [k for k in theirs if not k.startswith("fc.")]
    assert len(backbone) > 100 and all(torch.equal(ours[k], theirs[k]) for k in backbone)  # running statistics too
    assert ours["fc.weight"].shape == theirs["fc.weight"].shape and not torch.allclose(ours["fc.weight"], theirs["fc.weight"])


def test_bad_finetune_input_gets_clear_messages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = Image.new("RGB", (32, 32))
    with pytest.raises(DataError, match="at least two classes"):
        train.finetune("resnet18", {"only": [good, good]})
    with pytest.raises(DataError, match="class 'empty' has no images"):
        train.finetune("resnet18", {"full": [good], "empty": []})
    with pytest.raises(DataError, match="over the limit of 500"):
        train.finetune("resnet18", {"a": [good] * 300, "b": [good] * 201})
    with pytest.raises(DataError, match=r"2 image\(s\) could not be read: notes.jpg .*empty.png"):
        (tmp_path / "notes.jpg").write_text("shopping list")
        (tmp_path / "empty.png").write_bytes(b"")
        train.finetune("resnet18", [(good, "a"), (tmp_path / "notes.jpg", "a"), (good, "b"), (tmp_path / "empty.png", "b")])
    with pytest.raises(DataError, match="empty name"):
        train.finetune("resnet18", {" ": [good], "b": [good]})
    with pytest.raises(DataError, match="must differ"):
        train.finetune("resnet18", {"Cat": [good], "cat": [good]})
    with pytest.raises(ValueError, match="strategy"):
        train.finetune("resnet18", {"a": [good], "b": [good]}, strategy="everything")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.png", "notes.jpg"]  # nothing else written


def test_finetune_from_scratch_writes_nothing_and_repeats_with_its_seed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = train.finetune("resnet18", patches("train", 5), strategy="head", epochs=2, device="cpu")
    assert result.classifier.config.training["base"] == "resnet18 (random initialisation)"
    assert list(tmp_path.iterdir()) == []
    torch.randn(100)  # whatever the global random state was, the seed decides the initialisation
    repeat = train.finetune("resnet18", patches("train", 5), strategy="head", epochs=2, device="cpu")
    assert torch.equal(repeat.classifier.model.layer1[0].conv1.weight, result.classifier.model.layer1[0].conv1.weight)
    timeless = lambda history: [{k: v for k, v in record.items() if k != "seconds"} for record in history]  # noqa: E731
    assert timeless(repeat.history) == timeless(result.history)
    result.classifier.save_pretrained(tmp_path / "saved")
    again = resnet.Classifier.from_pretrained(tmp_path / "saved", device="cpu")
    x = torch.randn(1, 3, 224, 224)
    assert torch.equal(again.logits(x), result.classifier.logits(x))


def test_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    model = resnet18(num_classes=2)
    config = ModelConfig("resnet18", ("a", "b"))
    resnet.checkpoints.saving.save_checkpoint(model, config, tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()

    write_bytes = Path.write_bytes

    def disk_full(path, data):  # half the weights written, then the disk is full
        write_bytes(path, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(OSError, match="No space left"):
        resnet.checkpoints.saving.save_checkpoint(resnet18(num_classes=2), config, tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "config.json", "model.safetensors"]


def test_push_to_hub_flag(texture_folder, tmp_path, monkeypatch):
    from train.__main__ import main

    pushed = {}
    monkeypatch.setattr(resnet.Classifier, "push_to_hub", lambda self, repo, **kw: pushed.setdefault("repo", repo) and "url")
    assert main(["--data", str(texture_folder), "--out", str(tmp_path / "o"), "--epochs", "1", *TRAIN_ARGS, "--push-to-hub", "me/textures"]) == 0
    assert pushed["repo"] == "me/textures"


def test_bad_command_line_input(tmp_path):
    (tmp_path / "one" / "cls").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "one" / "cls" / "a.png")
    result = run_train("--data", tmp_path / "one", "--out", tmp_path / "o", "--epochs", "1")
    assert result.returncode == 2 and "at least two" in result.stderr
    result = run_train("--data", tmp_path / "missing", "--out", tmp_path / "o")
    assert result.returncode == 2 and "no folder at" in result.stderr


def test_finetune_epochs_none_is_the_default_and_below_one_is_refused():
    good = [Image.new("RGB", (32, 32), colour) for colour in ("red", "blue")]
    for bad in (0, -2):
        with pytest.raises(ValueError, match=rf"epochs must be at least 1 .*got {bad}$"):
            train.finetune("resnet18", {"a": good, "b": good}, epochs=bad)
    result = train.finetune("resnet18", {"a": good, "b": good}, epochs=None, options=train.FinetuneOptions(views=1), device="cpu")
    assert len(result.history) == STRATEGY_DEFAULTS["head"]["epochs"] == result.classifier.config.training["epochs"]


def test_should_stop_ends_a_finetune_between_steps_with_the_epochs_completed(texture_model):
    asked = []
    should_stop = lambda: asked.append(1) or len(asked) > 6  # noqa: E731
    seen = []
    # 36 images, 30 for training, 4 views each: 120 feature vectors, 4 steps an epoch at batch 32.
    result = train.finetune(str(texture_model), patches("train", 12), epochs=5, should_stop=should_stop, on_progress=seen.append, device="cpu")
    assert len(asked) == 7  # 4 steps of epoch 1, 2 of epoch 2, then the 7th answer stopped it
    assert result.stopped and result.stopped_epoch == 2
    assert [r["epoch"] for r in result.history] == [1] and [r["epoch"] for r in seen if r["stage"] == "train"] == [1]
    assert result.classifier.config.training["epochs_done"] == 1 and result.confusion.sum() == 6
    full = train.finetune(str(texture_model), patches("train", 12), epochs=1, should_stop=lambda: False, device="cpu")
    assert not full.stopped and full.stopped_epoch is None


def tiny_images(split: str = "train") -> AugmentedSubset | TransformedSubset:
    """16 texture patches of two classes as 32x32 crops: random ones for "train", central ones for "val"."""
    two = {name: images for name, images in patches(split, 8, size=48).items() if name != "gravel"}
    data, p = in_memory(two, max_images=16), Preprocessing(crop_size=32, resize_size=36)
    if split == "val":
        return TransformedSubset(data, range(len(data)), eval_transform(p))
    return AugmentedSubset(data, range(len(data)), RandomCropFlip(p), seed=3)


def test_should_stop_mid_epoch_keeps_only_complete_checkpoints(tmp_path):
    model = resnet.build("resnet18", num_classes=2, generator=torch.Generator().manual_seed(0))
    asked = []
    should_stop = lambda: asked.append(1) or len(asked) > 6  # noqa: E731
    config = TrainConfig(epochs=3, batch_size=4, lr=0.01, channels_last=False, amp="off")
    result = fit(model, tiny_images(), None, config, num_classes=2, checkpoints=Checkpoints(tmp_path, ModelConfig("resnet18", ("a", "b"))), hooks=Hooks(should_stop=should_stop))
    assert result.stopped and result.stopped_epoch == 2 and not result.stopped_early and len(asked) == 7
    assert [r["epoch"] for r in result.history] == [1]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["epoch-0001"]  # nothing of epoch 2, not even a .tmp-*
    assert len(json.loads((tmp_path / "log.json").read_text())) == 1
    assert torch.load(tmp_path / "checkpoints" / "epoch-0001" / "state.pt", weights_only=True)["step"] == 4


def test_resume_repeats_the_uninterrupted_run_and_reads_old_checkpoints_with_rng_state(tmp_path):
    def run(out, init=0, resume=False, should_stop=None):
        model = resnet.build("resnet18", num_classes=2, generator=torch.Generator().manual_seed(init))
        config = TrainConfig(epochs=2, batch_size=4, lr=0.02, channels_last=False, amp="off", seed=5)
        saved = Checkpoints(out, ModelConfig("resnet18", ("a", "b")), resume=resume)
        result = fit(model, tiny_images(), tiny_images("val"), config, num_classes=2, checkpoints=saved, hooks=Hooks(should_stop=should_stop))
        return result, model

    whole, whole_model = run(tmp_path / "whole")
    asked = []
    interrupted, _ = run(tmp_path / "part", should_stop=lambda: asked.append(1) or len(asked) > 5)
    assert interrupted.stopped and len(interrupted.history) == 1
    state_file = tmp_path / "part" / "checkpoints" / "epoch-0001" / "state.pt"
    state = torch.load(state_file, weights_only=True)
    assert "rng" not in state
    state["rng"] = {"torch": torch.get_rng_state(), "python": random.getstate()}  # as older versions saved it
    torch.save(state, state_file)

    torch.randn(100), random.random()  # whatever the global generators hold, the run goes on as it would have
    resumed, resumed_model = run(tmp_path / "part", resume=True, init=1)  # other initial weights: the checkpoint's win
    timeless = lambda history: [{k: v for k, v in r.items() if k != "seconds"} for r in history]  # noqa: E731
    assert timeless(resumed.history) == timeless(whole.history) and len(whole.history) == 2
    assert all(torch.equal(a, b) for a, b in zip(resumed_model.state_dict().values(), whole_model.state_dict().values()))


def test_every_train_config_field_is_a_flag_with_its_help_type_and_default():
    from train.__main__ import build_parser

    actions = {a.dest: a for a in build_parser()._actions}
    expected_types = {"epochs": int, "batch_size": int, "lr": float, "optimizer": str, "momentum": float, "weight_decay": float,
                      "schedule": str, "warmup_epochs": float, "min_lr": float, "label_smoothing": float, "amp": str,
                      "channels_last": bool, "grad_clip": float, "early_stopping": int, "seed": int, "workers": int}
    assert [f.name for f in dataclasses.fields(TrainConfig)] == list(expected_types)
    for f in dataclasses.fields(TrainConfig):
        action = actions[f.name]
        assert action.option_strings[0] == "--" + f.name.replace("_", "-")
        assert f.metadata["help"] and action.help == f"{f.metadata['help']} (default {f.default})"
        assert action.default == f.default
        if expected_types[f.name] is bool:
            assert isinstance(action, argparse.BooleanOptionalAction)
        else:
            assert action.type is expected_types[f.name], f.name
    args = build_parser().parse_args(["--data", "d", "--out", "o", "--grad-clip", "1.5", "--early-stopping", "3", "--no-channels-last"])
    assert (args.grad_clip, args.early_stopping, args.channels_last, args.lr) == (1.5, 3, False, 0.1)


def test_every_epoch_callback_is_called_even_after_one_asks_to_stop():
    data = torch.utils.data.TensorDataset(torch.randn(16, 4, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 2)
    first, second = [], []
    stop_at_one = lambda record: first.append(record["epoch"]) or True  # noqa: E731
    config = TrainConfig(epochs=3, batch_size=8, lr=0.1, channels_last=False, amp="off")
    result = fit(torch.nn.Linear(4, 2), data, None, config, num_classes=2, hooks=Hooks(on_epoch=[stop_at_one, lambda record: second.append(record["epoch"])]))
    assert first == second == [1] and result.stopped_early and len(result.history) == 1


def test_early_stopping_and_callbacks_stop_training():
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(32, 4), torch.randint(0, 2, (32,)))
    frozen_lr = TrainConfig(epochs=10, batch_size=8, lr=1e-12, schedule="constant", warmup_epochs=0, early_stopping=2, channels_last=False, amp="off")
    result = fit(torch.nn.Linear(4, 2), data, data, frozen_lr, num_classes=2)
    assert result.stopped_early and [r["epoch"] for r in result.history] == [1, 2, 3]  # no better top-1 after epoch 1
    seen = []
    stop_at_two = lambda record: seen.append(record["epoch"]) or record["epoch"] == 2  # noqa: E731
    config = TrainConfig(epochs=10, batch_size=8, lr=0.1, channels_last=False, amp="off")
    result = fit(torch.nn.Linear(4, 2), data, None, config, num_classes=2, hooks=Hooks(on_epoch=[stop_at_two]))
    assert seen == [1, 2] and len(result.history) == 2 and result.best_top1 is None


def test_quarter_turns_are_drawn_from_the_sample_generator_and_cover_all_four():
    from torchvision.transforms.v2.functional import pil_to_tensor

    from train.augment_extra import RandomRotate90

    image = patches("train", 1, size=24)["brick"][0].crop((0, 0, 24, 16))  # not square: every turn is told apart
    turn = RandomRotate90(lambda picture, generator: pil_to_tensor(picture))
    original = pil_to_tensor(image)
    turns = []
    for seed in range(40):
        out = turn(image, torch.Generator().manual_seed(seed))
        (k,) = [k for k in range(4) if torch.equal(out, torch.rot90(original, k, dims=(1, 2)))]
        turns.append(k)
        assert torch.equal(turn(image, torch.Generator().manual_seed(seed)), out)  # the generator alone decides
    assert set(turns) == {0, 1, 2, 3}


def test_full_from_a_random_start_uses_the_scratch_recipe():
    from train.presets import SCRATCH, SCRATCH_PREPROCESSING, finetune_defaults

    assert finetune_defaults("resnet18", "full") == STRATEGY_DEFAULTS["scratch"] != STRATEGY_DEFAULTS["full"]
    assert finetune_defaults("resnet18", "head") == STRATEGY_DEFAULTS["head"]
    assert finetune_defaults("timm/resnet18.tv_in1k", "full") == STRATEGY_DEFAULTS["full"]
    with pytest.raises(ValueError, match="'all'"):
        finetune_defaults("resnet18", "all")
    # Stopped before its first step: the model as the recipe built it, and the settings it would have trained with.
    result = train.finetune("resnet18", patches("train", 4, size=48), strategy="full", should_stop=lambda: True, options=train.FinetuneOptions(rotate90=True), device="cpu")
    training = result.classifier.config.training
    assert (training["epochs"], training["lr"], training["rotate90"]) == (STRATEGY_DEFAULTS["scratch"]["epochs"], STRATEGY_DEFAULTS["scratch"]["lr"], True)
    assert result.classifier.config.preprocessing == SCRATCH_PREPROCESSING
    assert all(not block.bn2.weight.any() for stage in (result.classifier.model.layer1, result.classifier.model.layer4) for block in stage)  # zero-init residuals
    assert SCRATCH.schedule == "cosine" and SCRATCH.warmup_share > 0


def test_a_short_run_from_scratch_beats_chance_and_decays_its_learning_rate():
    result = train.finetune("resnet18", patches("train", 10), strategy="full", epochs=8, options=train.FinetuneOptions(held_out=0), device="cpu")
    lrs = [record["lr"] for record in result.history]
    peak = STRATEGY_DEFAULTS["scratch"]["lr"]
    assert max(lrs) <= peak and lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.1 * peak  # cosine decay to near zero
    held_out = patches("val", 10, seed=1)
    right = sum(top[0][0] == name for name, images in held_out.items() for top in result.classifier.predict_batch(images, top_k=1))
    assert right >= 16  # of 30 unseen patches (chance: 10; seed 0 gets 20)


def _finetune_conv_dtypes(amp: str, strategy: str = "full") -> tuple[set[torch.dtype], "train.FinetuneResult"]:
    """A one-epoch fine-tune of a random resnet18 with ``amp``, and the dtypes its convolutions computed in (their outputs')."""
    seen: set[torch.dtype] = set()

    def record(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            seen.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        result = train.finetune("resnet18", patches("train", 4, size=48), strategy=strategy, epochs=1, options=train.FinetuneOptions(amp=amp), device="cpu")
    finally:
        handle.remove()
    return seen, result


@pytest.mark.parametrize("amp, computed", [("bf16", torch.bfloat16), ("off", torch.float32)])
def test_finetune_precision_switch_casts_the_convolutions_but_never_the_weights(amp, computed):
    seen, result = _finetune_conv_dtypes(amp)
    assert seen == {computed}  # bf16: every convolution of training and evaluation autocast; off: none
    assert {p.dtype for p in result.classifier.model.parameters()} == {torch.float32}  # fp32 master weights
    assert {b.dtype for b in result.classifier.model.buffers() if b.is_floating_point()} == {torch.float32}  # BatchNorm statistics


@pytest.mark.parametrize("flags, computed", [({"avx2", "avx512f", "avx512_bf16"}, torch.bfloat16), ({"avx2", "avx512f"}, torch.float32)])
def test_finetune_auto_precision_follows_the_cpus_bf16_instructions(monkeypatch, flags, computed):
    from resnet import devices

    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset(flags))  # a CPU with or without AVX512-BF16, whatever this one has
    monkeypatch.setattr(devices.platform, "machine", lambda: "x86_64")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    for strategy in ("full", "head"):  # "head" computes its cached features under the same rule
        seen, _ = _finetune_conv_dtypes("auto", strategy)
        assert seen == {computed}, strategy
