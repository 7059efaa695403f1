"""Run every benchmark, one after another on an otherwise idle machine, and write docs/PERFORMANCE.md.

    python -m benchmarks.report

The tables in docs/PERFORMANCE.md are exactly what the scripts printed; nothing is typed by hand.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

from resnet.devices import cpu_flags, cpu_model


ROOT = Path(__file__).resolve().parents[1]
RUNS = [
    ("Inference", ["-m", "benchmarks.inference"]),
    ("Start-up and memory", ["-m", "benchmarks.startup", "--repeats", "2"]),
    ("Fine-tune (head strategy)", ["-m", "benchmarks.finetune"]),
    ("Fine-tune from a ResNet-50 backbone (memory of a head fine-tune on about 100 images)", ["-m", "benchmarks.finetune", "--source", "resnet50"]),
    ("Load", ["-m", "benchmarks.load"]),
    ("Round trip (classify, and classify + explain, through gradio_client)", ["-m", "benchmarks.roundtrip"]),
]


def cpu_bf16_features() -> str:
    """Which of the instructions behind fast bf16 (AMX, AVX512-BF16) this CPU reports."""
    flags = cpu_flags()
    if not flags:
        return "instruction set unknown"
    return ", ".join(f"{name}: {'yes' if flag in flags else 'no'}" for name, flag in (("AMX", "amx_bf16"), ("AVX512-BF16", "avx512_bf16"), ("AVX2", "avx2")))


def main() -> None:
    import gradio
    import torch
    import torchvision

    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    sections = []
    for title, command in RUNS:
        print(f"running {' '.join(command)} ...", flush=True)
        out = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        body = "\n".join(line for line in out.stdout.splitlines() if not line.startswith("W1"))
        sections.append(f"## {title}\n\n`python {' '.join(command)}`\n\n{body}\n")
    header = f"""# Performance

Produced by `python -m benchmarks.report` on {datetime.date.today().isoformat()}: every table below is the
output of the command above it, run one after another on an otherwise idle machine.

- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; {cpu_bf16_features()}
- Python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}, gradio {gradio.__version__}
- Weights: seeded random (the Hub is unreachable where this ran); latency and memory do not depend on the values.
"""
    (ROOT / "docs" / "PERFORMANCE.md").write_text(header + "\n" + "\n".join(sections), encoding="utf-8")
    print("wrote docs/PERFORMANCE.md")


if __name__ == "__main__":
    main()
