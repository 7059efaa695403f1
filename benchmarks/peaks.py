"""What this CPU can do at best, measured in the run that reports against it: a matrix multiply and a convolution.

``torch.mm`` goes to MKL on x86, and MKL runs its AVX2 kernels on AMD CPUs, so on an AVX-512 AMD EPYC its fp32
"peak" is about half of what the same cores do in oneDNN, which runs the convolutions. A share of the
matmul peak alone would then flatter a convolutional network by about 2x; the benchmarks give both.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["conv_gflops", "matmul_gflops", "peaks"]


def _best_gflops(work: Callable[[], object], flop: float, *, reps: int) -> float:
    """The best of three timings of ``reps`` calls of ``work``, in GFLOP/s; the first call (kernel choice) is not timed."""
    work()
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            work()
        best = min(best, time.perf_counter() - start)
    return flop * reps / best / 1e9


def matmul_gflops(dtype: torch.dtype, *, n: int = 2048, reps: int = 8) -> float:
    """Square ``torch.mm`` of side ``n`` in ``dtype``, in GFLOP/s."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return _best_gflops(lambda: torch.mm(a, b), 2 * n**3, reps=reps)


def conv_gflops(dtype: torch.dtype, *, batch: int = 16, channels: int = 256, side: int = 28, reps: int = 4) -> float:
    """A wide 3x3 convolution, channels-last, in ``dtype``: what a ResNet's convolutions can approach, in GFLOP/s."""
    x = torch.randn(batch, channels, side, side).to(dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(channels, channels, 3, 3).to(dtype).contiguous(memory_format=torch.channels_last)
    return _best_gflops(lambda: F.conv2d(x, w, padding=1), 2 * batch * side * side * channels * channels * 9, reps=reps)


def peaks(dtype: torch.dtype) -> dict[str, float]:
    """Both peaks in ``dtype``: ``{"matmul": ..., "conv": ...}``."""
    return {"matmul": matmul_gflops(dtype), "conv": conv_gflops(dtype)}
