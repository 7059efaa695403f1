"""Residual learning lab: one preset run end to end per seed, both training paths side by side, with errors, wall time and the paper's findings.

    python -m benchmarks.lab                              # the default preset on the digits, seeds 0 1 2, both paths
    python -m benchmarks.lab --preset longer --paths stacked
    python -m benchmarks.lab --data patches               # patches of the example photos instead

Per seed the two training paths alternate: ``one-by-one`` (each of the four networks its own
forward, backward and SGD step, the lab's path before stacking) and ``stacked`` (each plain net
and its residual twin as one ``TwinResNet``, the default). Each row gives the achieved GFLOP/s
of training (6 FLOP per multiply-accumulate: 2 forward, 4 backward; ``resnet.summarize`` counts
the MACs) and its share of two fp32 peaks measured in the same run: ``torch.mm``'s and a wide
convolution's (``benchmarks.peaks``: on an AMD CPU the first is MKL's AVX2 rate, about half the
second). Rows use the peaks at the start; the summary the higher of the start's and the end's.

Findings checked in every run (He et al. 2016, Fig. 6): the deepest plain net ends with a
training error (whole training set, eval mode) at least ``--margin`` above the shallowest's,
and the residual net of the deepest depth ends below its plain twin.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

import torch

from benchmarks.peaks import peaks
from benchmarks.report import cpu_bf16_features
from resnet import summarize
from resnet.cifar import cifar_resnet
from resnet.devices import cpu_model
from train.lab import PRESETS, LabConfig, LabResult, run

PATHS = {"one-by-one": False, "stacked": True}


def training_flops(config: LabConfig) -> float:
    """FLOP of a run's training steps: every network, ``steps`` batches, 6 FLOP a MAC."""
    shape = (1, 3, config.image_size, config.image_size)
    macs = sum(2 * summarize(cifar_resnet(depth, width=config.width), shape).total_macs for depth in config.depths)  # plain and residual
    return 6 * macs * config.batch_size * config.steps


def _shares(rate: float, peak: dict[str, float]) -> str:
    return f"{rate / peak['matmul']:.0%} of the fp32 matmul peak, {rate / peak['conv']:.0%} of the fp32 convolution peak"


def seed_table(label: str, result: LabResult, wall: float, load: float, flops: float, peak: dict[str, float]) -> str:
    """One run as a Markdown table: every network's errors and seconds, then the wall time and the achieved rate."""
    rate = flops / wall / 1e9
    lines = [f"seed {result.settings['seed']}, {label}: wall time {wall:.1f} s (data and evaluation included), "
             f"{rate:.0f} GFLOP/s of training = {_shares(rate, peak)}; 1-minute load at start {load:.2f}", "",
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
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS), help="training paths to run, in this order per seed")
    parser.add_argument("--data", default=None, help="as train.lab's --data (default: the shipped digits)")
    parser.add_argument("--margin", type=float, default=0.05, help="the smallest training-error gap that counts as degradation")
    parser.add_argument("--device", default=None, help="default: resnet.devices.default_device()")
    args = parser.parse_args()
    config = PRESETS[args.preset]
    flops = training_flops(config)
    peak = peaks(torch.float32)
    print(f"# Lab benchmark: preset {args.preset} {config}, data {args.data or 'digits'}, {cpu_model()} ({cpu_bf16_features()}), "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"# {flops / 1e12:.2f} TFLOP of training a run; fp32 peaks at the start: matmul {peak['matmul']:.0f}, convolution {peak['conv']:.0f} GFLOP/s")
    held_all, walls = True, {path: [] for path in args.paths}
    for seed in args.seeds:
        for path in args.paths:
            load = os.getloadavg()[0]
            start = time.perf_counter()
            result = run(replace(config, seed=seed, stacked=PATHS[path]), data=args.data, device=args.device)
            walls[path].append(time.perf_counter() - start)
            held, line = findings(result, args.margin)
            held_all &= held
            print(f"\n{seed_table(path, result, walls[path][-1], load, flops, peak)}\n\n{line}", flush=True)
    end_peak = peaks(torch.float32)
    print(f"\nfp32 peaks at the end: matmul {end_peak['matmul']:.0f}, convolution {end_peak['conv']:.0f} GFLOP/s; 1-minute load {os.getloadavg()[0]:.2f}")
    peak = {kind: max(peak[kind], end_peak[kind]) for kind in peak}  # the machine's own: other work on a shared machine only ever lowers them
    print(f"shares below are of the higher peaks, matmul {peak['matmul']:.0f} and convolution {peak['conv']:.0f} GFLOP/s")
    for path, times in walls.items():
        rate = flops / statistics.mean(times) / 1e9
        print(f"{path}: wall time per run {min(times):.1f} to {max(times):.1f} s (mean {statistics.mean(times):.1f}), "
              f"{rate:.0f} GFLOP/s = {_shares(rate, peak)}")
    if len(walls) == 2:
        ratios = [s / o for s, o in zip(walls["stacked"], walls["one-by-one"])]
        print(f"stacked / one-by-one wall time per seed: {', '.join(f'{r:.2f}x' for r in ratios)}")
    print(f"findings held in every run: {held_all}")


if __name__ == "__main__":
    main()
