"""Residual learning lab: one preset run end to end, with its errors, its wall time and whether the paper's findings held.

    python -m benchmarks.lab                   # the default preset: plain and residual nets of 20 and 56 layers
    python -m benchmarks.lab --preset quick

Findings checked (He et al. 2016, Fig. 6): the deepest plain net ends with a higher training
error than the shallowest, and the residual net of the deepest depth ends below its plain twin.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from resnet.devices import cpu_model
from train.lab import PRESETS, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=list(PRESETS), default="default")
    parser.add_argument("--device", default=None, help="default: resnet.default_device()")
    args = parser.parse_args()
    settings = PRESETS[args.preset]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = run(**settings, device=args.device)
    wall = time.perf_counter() - start
    nets = result.networks

    print(f"# Lab benchmark: preset {args.preset} {settings}, device {result.settings['device']}, {cpu_model()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, 1-minute load at start {load:.2f}")
    print()
    print("| network | params | final training error | held-out error | seconds |")
    print("|---|---|---|---|---|")
    for net in nets.values():
        print(f"| {net.name} | {net.params:,} | {net.final_train_error:.3f} | {net.held_out_error:.3f} | {net.seconds:.1f} |")
    print()
    print(f"wall time of the whole run (data included): {wall:.1f} s")
    low, high = min(settings["depths"]), max(settings["depths"])
    plain_low, plain_high, res_high = nets[f"plain-{low}"], nets[f"plain-{high}"], nets[f"residual-{high}"]
    print(f"plain-{high} > plain-{low} (training error): {plain_high.final_train_error > plain_low.final_train_error} "
          f"({plain_high.final_train_error:.3f} vs {plain_low.final_train_error:.3f})")
    print(f"residual-{high} < plain-{high} (training error): {res_high.final_train_error < plain_high.final_train_error} "
          f"({res_high.final_train_error:.3f} vs {plain_high.final_train_error:.3f})")
    print(f"time ratio plain-{high} / plain-{low}: {plain_high.seconds / plain_low.seconds:.2f}; "
          f"residual-{high} / plain-{high}: {res_high.seconds / plain_high.seconds:.2f}")


if __name__ == "__main__":
    main()
