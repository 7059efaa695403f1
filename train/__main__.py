"""Train or fine-tune a ResNet on an ImageFolder tree or Tiny ImageNet.

One process (CPU, CUDA or MPS, chosen automatically):
    python -m train --data DIR --arch resnet18 --weights timm/resnet18.tv_in1k --epochs 5 --out runs/r18

Several processes with DistributedDataParallel (gloo on CPU, nccl on CUDA):
    torchrun --standalone --nproc_per_node=2 -m train --data DIR --arch resnet18 --epochs 5 --out runs/r18

Interrupted? Run the same command with --resume: it continues from the last complete epoch.

DIR is either an ImageFolder tree (DIR/<class>/<image>; with DIR/train and DIR/val
subfolders those are the splits, else --val-split holds out a stratified share)
or the Tiny ImageNet layout (wnids.txt, train/<wnid>/images, val/val_annotations.txt).
Outputs in --out: the best model (config.json, model.safetensors, README.md, loadable
with resnet.Classifier.from_pretrained), checkpoints/epoch-NNNN for --resume,
metrics.csv and log.json.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from resnet import ARCHS, Classifier, build
from resnet.hub import CheckpointError, ModelConfig, load_checkpoint
from resnet.transforms import Preprocessing, eval_transform, train_transform
from resnet.devices import default_device

from .data import DataError, TransformedSubset, image_folder, is_tiny_imagenet, stratified_split, tiny_imagenet
from .loop import TrainConfig, fit, latest_checkpoint, set_trainable

_HELP = {
    "epochs": "number of epochs",
    "batch_size": "images per optimiser step, per process",
    "lr": "peak learning rate",
    "optimizer": "sgd (Nesterov momentum) or adamw",
    "momentum": "SGD momentum",
    "weight_decay": "weight decay",
    "schedule": "cosine (after warm-up) or constant",
    "warmup_epochs": "linear warm-up length, in epochs (fractions allowed)",
    "min_lr": "learning rate at the end of the cosine schedule",
    "label_smoothing": "label smoothing of the cross-entropy loss",
    "amp": "mixed precision: auto (bf16 on CUDA and on CPUs with AMX/AVX512-BF16), bf16, fp16 (CUDA), off",
    "channels_last": "use the channels-last memory format (faster convolutions on CPU and CUDA)",
    "grad_clip": "clip the global gradient norm to this value",
    "early_stopping": "stop after this many epochs without a better held-out top-1",
    "seed": "random seed (data order, augmentation, split)",
    "workers": "DataLoader worker processes",
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line; optimisation defaults come from ``TrainConfig``."""
    parser = argparse.ArgumentParser(
        prog="python -m train", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="ImageFolder tree or Tiny ImageNet folder")
    parser.add_argument("--out", required=True, help="output folder for the model, checkpoints and metrics")
    parser.add_argument("--arch", choices=ARCHS, default="resnet18", help="architecture (default resnet18)")
    parser.add_argument("--weights", default=None, help="start from these weights: Hub repo id (optionally @revision) or local folder; default: random initialisation")
    parser.add_argument("--input-size", type=int, default=None, help="crop size in pixels (default: the weights' own, else 224; 64 suits Tiny ImageNet)")
    parser.add_argument("--val-split", type=float, default=0.1, help="share held out when DIR has no val split (default 0.1; 0 holds out nothing)")
    parser.add_argument("--freeze", choices=["none", "stem", "backbone", "last-stage"], default="none", help="parameters to keep fixed: none, stem (conv1, bn1), backbone (all but fc), last-stage (all but layer4 and fc)")
    parser.add_argument("--resume", action="store_true", help="continue from the last complete epoch in --out")
    parser.add_argument("--push-to-hub", metavar="REPO", default=None, help="upload the best model to this Hub repo when done (token: HF_TOKEN or `hf auth login`)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=f"{_HELP[f.name]} (default {default})")
        else:
            kind = {"int": int, "float": float, "str": str}.get(str(f.type).replace("Optional[", "").rstrip("]"), str)
            parser.add_argument(flag, type=kind, default=default, help=f"{_HELP[f.name]} (default {default})")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run training as the command line says; returns the exit status."""
    args = parse_args(argv)
    distributed = "RANK" in os.environ
    rank, world_size, local_rank = 0, 1, 0
    if distributed:
        rank, world_size, local_rank = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    if args.device:
        device = torch.device(args.device)
    elif distributed and torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
    else:
        device = default_device()
    if distributed:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        return _run(args, device, rank, world_size)
    except (DataError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if distributed:
            dist.destroy_process_group()


def _run(args: argparse.Namespace, device: torch.device, rank: int, world_size: int) -> int:
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    out = Path(args.out)
    log = print if rank == 0 else (lambda *a, **k: None)

    train_data, val_data = _datasets(Path(args.data), args.val_split, config.seed)
    labels = tuple(train_data.dataset.classes)

    checkpoint = latest_checkpoint(out) if args.resume else None
    if checkpoint is not None:
        # Resume rebuilds the model from the stored config; fit() restores weights and state.
        model, model_config = load_checkpoint(str(checkpoint))
        if model_config.labels != labels:
            raise DataError(f"{checkpoint} was trained on classes {list(model_config.labels)[:5]}..., not those in {args.data}")
        log(f"resuming from {checkpoint}")
    else:
        torch.manual_seed(config.seed)  # the same initial weights on every rank and every run
        model, model_config = _initial_model(args, labels)
    set_trainable(model, args.freeze)

    train_data.transform = train_transform(model_config.preprocessing)
    if val_data is not None:
        val_data.transform = eval_transform(model_config.preprocessing)
    model.to(device)
    if config.channels_last and device.type != "mps":
        model.to(memory_format=torch.channels_last)
    wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if world_size > 1 else model

    log(
        f"{model_config.arch}: {len(labels)} classes, {len(train_data)} training / {len(val_data) if val_data else 0} held-out images, "
        f"device {device}, {world_size} process(es)"
    )
    result = fit(
        wrapped,
        train_data,
        val_data,
        config,
        num_classes=len(labels),
        device=device,
        out_dir=out,
        model_config=model_config,
        resume=args.resume,
        on_epoch=[lambda r: log(_format_record(r))],
        progress=not args.no_progress,
        rank=rank,
        world_size=world_size,
    )
    if rank == 0:
        best = f"best held-out top-1 {result.best_top1:.3f} at epoch {result.best_epoch}" if result.best_top1 is not None else "no held-out data"
        log(f"done: {len(result.history)} epochs{' (stopped early)' if result.stopped_early else ''}, {best}; model in {out}")
        if args.push_to_hub:
            url = Classifier.from_pretrained(out, device="cpu").push_to_hub(args.push_to_hub)
            log(f"pushed to {url}")
    return 0


def _datasets(data: Path, val_split: float, seed: int) -> tuple[TransformedSubset, Optional[TransformedSubset]]:
    if is_tiny_imagenet(data):
        train, val = tiny_imagenet(data, "train"), tiny_imagenet(data, "val")
        return TransformedSubset(train, range(len(train))), TransformedSubset(val, range(len(val)))
    if (data / "train").is_dir() and (data / "val").is_dir():
        train, val = image_folder(data / "train"), image_folder(data / "val")
        if val.classes != train.classes:
            raise DataError(f"{data}/train and {data}/val have different class folders")
        return TransformedSubset(train, range(len(train))), TransformedSubset(val, range(len(val)))
    everything = image_folder(data)
    train_idx, val_idx = stratified_split(everything.targets, val_split, seed)
    return TransformedSubset(everything, train_idx), (TransformedSubset(everything, val_idx) if val_idx else None)


def _initial_model(args: argparse.Namespace, labels: tuple[str, ...]) -> tuple[torch.nn.Module, ModelConfig]:
    if args.weights:
        model, loaded = load_checkpoint(args.weights)
        if loaded.arch != args.arch:
            raise ValueError(f"--weights {args.weights} hold a {loaded.arch}, but --arch is {args.arch}")
        preprocessing = loaded.preprocessing
        if len(labels) != loaded.num_classes or loaded.labels != labels:
            model.reset_classifier(len(labels))
    else:
        model, preprocessing = build(args.arch, num_classes=len(labels)), Preprocessing()
    if args.input_size:
        preprocessing = Preprocessing(
            crop_size=args.input_size,
            resize_size=round(args.input_size * preprocessing.resize_size / preprocessing.crop_size),
            interpolation=preprocessing.interpolation,
            mean=preprocessing.mean,
            std=preprocessing.std,
        )
    training = {"base": args.weights or "random initialisation", "data": str(args.data)}
    return model, ModelConfig(args.arch, labels, preprocessing, training=training)


def _format_record(r: dict) -> str:
    text = f"epoch {r['epoch']}: train loss {r['train_loss']:.4f} top-1 {r['train_top1']:.3f}"
    if "val_top1" in r:
        text += f" | held-out loss {r['val_loss']:.4f} top-1 {r['val_top1']:.3f} top-5 {r['val_top5']:.3f}"
    return text + f" | lr {r['lr']:.2e} | {r['seconds']:.1f}s"


if __name__ == "__main__":
    sys.exit(main())
