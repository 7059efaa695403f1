"""Device and precision choice: one answer for inference and training, read from the CPU itself."""

import platform
import subprocess

import pytest
import torch

from resnet import devices


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
