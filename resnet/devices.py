"""Which device to run on, and which reduced precision it computes fast."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import platform
from typing import Iterator, Optional

import torch

__all__ = ["default_device", "use_device", "cpu_flags", "cpu_has_fast_bf16", "cpu_model", "fast_dtype", "autocast_dtype", "onednn_isa_cap", "physical_cores"]


# Set by ``use_device``: per thread and per task, so one request can run on the CPU while others use the GPU.
_CHOSEN: contextvars.ContextVar[Optional[torch.device]] = contextvars.ContextVar("resnet_device", default=None)


def default_device() -> torch.device:
    """The device ``use_device`` chose for this context; else CUDA if present, then Apple's MPS, then the CPU."""
    chosen = _CHOSEN.get()
    if chosen is not None:
        return chosen
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@contextlib.contextmanager
def use_device(device: str | torch.device) -> Iterator[torch.device]:
    """Within the block (this thread or task, and threads started with its context), ``default_device()`` is ``device``.

    Example: a Space whose GPU allowance is used up runs a request on the CPU with ``with use_device("cpu"): ...``.
    """
    token = _CHOSEN.set(torch.device(device))
    try:
        yield _CHOSEN.get()
    finally:
        _CHOSEN.reset(token)


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """The first CPU's model name and instruction-set flags from /proc/cpuinfo (Linux); empty elsewhere."""
    name, flags = "", frozenset()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not name:
                    name = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = frozenset(value.split())
    except OSError:
        pass  # not Linux, or /proc hidden: no flags known, so no fast path is assumed
    return name, flags


def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags (``avx2``, ``amx_bf16``, ...); empty where they cannot be read."""
    return _cpuinfo()[1]


def cpu_model() -> str:
    """The CPU's marketing name, e.g. ``"Intel(R) Xeon(R) Platinum 8480+"``; else what ``platform`` knows."""
    return _cpuinfo()[0] or platform.processor() or platform.machine()


# oneDNN instruction-set levels below AVX-512 BF16: capped there (ONEDNN_MAX_CPU_ISA), its bf16 kernels emulate
# the dot products in fp32 and run slower than fp32 itself, whatever the CPU has.
_ONEDNN_ISAS_WITHOUT_BF16 = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"})


def onednn_isa_cap() -> Optional[str]:
    """The instruction-set level oneDNN is capped at (``ONEDNN_MAX_CPU_ISA``, or its older name ``DNNL_MAX_CPU_ISA``), upper case; None when not capped."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return cap.strip().upper() if cap and cap.strip() else None


def cpu_has_fast_bf16() -> bool:
    """True on x86 CPUs with AMX or AVX-512 BF16 instructions, unless oneDNN is capped below them."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags()) and onednn_isa_cap() not in _ONEDNN_ISAS_WITHOUT_BF16


def fast_dtype(device: torch.device) -> torch.dtype:
    """The fastest dtype ``device`` computes convolutions in: bf16 (or fp16 on older GPUs) where the hardware has it, else fp32.

    The one answer to "which precision": inference runs in it, training autocasts to it.
    """
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


def autocast_dtype(device: torch.device) -> Optional[torch.dtype]:
    """``fast_dtype(device)`` for ``torch.autocast``, or None where training should stay in fp32."""
    dtype = fast_dtype(device)
    return None if dtype == torch.float32 else dtype


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
