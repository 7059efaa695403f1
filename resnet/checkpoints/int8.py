"""int8 ONNX that predicts what the fp32 model predicts: ``model-int8.onnx`` next to ``model.onnx``.

ONNX Runtime's static quantization (``quantize_static``) in QDQ form: weights int8 per output
channel, activations uint8 with ranges calibrated on the user's own images (preprocessed
exactly as ``model.onnx`` expects them). The result is kept only if its top-1 agrees with the
fp32 graph's on at least ``MIN_AGREEMENT`` of held-out images the calibration never saw;
otherwise ``Int8Report.reason`` says why it was left out, so a caller can say it too.

Why these settings (measured on ResNets trained here, docs/PERFORMANCE.md): per-channel
weights keep ResNet's very different conv channels apart; activation ranges are the min and max
averaged over the calibration batches (MinMax with ORT's ``CalibMovingAverage``), which ignores
the rare outlier batch without the percentile histograms' sensitivity to which images calibrate;
the first convolution (three input channels, the raw normalised pixels), the global average pool
and the classifier stay fp32, which costs little time and removes most disagreements (a resnet50
trained here went from 96.7 % to 99.0-99.3 % agreement). uint8 activations with int8 weights is the pairing
ONNX Runtime's x86 kernels are fast for (int8 activations ran slower than fp32 here). The
graph first goes through ``quant_pre_process`` (shape inference and ORT's fusions).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Protocol, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import Tensor

from resnet.devices import cpu_flags
from resnet.files import atomic_write
from resnet.transforms import ImageSource

from .onnx import INPUT_NAME, MODEL_FILE

__all__ = [
    "CALIBRATIONS", "INT8_FILE", "MIN_AGREEMENT", "Int8Report", "export_int8", "image_files", "int8_flags", "latency_ms",
    "quantize_int8", "session",
]

INT8_FILE = "model-int8.onnx"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MIN_AGREEMENT = 0.99  # share of held-out images whose int8 top-1 must equal the fp32 graph's
MAX_CALIBRATION = 128  # more images move the ranges little and cost a forward pass each
CALIBRATIONS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy}
PERCENTILE = 99.99  # "percentile" calibration: the share of each activation's values its range covers
# "minmax" averages each calibration batch's min and max (ORT's CalibMovingAverage) instead of taking the extremes
_BATCH = 8
_INT8_FLAGS = {"AVX2": "avx2", "AVX512-VNNI": "avx512_vnni", "AVX-VNNI": "avx_vnni", "AMX": "amx_int8"}  # name: /proc/cpuinfo flag  # calibration images per forward pass


@dataclass
class Int8Report:
    """What ``quantize_int8`` did.

    Attributes:
        path: ``model-int8.onnx``, or None when it was left out.
        reason: why it was left out (``"disagrees"``, ``"no_held_out"``, ``"no_calibration"``), None when kept.
        agreement: share of held-out images where int8 and fp32 give the same top-1 (None if none were given).
        held_out: how many held-out images that share is of.
        calibration: how many images calibrated the activation ranges.
        fp32_ms, int8_ms: median latency of one image (batch 1) through each graph on this CPU.
        threshold: the agreement needed.
        method: the calibration method used.
    """

    path: Optional[Path]
    reason: Optional[str]
    agreement: Optional[float]
    held_out: int
    calibration: int
    fp32_ms: Optional[float]
    int8_ms: Optional[float]
    threshold: float
    method: str

    def why_left_out(self) -> Optional[str]:
        """Why ``model-int8.onnx`` was left out, as one English sentence; None when it was kept."""
        if self.reason == "no_calibration":
            return "No calibration images were given."
        if self.reason == "no_held_out":
            return "There were no held-out images to check its predictions on."
        if self.reason == "disagrees":
            return f"Its top-1 agreed with the fp32 model's on {self.agreement:.1%} of {self.held_out} held-out images; {self.threshold:.0%} is needed."
        return None

    def describe(self) -> str:
        """One English line for logs and the command line."""
        if self.path is None:
            return f"{INT8_FILE} left out: {self.why_left_out()}"
        timing = f"; {self.int8_ms:.1f} ms vs fp32 {self.fp32_ms:.1f} ms per image (batch 1)" if self.int8_ms and self.fp32_ms else ""
        return f"{INT8_FILE}: top-1 agrees with fp32 on {self.agreement:.1%} of {self.held_out} held-out images{timing}"


class _Images(CalibrationDataReader):
    """Feeds preprocessed images to the calibrator, ``size`` at a time."""

    def __init__(self, images: np.ndarray, size: int) -> None:
        self._batches: Iterator[np.ndarray] = (images[i : i + size] for i in range(0, len(images), size))

    def get_next(self) -> Optional[dict[str, np.ndarray]]:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}


def session(path: str | Path, *, threads: Optional[int] = None) -> ort.InferenceSession:
    """An ONNX Runtime CPU session with every graph optimisation; ``threads``: intra-op threads (default: ORT's, one per physical core)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def latency_ms(sess: ort.InferenceSession, image: np.ndarray, *, runs: int = 20, warmup: int = 3) -> float:
    """Median milliseconds of one forward pass of ``image`` (shape (1, 3, h, w)) after ``warmup`` passes."""
    for _ in range(warmup):
        sess.run(None, {INPUT_NAME: image})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sess.run(None, {INPUT_NAME: image})
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _top1(sess: ort.InferenceSession, images: np.ndarray) -> np.ndarray:
    return np.concatenate([sess.run(None, {INPUT_NAME: images[i : i + _BATCH]})[0].argmax(1) for i in range(0, len(images), _BATCH)])


def quantize_int8(
    folder: str | Path,
    calibration: Sequence[np.ndarray],
    held_out: Sequence[np.ndarray],
    *,
    threshold: float = MIN_AGREEMENT,
    method: str = "minmax",
    latency_runs: int = 20,
) -> Int8Report:
    """Write ``model-int8.onnx`` next to ``folder``'s ``model.onnx`` if its top-1 agrees with fp32's on held-out images.

    Args:
        folder: holds ``model.onnx`` (``resnet.checkpoints.onnx.export_onnx``); ``model-int8.onnx`` goes beside it.
        calibration: preprocessed images, each float32 (3, crop, crop) as ``Classifier.preprocess`` gives them,
            from the training set; at most ``MAX_CALIBRATION`` are used (spread evenly over the list).
        held_out: preprocessed images the model and the calibration never saw, to measure agreement on.
        threshold: the share of ``held_out`` that must agree, in (0, 1].
        method: activation calibration, a key of ``CALIBRATIONS``.
        latency_runs: timed batch-1 passes per graph (0: no latency measured).

    Returns:
        An ``Int8Report``; an existing ``model-int8.onnx`` is removed when the new one is left out.

    Raises:
        ValueError: ``threshold`` outside (0, 1], an unknown ``method``, or images of the wrong shape.
        FileNotFoundError: no ``model.onnx`` in ``folder``.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    if method not in CALIBRATIONS:
        raise ValueError(f"method must be one of {sorted(CALIBRATIONS)}, got {method!r}")
    folder = Path(folder)
    fp32_path, int8_path = folder / MODEL_FILE, folder / INT8_FILE
    if not fp32_path.is_file():
        raise FileNotFoundError(f"no {MODEL_FILE} in the folder given; export one first (resnet.checkpoints.onnx.export_onnx)")
    int8_path.unlink(missing_ok=True)
    report = Int8Report(None, None, None, len(held_out), 0, None, None, threshold, method)
    if not len(calibration):
        report.reason = "no_calibration"
        return report
    if not len(held_out):
        report.reason = "no_held_out"
        return report
    picks = np.linspace(0, len(calibration) - 1, min(len(calibration), MAX_CALIBRATION)).round().astype(int)
    cal, test = _stack([calibration[i] for i in sorted(set(picks))]), _stack(held_out)
    size = min(_BATCH, len(cal))
    cal = cal[: len(cal) // size * size]  # equal batches: the histogram calibrators stack all batches' outputs into one array
    report.calibration = len(cal)
    with tempfile.TemporaryDirectory(prefix="resnet-int8-") as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / INT8_FILE
        quant_pre_process(str(fp32_path), str(prepared))
        quantize_static(
            str(prepared), str(quantized), _Images(cal, size), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CALIBRATIONS[method],
            nodes_to_exclude=_kept_in_fp32(onnx.load(prepared)), extra_options={"CalibPercentile": PERCENTILE, "CalibMovingAverage": True},
        )
        fp32, int8 = session(fp32_path), session(quantized)
        report.agreement = float((_top1(fp32, test) == _top1(int8, test)).mean())
        if latency_runs:
            report.fp32_ms, report.int8_ms = (latency_ms(s, test[:1], runs=latency_runs) for s in (fp32, int8))
        if report.agreement < threshold:
            report.reason = "disagrees"
            return report
        atomic_write(int8_path, lambda path: Path(path).write_bytes(quantized.read_bytes()))
    report.path = int8_path
    return report


class Preprocessor(Protocol):
    """What ``export_int8`` needs of a classifier (``resnet.Classifier`` has it): its eval preprocessing."""

    def preprocess(self, image: ImageSource) -> Tensor: ...


def export_int8(
    classifier: Preprocessor,
    folder: str | Path,
    calibration: Sequence[ImageSource],
    held_out: Sequence[ImageSource],
    **options: float | str | int,
) -> Int8Report:
    """``quantize_int8`` on images as files or PIL images, preprocessed as ``classifier`` preprocesses them.

    ``folder`` must already hold ``classifier``'s ``model.onnx`` (``Classifier.export_onnx``); ``options`` go to
    ``quantize_int8``. Only as many calibration images as it uses are decoded.
    """
    picks = np.linspace(0, len(calibration) - 1, min(len(calibration), MAX_CALIBRATION)).round().astype(int) if len(calibration) else []
    arrays = [classifier.preprocess(calibration[i]).numpy() for i in sorted(set(picks))]
    return quantize_int8(folder, arrays, [classifier.preprocess(image).numpy() for image in held_out], **options)


def image_files(folder: str | Path) -> list[Path]:
    """The image files under ``folder`` (any depth), sorted; hidden files are left out.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of images")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())


def _kept_in_fp32(model: onnx.ModelProto) -> list[str]:
    """The nodes left unquantized: the convolution that reads the pixels, the global pool and the classifier."""
    nodes = model.graph.node
    first = [n.name for n in nodes if n.op_type == "Conv" and INPUT_NAME in n.input]
    return first + [n.name for n in nodes if n.op_type in ("GlobalAveragePool", "Gemm", "MatMul")]


def _stack(images: Sequence[np.ndarray]) -> np.ndarray:
    batch = np.stack([np.asarray(image, dtype=np.float32) for image in images])
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"images must be preprocessed, each of shape (3, height, width); got {batch.shape[1:]}")
    return batch


def int8_flags() -> dict[str, bool]:
    """Whether this CPU has the instructions int8 speed depends on (AVX2, AVX512-VNNI, AVX-VNNI, AMX); {} where unknown."""
    flags = cpu_flags()
    return {name: flag in flags for name, flag in _INT8_FLAGS.items()} if flags else {}
