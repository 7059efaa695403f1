"""Train or fine-tune a ResNet on an ImageFolder tree or Tiny ImageNet.

One process (CPU, CUDA or MPS, chosen automatically):
    python -m train --data DIR --arch resnet18 --weights timm/resnet18.tv_in1k --epochs 5 --out runs/r18

Several processes with DistributedDataParallel (gloo on CPU, nccl on CUDA):
    torchrun --standalone --nproc_per_node=2 -m train --data DIR --arch resnet18 --epochs 5 --out runs/r18

Interrupted? Run the same command with --resume: it continues from the last complete epoch.

Presets (train/presets.py; flags given as well override the preset's values):
    python -m train --preset seed-tiny-imagenet --data DIR --out runs/seed     # the tutorial as written
    python -m train --preset tiny-imagenet --data DIR --out runs/tiny          # our recipe on a GPU

On CUDA, --pipeline auto decodes images to uint8 in --workers processes and crops, flips and
normalises whole batches on the GPU; --data-on-device auto keeps a set that fits there after
decoding it once. docs/GPU.md says what each setting does.

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
import types
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from resnet import ARCHS, Classifier, build
from resnet.checkpoints.config import CheckpointError, ModelConfig
from resnet.checkpoints.hub import load_checkpoint
from resnet.devices import default_device
from resnet.transforms import Preprocessing

from .checkpoint import latest_checkpoint
from .config import Checkpoints, FitOptions, FitResult, Hooks, TrainConfig
from .data import DataError, TransformedSubset, image_folder, is_tiny_imagenet, stratified_split, tiny_imagenet
from .loop import fit, set_trainable
from .pipeline import PipelineConfig, prepare_inputs
from .presets import PRESETS, preset

CONFIGS = (TrainConfig, PipelineConfig)  # every field of these is a flag

def build_parser() -> argparse.ArgumentParser:
    """The command line; the optimisation and pipeline flags, their types, defaults and help come from ``CONFIGS``."""
    parser = argparse.ArgumentParser(
        prog="python -m train", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="ImageFolder tree or Tiny ImageNet folder")
    parser.add_argument("--out", required=True, help="output folder for the model, checkpoints and metrics")
    parser.add_argument("--arch", choices=ARCHS, default="resnet18", help="architecture (default resnet18)")
    parser.add_argument("--weights", default=None, help="start from these weights: Hub repo id (optionally @revision) or local folder; default: random initialisation")
    parser.add_argument("--preset", choices=list(PRESETS), default=None, help="; ".join(f"{p.name}: {p.summary}" for p in PRESETS.values()))
    parser.add_argument("--input-size", type=int, default=None, help="crop size in pixels (default: the weights' own, else 224; 64 suits Tiny ImageNet)")
    parser.add_argument("--resize-size", type=int, default=None, help="shorter side before the centre crop, in pixels (default: in the weights' proportion to the crop)")
    parser.add_argument("--val-split", type=float, default=0.1, help="share held out when DIR has no val split (default 0.1; 0 holds out nothing)")
    parser.add_argument("--freeze", choices=["none", "stem", "backbone", "last-stage"], default="none", help="parameters to keep fixed: none, stem (conv1, bn1), backbone (all but fc), last-stage (all but layer4 and fc)")
    parser.add_argument("--resume", action="store_true", help="continue from the last complete epoch in --out")
    parser.add_argument("--push-to-hub", metavar="REPO", default=None, help="upload the best model to this Hub repo when done (token: HF_TOKEN or `hf auth login`)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    for config in CONFIGS:
        hints = typing.get_type_hints(config)
        for f in fields(config):
            if f.default is MISSING or "help" not in f.metadata:
                raise TypeError(f"{config.__name__}.{f.name} needs a default and metadata={{'help': ...}} to be a flag")
            flag, text = "--" + f.name.replace("_", "-"), f"{f.metadata['help']} (default {f.default})"
            kind = _flag_type(f"{config.__name__}.{f.name}", hints[f.name])
            if kind is bool:
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=text)
            else:
                parser.add_argument(flag, type=kind, default=f.default, help=text)
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``) with ``build_parser()``; a ``--preset``'s values replace the defaults."""
    parser = build_parser()
    # A first pass for --preset alone: its values become defaults, so flags given explicitly still win.
    chooser = argparse.ArgumentParser(add_help=False)
    chooser.add_argument("--preset", choices=list(PRESETS), default=None)
    chosen, _ = chooser.parse_known_args(argv)
    if chosen.preset is not None:
        parser.set_defaults(**preset(chosen.preset).values)
    return parser.parse_args(argv)


def _flag_type(name: str, hint: Any) -> type:
    """The argparse type of the config field ``name``: ``bool``, ``int``, ``float`` or ``str``, unwrapping ``Optional``."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        present = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = present[0] if len(present) == 1 else hint
    if hint not in (bool, int, float, str):
        raise TypeError(f"{name} has type {hint}; a flag needs bool, int, float or str (or Optional of one)")
    return hint


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
    result = run(args, device=device, rank=rank, world_size=world_size)
    if rank == 0:
        best = f"best held-out top-1 {result.best_top1:.3f} at epoch {result.best_epoch}" if result.best_top1 is not None else "no held-out data"
        print(f"done: {len(result.history)} epochs{' (stopped early)' if result.stopped_early else ''}, {best}; model in {args.out}")
        if args.push_to_hub:
            url = Classifier.from_pretrained(args.out, device="cpu").push_to_hub(args.push_to_hub)
            print(f"pushed to {url}")
    return 0


def run(
    args: argparse.Namespace, *, device: torch.device, rank: int = 0, world_size: int = 1, on_epoch: Sequence[Callable[[dict[str, Any]], Any]] = ()
) -> FitResult:
    """Train as ``args`` (from ``parse_args``) say, on ``device``; the process group, if any, is already up.

    Args:
        args: the parsed command line.
        device: where to train.
        rank: this process's place in a distributed run.
        world_size: the number of processes in it.
        on_epoch: called with each epoch's record after it is logged (see ``fit``).

    Returns:
        What ``fit`` returned; the model, checkpoints and metrics are in ``args.out``.
    """
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    pipeline = PipelineConfig(**{f.name: getattr(args, f.name) for f in fields(PipelineConfig)})
    if device.type == "cuda":
        # Every batch has one shape: cuDNN's autotuning pays for itself within the first steps (at the cost of bitwise repeatability).
        torch.backends.cudnn.benchmark = True
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
        # The same initial weights on every rank and every run, without touching torch's global generator.
        model, model_config = _initial_model(args, labels, torch.Generator().manual_seed(config.seed))
    set_trainable(model, args.freeze)

    # Augmentation seeded per (seed, epoch, image) on the CPU, per (seed, epoch, rank) on the device: the same on a resumed run.
    inputs = prepare_inputs(train_data, val_data, model_config.preprocessing, pipeline, device=device, seed=config.seed, workers=config.workers)
    model.to(device)
    if config.channels_last and device.type != "mps":
        model.to(memory_format=torch.channels_last)
    wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if world_size > 1 else model

    log(
        f"{model_config.arch}: {len(labels)} classes, {len(train_data)} training / {len(val_data) if val_data else 0} held-out images, "
        f"device {device}, {world_size} process(es); {inputs.summary}"
    )
    return fit(
        wrapped,
        inputs.train,
        inputs.val,
        config,
        num_classes=len(labels),
        options=FitOptions(device=device, transforms=inputs.transforms, compile=pipeline.compile, rank=rank, world_size=world_size),
        checkpoints=Checkpoints(out, model_config, resume=args.resume),
        hooks=Hooks(on_epoch=[lambda r: log(_format_record(r)), *on_epoch], progress=not args.no_progress),
    )


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


def _initial_model(args: argparse.Namespace, labels: tuple[str, ...], generator: torch.Generator) -> tuple[torch.nn.Module, ModelConfig]:
    """The model to train (``--weights``, else a random initialisation drawn from ``generator``) and its config."""
    if args.weights:
        model, loaded = load_checkpoint(args.weights)
        if loaded.arch != args.arch:
            raise ValueError(f"--weights {args.weights} hold a {loaded.arch}, but --arch is {args.arch}")
        preprocessing = loaded.preprocessing
        if len(labels) != loaded.num_classes or loaded.labels != labels:
            model.reset_classifier(len(labels), generator=generator)
    else:
        model, preprocessing = build(args.arch, num_classes=len(labels), generator=generator), Preprocessing()
    if args.input_size or args.resize_size:
        crop = args.input_size or preprocessing.crop_size
        preprocessing = Preprocessing(
            crop_size=crop,
            resize_size=args.resize_size or round(crop * preprocessing.resize_size / preprocessing.crop_size),
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
