"""Which device to run on, and which reduced precision it computes fast."""

from __future__ import annotations

import functools
import os
import platform
from typing import Optional

import torch

__all__ = ["default_device", "cpu_has_fast_bf16", "autocast_dtype", "physical_cores"]


def default_device() -> torch.device:
    """CUDA if present, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True on x86 CPUs with AMX or AVX-512 BF16 instructions (Linux: read from /proc/cpuinfo)."""
    if platform.system() != "Linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def autocast_dtype(device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype worth using for training on ``device``, or None for fp32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


@functools.lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads do not help convolutions); at least 1."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    cores = set()
    try:
        # /sys tells which logical CPUs share a core (Linux); elsewhere count logical CPUs.
        for cpu in allowed:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/core_cpus_list", encoding="utf-8") as f:
                cores.add(f.read().strip())
    except OSError:
        return max(1, len(allowed))
    return max(1, len(cores))
