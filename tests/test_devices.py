"""Device and precision choice: one answer for inference and training, read from the CPU itself."""

import os
import platform
import subprocess
import sys

import pytest
import torch

from resnet import devices
from tests.conftest import ROOT


def test_cpu_flags_and_model_are_what_lscpu_reports():
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("lscpu is not available here")
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    if "Flags" not in fields:
        pytest.skip("lscpu lists no flags on this machine")
    assert devices.cpu_flags() == frozenset(fields["Flags"].split())
    assert devices.cpu_model() == fields.get("Model name", devices.cpu_model())


FP32, BF16 = torch.float32, torch.bfloat16
AVX512_BF16 = frozenset({"avx2", "avx512f", "avx512_bf16"})

# Written out by hand, not derived from the rule: (machine, CPU flags, oneDNN cap or None, fast dtype on the CPU).
CPU_PRECISION_CASES = [
    ("x86_64", frozenset({"avx2", "avx512f"}), None, FP32),  # AVX-512 without BF16
    ("x86_64", frozenset({"avx2", "amx_bf16"}), None, BF16),  # Sapphire Rapids' AMX
    ("AMD64", AVX512_BF16, None, BF16),  # Windows spells x86-64 so
    ("aarch64", frozenset({"amx_bf16", "avx512_bf16"}), None, FP32),  # x86 flag names count on x86 only
    ("arm64", AVX512_BF16, None, FP32),
    ("x86_64", AVX512_BF16, ("ONEDNN_MAX_CPU_ISA", "avx2"), FP32),  # capped below bf16: emulated, slower than fp32
    ("x86_64", AVX512_BF16, ("DNNL_MAX_CPU_ISA", " AVX512_CORE_VNNI "), FP32),  # the older name, spaces and case
    ("x86_64", AVX512_BF16, ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX"), BF16),  # a cap at or above bf16 leaves it fast
]


@pytest.mark.parametrize("machine,flags,cap,expected", CPU_PRECISION_CASES)
def test_one_precision_for_inference_and_training_on_the_cpu(monkeypatch, machine, flags, cap, expected):
    monkeypatch.setattr(devices.platform, "machine", lambda: machine)
    monkeypatch.setattr(devices, "cpu_flags", lambda: flags)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if cap is not None:
        monkeypatch.setenv(*cap)
    cpu = torch.device("cpu")
    assert devices.fast_dtype(cpu) == expected
    assert devices.autocast_dtype(cpu) == (None if expected == FP32 else expected)  # training autocasts to the same precision


def test_one_precision_on_gpus(monkeypatch):
    assert devices.fast_dtype(torch.device("mps")) == torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert devices.fast_dtype(torch.device("cuda")) == torch.float16 == devices.autocast_dtype(torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert devices.fast_dtype(torch.device("cuda")) == torch.bfloat16 == devices.autocast_dtype(torch.device("cuda"))


def test_the_onednn_cap_is_read_from_either_name(monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    assert devices.onednn_isa_cap() is None
    for name, cap, read in (("ONEDNN_MAX_CPU_ISA", "avx2", "AVX2"), ("DNNL_MAX_CPU_ISA", " AVX512_CORE_VNNI ", "AVX512_CORE_VNNI")):
        monkeypatch.setenv(name, cap)
        assert devices.onednn_isa_cap() == read
        monkeypatch.delenv(name)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN's ISA levels are x86's")
def test_the_cap_is_the_one_onednn_obeys():
    """An AVX2-only CPU emulated on this one: oneDNN itself says it runs AVX2 kernels, and the fast path computes in fp32."""
    code = (
        "import torch; from resnet import build, fast; "
        "m = fast.optimize_for_inference(build('resnet18').eval(), torch.device('cpu'), 32); print('dtype', m.dtype)"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ONEDNN_VERBOSE": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True).stdout
    assert "isa:Intel AVX2\n" in out and "dtype torch.float32" in out, out[-2000:]
