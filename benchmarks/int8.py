"""int8 ONNX (resnet.checkpoints.int8) against ONNX Runtime fp32, side by side in one run, on ResNets trained here.

For resnet18 and resnet50: a network trained from scratch on the texture patches at 64 px (the top half of
each photo; tests/textures.py), exported to ONNX and quantized by ``resnet.checkpoints.int8.quantize_int8`` with
128 training patches for calibration. Top-1 agreement (int8 vs fp32) is counted on 300 held-out patches
(the bottom halves), for each calibration method, at the trained 64 px. Latency is the median of one image
(batch 1) at 224 px (the same weights exported with a 224 crop: the nets are fully convolutional), fp32 and
int8 timed in interleaved rounds, under a few ONNX Runtime session settings. The CPU's int8 instructions
are printed beside the figures.

    python -m benchmarks.int8 [--rounds 40] [--work DIR]

``--work`` keeps the trained networks between runs (training resnet50 takes minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import resnet
from resnet.checkpoints.config import ModelConfig
from resnet.checkpoints.int8 import CALIBRATIONS, int8_flags, quantize_int8, session
from resnet.checkpoints.onnx import INPUT_NAME
from resnet.devices import cpu_model, physical_cores
from resnet.transforms import Preprocessing
from tests.textures import patches, write_imagefolder

ARCHS = {"resnet18": (8, 48), "resnet50": (10, 96)}  # architecture: (epochs, training patches per class) from scratch at 64 px


def trained(arch: str, work: Path) -> resnet.Classifier:
    """A network trained on the texture patches (kept in ``work``), as tests/conftest.py's texture_model is."""
    from train.__main__ import main as train_main

    out, (epochs, per_class) = work / arch, ARCHS[arch]
    if not (out / "config.json").is_file():
        data = write_imagefolder(work / f"data-{arch}", train_per_class=per_class, val_per_class=16)
        args = ["--data", str(data), "--out", str(out), "--arch", arch, "--input-size", "64", "--epochs", str(epochs),
                "--batch-size", "16", "--lr", "0.02", "--no-progress"]
        assert train_main(args) == 0
    return resnet.Classifier.from_pretrained(out, device="cpu", fast=False)


def preprocessed(classifier: resnet.Classifier, split: str, per_class: int, seed: int) -> list[np.ndarray]:
    return [classifier.preprocess(image).numpy() for group in patches(split, per_class, seed=seed).values() for image in group]


def at_224(classifier: resnet.Classifier) -> resnet.Classifier:
    """The same weights behind a 224 px crop (resize 256), for latency at the size photos are classified at."""
    config = ModelConfig(classifier.config.arch, tuple(classifier.labels), Preprocessing.from_crop_pct(224, 0.875))
    return resnet.Classifier(classifier.model, config, device="cpu", fast=False)


def agreement_by_method(classifier: resnet.Classifier, folder: Path) -> dict[str, str]:
    """Agreement of int8 with fp32 on 300 held-out patches at the trained size, for each calibration method."""
    classifier.export_onnx(folder)
    cal, held = preprocessed(classifier, "train", 43, seed=11), preprocessed(classifier, "val", 100, seed=12)
    out = {}
    for method in CALIBRATIONS:
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print their progress
            report = quantize_int8(folder, cal, held, method=method, latency_runs=0)
        out[method] = f"{report.agreement:.1%} ({time.perf_counter() - start:.0f} s)"
    return out


def options(name: str) -> dict:
    """ONNX Runtime settings tried: every graph optimisation (the default) or the extended set, threads = physical cores or ORT's default."""
    return {
        "all, ORT threads": {"level": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "threads": 0},
        f"all, {physical_cores()} threads": {"level": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "threads": physical_cores()},
        "extended, ORT threads": {"level": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "threads": 0},
    }[name]


def make_session(path: Path, name: str) -> ort.InferenceSession:
    chosen = options(name)
    if chosen["level"] == ort.GraphOptimizationLevel.ORT_ENABLE_ALL:
        return session(path, threads=chosen["threads"] or None)
    so = ort.SessionOptions()
    so.graph_optimization_level = chosen["level"]
    so.intra_op_num_threads = chosen["threads"]
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def latencies(classifier: resnet.Classifier, folder: Path, rounds: int) -> tuple[list[tuple[str, float, float]], str]:
    """Median batch-1 ms of fp32 and int8 at 224 px under each session setting, timed in interleaved rounds; and the 224 px agreement."""
    big = at_224(classifier)
    big.export_onnx(folder)
    with contextlib.redirect_stdout(io.StringIO()):  # kept whatever it agrees on (threshold ~0): timed, and its agreement printed
        report = quantize_int8(folder, preprocessed(big, "train", 43, seed=11), preprocessed(big, "val", 20, seed=12), latency_runs=0, threshold=1e-9)
    names = ["all, ORT threads", f"all, {physical_cores()} threads", "extended, ORT threads"]
    sessions = {(n, kind): make_session(folder / file, n) for n in names for kind, file in (("fp32", "model.onnx"), ("int8", "model-int8.onnx"))}
    x = preprocessed(big, "val", 1, seed=13)[0][None]
    times: dict = {key: [] for key in sessions}
    for _ in range(3):  # warm-up
        for s in sessions.values():
            s.run(None, {INPUT_NAME: x})
    for _ in range(rounds):
        for key, s in sessions.items():
            start = time.perf_counter()
            s.run(None, {INPUT_NAME: x})
            times[key].append(1000 * (time.perf_counter() - start))
    rows = [(n, statistics.median(times[(n, "fp32")]), statistics.median(times[(n, "int8")])) for n in names]
    return rows, f"{report.agreement:.1%} of {report.held_out}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds per session (default 40)")
    parser.add_argument("--work", type=Path, default=None, help="folder that keeps the trained networks between runs")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="int8-bench-"))
    flags = ", ".join(f"{name} {'yes' if present else 'no'}" for name, present in int8_flags().items()) or "not known"
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical / {physical_cores()} physical cores; {flags}")
    print(f"onnxruntime {ort.__version__}. The CPU is shared with other work: ratios (interleaved rounds) mean more than absolute ms.\n")
    results = {}
    for arch in ARCHS:
        start = time.perf_counter()
        classifier = trained(arch, work)
        print(f"{arch}: trained (or loaded) in {time.perf_counter() - start:.0f} s", flush=True)
        results[arch] = (agreement_by_method(classifier, work / f"{arch}-64"), *latencies(classifier, work / f"{arch}-224", args.rounds))
    print("\nTop-1 agreement of int8 with fp32 on 300 held-out patches at 64 px (trained size), by calibration (quantize time):\n")
    print("| network | " + " | ".join(CALIBRATIONS) + " |\n|---|" + "---|" * len(CALIBRATIONS))
    for arch, (by_method, _, _) in results.items():
        print(f"| {arch} | " + " | ".join(by_method[m] for m in CALIBRATIONS) + " |")
    print("\nBatch 1 at 224 px, median ms (default calibration: minmax, moving average); int8 / fp32 target <= 0.5x:\n")
    print("| network | session | fp32 ms | int8 ms | int8 / fp32 | agreement at 224 px |\n|---|---|---|---|---|---|")
    for arch, (_, rows, agree) in results.items():
        for name, fp32, int8 in rows:
            print(f"| {arch} | {name} | {fp32:.1f} | {int8:.1f} | {int8 / fp32:.2f}x | {agree} |")


if __name__ == "__main__":
    main()
