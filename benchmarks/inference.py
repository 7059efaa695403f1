"""Inference latency, measured side by side in one run, on the same weights.

For resnet18 and resnet50 at batch 1 and 8, the median latency of
  (a) torchvision.models eager fp32,
  (b) ONNX Runtime fp32 (exported from (a); a benchmark-only dependency),
  (c) our forward on the fast path (resnet.fast: folded BN, bf16 where fast, fused oneDNN kernels; the default),
  (c') the same network on resnet.fast's eager backend (folded BN, bf16, channels-last; what CUDA and MPS run),
  (e) torch.compile (inductor, frozen weights) of that folded bf16 network: the alternative to (c), for reference,
  (d) Classifier.predict end to end (decode, preprocess, forward, softmax) on a real photo,
and the achieved GFLOP/s (2 x MACs / time) of (c), also as a share of this machine's matmul peak
measured in the same run in the precision (c) computes in (bf16 or fp32).
A second table times decoding and preprocessing alone, by photo, against torchvision's preset.
A third compares one photo's answer + explanation in one pass (Classifier.classify) with two
(predict, then explain: the app's two requests), and a fourth, 8 threads classifying at once,
each its own classify against one shared resnet.batching.MicroBatcher.
Rounds interleave the contenders, so drift in machine load hits all alike.

    python -m benchmarks.inference [--rounds 30]

As on an AVX2-only CPU (no AVX-512, as many laptops and cloud vCPUs), on a newer one:

    ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python -m benchmarks.inference
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import torch
import torchvision
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

import resnet
from resnet.devices import cpu_has_fast_bf16, cpu_model, fast_dtype, physical_cores
from resnet.fast import fold_batchnorm, optimize_for_inference
from resnet.batching import MicroBatcher
from resnet.transforms import Preprocessing, eval_transform, load_image
from resnet.checkpoints.config import ModelConfig
from resnet.model import ResNet, resnet50

PHOTO = ROOT / "examples" / "chelsea.png"


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    """Measured GFLOP/s of an n x n matrix product in ``dtype``."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def onnx_session(model: torch.nn.Module, batch: int):
    import onnxruntime as ort

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated; it still exports this model exactly
        torch.onnx.export(model, torch.randn(batch, 3, 224, 224), buffer, input_names=["x"], output_names=["y"], dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ORT's workers spin-wait after each run by default, taking the cores from whatever runs next
    # in an interleaved benchmark; without spinning, each contender gets the machine to itself.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


def compiled_reference(model: ResNet, dtype: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    """torch.compile of the folded network with inductor's weight freezing (what makes compiled CPU inference fast)."""
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True
    folded = fold_batchnorm(model).to(memory_format=torch.channels_last).to(dtype)
    compiled = torch.compile(folded)
    return lambda x: compiled(x.to(dtype).contiguous(memory_format=torch.channels_last))


def median_times(runs: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in runs}
    with torch.inference_mode():
        for fn in runs.values():  # warm-up (and, for (e), compilation)
            fn(), fn()
        for _ in range(rounds):
            for key, fn in runs.items():
                start = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_arch(arch: str, batch: int, rounds: int) -> dict[str, float]:
    torch.manual_seed(0)
    reference = getattr(torchvision.models, arch)().eval()
    model = resnet.build(arch)
    model.load_state_dict(reference.state_dict())
    model.eval()
    config = ModelConfig(arch, resnet.checkpoints.config.imagenet_labels())
    classifier = resnet.Classifier(model, config, device="cpu")
    cpu = torch.device("cpu")
    eager = optimize_for_inference(model, cpu, 224, backend="eager")
    compiled = compiled_reference(model, fast_dtype(cpu))
    session = onnx_session(reference, batch)
    x = classifier.preprocess(PHOTO).unsqueeze(0).repeat(batch, 1, 1, 1)
    x_np = x.numpy()
    photos = [PHOTO] * batch
    medians = median_times(
        {
            "a": lambda: reference(x),
            "b": lambda: session.run(None, {"x": x_np}),
            "c": lambda: classifier.fast(x),
            "c_eager": lambda: eager(x),
            "e": lambda: compiled(x),
            "d": lambda: classifier.predict_batch(photos, top_k=5),
        },
        rounds,
    )
    assert classifier.fast.backend == "onednn", "the default CPU fast path should be the fused oneDNN one here"
    macs = resnet.summarize(model, (batch, 3, 224, 224)).total_macs
    medians["gflops_c"] = 2 * macs / medians["c"] / 1e9
    return medians


def bench_preprocessing(rounds: int) -> list[tuple[str, dict[str, float]]]:
    """Decode + preprocess of one photo: torchvision's preset, ours in full, ours as Classifier does it."""
    config = ModelConfig("resnet50", resnet.checkpoints.config.imagenet_labels(), Preprocessing.from_crop_pct(224, 0.965))
    classifier = resnet.Classifier(resnet50().eval(), config, device="cpu")
    preset = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.transforms()  # resize 232, crop 224: the same numbers
    full = eval_transform(config.preprocessing)
    camera = io.BytesIO()
    Image.open(ROOT / "examples" / "rocket.jpg").resize((4032, 3024), Image.Resampling.BICUBIC).save(camera, "JPEG", quality=90)
    photos = {
        "chelsea.png (451x300 PNG)": (ROOT / "examples" / "chelsea.png").read_bytes(),
        "rocket.jpg (640x427 JPEG)": (ROOT / "examples" / "rocket.jpg").read_bytes(),
        "12-megapixel JPEG (rocket.jpg enlarged to 4032x3024)": camera.getvalue(),
    }
    rows = []
    for name, data in photos.items():
        rows.append((name, median_times(
            {
                "torchvision": lambda: preset(Image.open(io.BytesIO(data)).convert("RGB")),
                "full": lambda: full(load_image(data)),
                "ours": lambda: classifier.preprocess(data),
            },
            rounds,
        )))
    return rows


def bench_one_pass(rounds: int) -> list[tuple[str, dict[str, float]]]:
    """Batch-1 predict, classify (answer + map + overlay, one pass) and predict + explain (two passes), end to end."""
    rows = []
    for arch in ("resnet18", "resnet50"):
        model = resnet.build(arch, generator=torch.Generator().manual_seed(0)).eval()
        classifier = resnet.Classifier(model, ModelConfig(arch, resnet.checkpoints.config.imagenet_labels()), device="cpu")
        rows.append((arch, median_times(
            {
                "predict": lambda: classifier.predict(PHOTO),
                "classify": lambda: classifier.classify(PHOTO),
                "two": lambda: (classifier.predict(PHOTO), classifier.explain(PHOTO)),
            },
            rounds,
        )))
    return rows


def bench_micro_batching(rounds: int, threads: int = 8) -> dict[str, float]:
    """Seconds for ``threads`` callers to classify one photo each, all at once: each on its own, and through a MicroBatcher."""
    model = resnet.build("resnet50", generator=torch.Generator().manual_seed(0)).eval()
    classifier = resnet.Classifier(model, ModelConfig("resnet50", resnet.checkpoints.config.imagenet_labels()), device="cpu")
    photos = [PHOTO] * threads
    with ThreadPoolExecutor(max_workers=threads) as pool, MicroBatcher(classifier.classify_prepared, max_batch=threads, max_wait_ms=2) as batcher:
        lock = threading.Lock()  # "each on its own": one forward at a time, as a server's single model does without batching

        def alone(photo: Path) -> object:
            prepared = classifier.prepare(photo)
            with lock:
                return classifier.classify_prepared([prepared])

        return median_times(
            {
                "alone": lambda: list(pool.map(alone, photos)),
                "batched": lambda: list(pool.map(lambda photo: batcher(classifier.prepare(photo)), photos)),
                "lone": lambda: batcher(classifier.prepare(PHOTO)),
                "direct": lambda: classifier.classify(PHOTO),
            },
            rounds,
        )


def capped() -> str:
    """The instruction-set caps this run is under (an AVX2-only CPU emulated on a newer one), as a clause of the heading."""
    caps = [f"{name}={os.environ[name]}" for name in ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS") if os.environ.get(name)]
    return f"; capped: {', '.join(caps)}" if caps else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(physical_cores())
    fp32_peak, bf16_peak = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)

    print(f"# Inference: {cpu_model()}, {torch.get_num_threads()} threads; torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"onnxruntime {__import__('onnxruntime').__version__}; fast path dtype {fast_dtype(torch.device('cpu'))}"
          f" (bf16 hardware: {cpu_has_fast_bf16()})" + capped())
    dtype = fast_dtype(torch.device("cpu"))
    peak = {torch.float32: fp32_peak, torch.bfloat16: bf16_peak}[dtype]
    dtype_name = str(dtype).removeprefix("torch.")
    print(f"matmul peaks measured now: fp32 {fp32_peak:.0f} GFLOP/s, bf16 {bf16_peak:.0f} GFLOP/s")
    print()
    print("| model | batch | (a) torchvision fp32 ms | (b) ONNX Runtime fp32 ms | (c) ours, fast path ms | (c') ours, eager backend ms "
          f"| (e) torch.compile, frozen ms | (d) predict end to end ms | c/a | c/b | c/e | d-c ms | GFLOP/s (c) | (c) / {dtype_name} matmul peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for arch in ("resnet18", "resnet50"):
        for batch in (1, 8):
            m = bench_arch(arch, batch, args.rounds)
            ms = {k: 1000 * v for k, v in m.items()}
            print(f"| {arch} | {batch} | {ms['a']:.1f} | {ms['b']:.1f} | {ms['c']:.1f} | {ms['c_eager']:.1f} | {ms['e']:.1f} | {ms['d']:.1f} | "
                  f"{m['c'] / m['a']:.2f} | {m['c'] / m['b']:.2f} | {m['c'] / m['e']:.2f} | {ms['d'] - ms['c']:.1f} | {m['gflops_c']:.0f} | "
                  f"{m['gflops_c'] / peak:.0%} |")
    print()
    print("Decode and preprocess one photo (resize 232, crop 224), ms:")
    print()
    print("| photo | torchvision preset (PIL decode + ImageClassification) | ours, full decode | ours, as Classifier does it | ours / torchvision |")
    print("|---|---|---|---|---|")
    for name, m in bench_preprocessing(args.rounds):
        print(f"| {name} | {1000 * m['torchvision']:.1f} | {1000 * m['full']:.1f} | {1000 * m['ours']:.1f} | {m['ours'] / m['torchvision']:.2f} |")
    print()
    print("Answer and explanation of one photo (chelsea.png), end to end (decode, preprocess, network, map), ms:")
    print()
    print("| model | predict (top-5) | classify (top-5 + map + overlay, one pass) | predict + explain (two passes) | classify / predict | classify / (predict + explain) |")
    print("|---|---|---|---|---|---|")
    for arch, m in bench_one_pass(args.rounds):
        print(f"| {arch} | {1000 * m['predict']:.1f} | {1000 * m['classify']:.1f} | {1000 * m['two']:.1f} | "
              f"{m['classify'] / m['predict']:.2f} | {m['classify'] / m['two']:.2f} |")
    print()
    m = bench_micro_batching(max(5, args.rounds // 3))
    print("8 threads classify one photo each at once (ResNet-50): one forward each vs resnet.batching.MicroBatcher(max_batch=8, max_wait_ms=2), ms:")
    print()
    print("| one forward each, all 8 | micro-batched, all 8 | batched / each | a lone call through the batcher | a lone call direct | lone: batcher - direct |")
    print("|---|---|---|---|---|---|")
    print(f"| {1000 * m['alone']:.0f} | {1000 * m['batched']:.0f} | {m['batched'] / m['alone']:.2f} | {1000 * m['lone']:.1f} | {1000 * m['direct']:.1f} | "
          f"{1000 * (m['lone'] - m['direct']):+.1f} |")


if __name__ == "__main__":
    main()
