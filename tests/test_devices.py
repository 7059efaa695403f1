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


def test_one_precision_for_inference_and_training(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert devices.fast_dtype(cpu) == torch.float32 and devices.autocast_dtype(cpu) is None
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    expected = torch.bfloat16 if platform.machine().lower() in ("x86_64", "amd64") else torch.float32
    assert devices.fast_dtype(cpu) == expected
    assert devices.autocast_dtype(cpu) == (None if expected == torch.float32 else expected)
    assert devices.fast_dtype(torch.device("mps")) == torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert devices.fast_dtype(torch.device("cuda")) == torch.float16 == devices.autocast_dtype(torch.device("cuda"))


def test_onednn_capped_below_avx512_bf16_means_fp32(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    assert devices.onednn_isa_cap() is None and devices.fast_dtype(cpu) == (torch.bfloat16 if x86 else torch.float32)
    for name, cap in (("ONEDNN_MAX_CPU_ISA", "avx2"), ("DNNL_MAX_CPU_ISA", " AVX512_CORE_VNNI ")):
        monkeypatch.setenv(name, cap)
        assert devices.onednn_isa_cap() == cap.strip().upper() and devices.fast_dtype(cpu) == torch.float32
        monkeypatch.delenv(name)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")  # a cap at or above bf16 leaves it fast
    assert devices.fast_dtype(cpu) == (torch.bfloat16 if x86 else torch.float32)


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
