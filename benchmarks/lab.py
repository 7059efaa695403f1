"""Residual learning lab: one preset run end to end per seed, with its errors, its wall time and whether the paper's findings held.

    python -m benchmarks.lab                              # the default preset on the digits, seeds 0 1 2
    python -m benchmarks.lab --preset quick --seeds 0
    python -m benchmarks.lab --data patches               # patches of the example photos instead

Findings checked in every seed (He et al. 2016, Fig. 6): the deepest plain net ends with a
training error (whole training set, eval mode) at least ``--margin`` above the shallowest's,
and the residual net of the deepest depth ends below its plain twin.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from resnet.devices import cpu_model
from train.lab import PRESETS, LabResult, run


def seed_table(seed: int, result: LabResult, wall: float, load: float) -> str:
    """One seed's run as a Markdown table: every network's errors and seconds, then the wall time."""
    lines = [f"seed {seed}: wall time {wall:.1f} s (data included), 1-minute load at start {load:.2f}", "",
             "| network | params | final training error | held-out error | seconds |", "|---|---|---|---|---|"]
    for net in result.networks.values():
        lines.append(f"| {net.name} | {net.params:,} | {net.final_train_error:.3f} | {net.held_out_error:.3f} | {net.seconds:.1f} |")
    return "\n".join(lines)


def findings(result: LabResult, margin: float) -> tuple[bool, str]:
    """Whether the deepest plain net is ``margin`` worse than the shallowest and its residual twin better; and the line saying so."""
    depths = result.settings["depths"]
    nets = result.networks
    low, high = nets[f"plain-{min(depths)}"], nets[f"plain-{max(depths)}"]
    twin = nets[f"residual-{max(depths)}"]
    gap = high.final_train_error - low.final_train_error
    held = gap >= margin and twin.final_train_error < high.final_train_error
    return held, (f"{high.name} - {low.name} = {gap:+.3f} (target >= {margin:+.3f}); "
                  f"{twin.name} {twin.final_train_error:.3f} < {high.name} {high.final_train_error:.3f}: {held}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=list(PRESETS), default="default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", default=None, help="as train.lab's --data (default: the shipped digits)")
    parser.add_argument("--margin", type=float, default=0.05, help="the smallest training-error gap that counts as degradation")
    parser.add_argument("--device", default=None, help="default: resnet.default_device()")
    args = parser.parse_args()
    settings = PRESETS[args.preset]
    print(f"# Lab benchmark: preset {args.preset} {settings}, data {args.data or 'digits'}, {cpu_model()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    held_all, walls = True, []
    for seed in args.seeds:
        load = os.getloadavg()[0]
        start = time.perf_counter()
        result = run(**settings, data=args.data, seed=seed, device=args.device)
        walls.append(time.perf_counter() - start)
        held, line = findings(result, args.margin)
        held_all &= held
        print(f"\n{seed_table(seed, result, walls[-1], load)}\n\n{line}", flush=True)
    print(f"\nwall time per run: {min(walls):.1f} to {max(walls):.1f} s; findings held in every seed: {held_all}")


if __name__ == "__main__":
    main()
