"""Command line: ``python -m resnet summary resnet50``, ``python -m resnet predict photo.jpg``, ``python -m resnet check ...``, ``python -m resnet export ...``.

Examples:
    python -m resnet summary resnet50 --depth 2
    python -m resnet summary resnet34 --plain --input-size 64 --csv r34.csv
    python -m resnet predict photo.jpg --model timm/resnet50.a1_in1k --top-k 5
    python -m resnet check my_resnet.py:resnet50 --arch resnet50   # imports and runs YOUR file
    python -m resnet check my_resnet50.onnx --arch resnet50
    python -m resnet export runs/r18 --out onnx/ --int8 --calibration my_photos/   # model.onnx (+ model-int8.onnx)
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Optional, Sequence

from torch import nn

from .anatomy.summary import summarize
from .model import ARCHS, build


def _summary(args: argparse.Namespace) -> int:
    model = build(args.arch, num_classes=args.num_classes, plain=args.plain)
    summary = summarize(model, input_size=(1, 3, args.input_size, args.input_size), depth=args.depth)
    print(summary)
    if args.csv:
        summary.to_csv(args.csv)
        print(f"Wrote {args.csv}")
    if args.json:
        summary.to_json(args.json)
        print(f"Wrote {args.json}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .predict import Classifier

    classifier = Classifier.from_pretrained(args.model, device=args.device)
    for path in args.images:
        print(path)
        for label, prob in classifier.predict(path, top_k=args.top_k):
            print(f"  {prob:7.2%}  {label}")
    return 0


def _load_factory(spec: str) -> nn.Module:
    """Import ``path/to/model.py`` and call its ``factory`` (``"path/to/model.py:factory"``); for the command line only.

    This runs the user's own code: the app never calls it.

    Raises:
        ValueError: the spec is malformed, the file or function is missing, or the function returns no ``nn.Module``.
    """
    file, _, factory = spec.rpartition(":")
    path = Path(file)
    if not file.endswith(".py") or not factory.isidentifier():
        raise ValueError(f"{spec!r}: write path/to/model.py:function, e.g. my_resnet.py:resnet50")
    if not path.is_file():
        raise ValueError(f"no file {file}")
    module_spec = importlib.util.spec_from_file_location(f"_checked_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(path.resolve().parent))  # so the file's own sibling imports work
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.resolve().parent))
    if not callable(getattr(module, factory, None)):
        raise ValueError(f"{file} has no function {factory}")
    model = getattr(module, factory)()
    if not isinstance(model, nn.Module):
        raise ValueError(f"{factory}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _check(args: argparse.Namespace) -> int:
    from .check import check_resnet

    source = _load_factory(args.model) if ".py:" in args.model else args.model
    report = check_resnet(source, args.arch)
    print(report)
    return 0 if report.matches else 1


def _export(args: argparse.Namespace) -> int:
    from .predict import Classifier

    classifier = Classifier.from_pretrained(args.checkpoint, device="cpu", fast=False)
    path = classifier.export_onnx(args.out, opset=args.opset)
    print(f"Wrote {path} and {path.with_name('preprocessing.json')}")
    if not args.int8:
        return 0
    from .checkpoints.int8 import export_int8, image_files

    calibration = image_files(args.calibration)
    if args.held_out:
        held_out = image_files(args.held_out)
    else:  # every fifth image checks the int8 model and is never calibrated on
        calibration, held_out = [p for i, p in enumerate(calibration) if i % 5], calibration[::5]
    print(f"Calibrating on {len(calibration)} image(s), checking on {len(held_out)} held-out image(s)...")
    report = export_int8(classifier, path.parent, calibration, held_out, threshold=args.min_agreement, method=args.calibrate)
    print(report.describe())
    return 0 if report.path else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m resnet", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    s = commands.add_parser("summary", help="print the per-layer table of an architecture")
    s.add_argument("arch", choices=ARCHS, help="architecture name")
    s.add_argument("--input-size", type=int, default=224, help="square input side in pixels (default 224)")
    s.add_argument("--depth", type=int, default=None, help="1 = stages, 2 = blocks; default: every layer")
    s.add_argument("--plain", action="store_true", help="the plain twin, without shortcuts")
    s.add_argument("--num-classes", type=int, default=1000, help="size of the output layer (default 1000)")
    s.add_argument("--csv", metavar="FILE", help="also write the rows as CSV")
    s.add_argument("--json", metavar="FILE", help="also write rows and totals as JSON")
    s.set_defaults(run=_summary)

    p = commands.add_parser("predict", help="classify images with a pretrained checkpoint")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--model", default="timm/resnet50.a1_in1k", help="Hub repo id (optionally @revision) or local folder")
    p.add_argument("--top-k", type=int, default=None, help="how many classes to print (default 5, or every class of a smaller model)")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    p.set_defaults(run=_predict)

    c = commands.add_parser("check", help="compare a ResNet you wrote with the reference of its depth (exit status 1 where it departs)")
    c.add_argument("model", help="model.py:factory (imports your file and calls factory()), a .safetensors state_dict or an .onnx file")
    c.add_argument("--arch", choices=ARCHS, required=True, help="the depth you meant to build")
    c.set_defaults(run=_check)

    e = commands.add_parser("export", help="write model.onnx + preprocessing.json (and with --int8 a checked model-int8.onnx)")
    e.add_argument("checkpoint", help="Hub repo id (optionally @revision) or local checkpoint folder")
    e.add_argument("--out", required=True, metavar="DIR", help="folder for the files (created if needed)")
    e.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    e.add_argument("--int8", action="store_true", help="also model-int8.onnx, kept only if its top-1 agrees with fp32 on the held-out images")
    e.add_argument("--calibration", metavar="DIR", help="images like the model's inputs (any depth of folders); needed with --int8")
    e.add_argument("--held-out", metavar="DIR", help="images to check agreement on (default: every fifth calibration image, set aside)")
    e.add_argument("--calibrate", choices=("minmax", "percentile", "entropy"), default="minmax", help="activation calibration (default minmax: ranges averaged over the calibration batches, as the app does)")
    e.add_argument("--min-agreement", type=float, default=0.99, help="share of held-out images whose top-1 must agree (default 0.99)")
    e.set_defaults(run=_export)

    args = parser.parse_args(argv)
    if getattr(args, "int8", False) and not args.calibration:
        parser.error("--int8 needs --calibration DIR: images to calibrate the int8 ranges on")
    from .checkpoints.config import CheckpointError

    try:
        return args.run(args)
    except (CheckpointError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
