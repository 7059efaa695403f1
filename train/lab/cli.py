"""``python -m train.lab``: run a preset (flags override it), print what it shows, write JSON and a plot."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any, Optional, Sequence

from resnet.cifar import SHORTCUTS

from .config import PRESETS
from .findings import describe_text
from .experiment import run


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m train.lab``: run a preset (flags override it), print the findings, write JSON / a plot; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m train.lab", description="The residual learning lab: the degradation experiment of the paper's Fig. 6, small enough for a laptop CPU.")
    parser.add_argument("--preset", choices=list(PRESETS), default="default", help="settings to start from (default: default)")
    parser.add_argument("--depths", type=int, nargs="+", help="depths, each 6n+2 (preset: 20 56)")
    parser.add_argument("--steps", type=int, help="SGD steps per network")
    parser.add_argument("--width", type=int, help="filters of the first stage (the paper: 16)")
    parser.add_argument("--image-size", type=int, help="image side in pixels")
    parser.add_argument("--data", default=None, help="digits (default: the shipped handwritten digits), patches (of the example photos), cifar10, an ImageFolder folder or a .zip of class folders")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shortcut", choices=SHORTCUTS, default="A", help="A: zero-padded identity (default); B: projections")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--out", help="write the result as JSON here")
    parser.add_argument("--plot", help="draw the curves (the paper's Fig. 6 layout) into this PNG")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k in ("depths", "steps", "width", "image_size", "seed", "shortcut") and v is not None}
    config = replace(PRESETS[args.preset], **{**overrides, "depths": tuple(overrides.get("depths", PRESETS[args.preset].depths))})

    bars: dict[str, Any] = {}

    def show(event: dict[str, Any]) -> None:
        from tqdm import tqdm

        if event["network"] not in bars:
            bars[event["network"]] = tqdm(total=event["steps"], desc=event["network"], position=len(bars), dynamic_ncols=True)
        bar = bars[event["network"]]
        bar.update(event["step"] - bar.n)
        bar.set_postfix(error=f"{event['train_error']:.3f}", loss=f"{event['loss']:.3f}")

    try:
        result = run(config, data=args.data, device=args.device, on_progress=None if args.no_progress else show)
    except ValueError as e:  # DataError included
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        for bar in bars.values():
            bar.close()
    print(describe_text(result))
    if args.out:
        result.to_json(args.out)
    if args.plot:
        from .plot import plot_curves

        plot_curves(result).save(args.plot)
    return 0
