"""Start-up time and memory of the app against a minimal Gradio + torchvision ResNet-50 app, in one run.

Both serve the same cached checkpoint (a Hugging Face cache built here, HF_HUB_OFFLINE=1):
  ours:    python app.py (ResNet-50 on the fast path)
  minimal: a gr.Interface around torchvision.models.resnet50, loaded at import as Gradio's demos do
For each: seconds from process start to the first HTTP 200 and to the first classify result
(through gradio_client), and peak RSS (VmHWM) after 100 classify requests.

    python -m benchmarks.startup [--requests 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from tests.hubcache import add_repo, timm_files, torchvision_model
from tests.server import free_port, memory_mb

REPO = "timm/resnet50.tv2_in1k"
PHOTO = str(ROOT / "examples" / "chelsea.png")

MINIMAL_APP = textwrap.dedent(
    """
    import sys
    import gradio as gr
    import torch
    import torchvision
    from huggingface_hub import hf_hub_download
    from safetensors.torch import load_file

    weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    model = torchvision.models.resnet50()
    model.load_state_dict(load_file(hf_hub_download("timm/resnet50.tv2_in1k", "model.safetensors")))
    model.eval()
    preprocess = weights.transforms()
    labels = weights.meta["categories"]

    def classify(image):
        with torch.no_grad():
            probs = model(preprocess(image.convert("RGB")).unsqueeze(0)).softmax(1)[0]
        top = probs.topk(5)
        return {labels[i]: float(p) for p, i in zip(top.values, top.indices)}

    demo = gr.Interface(classify, gr.Image(type="pil"), gr.Label(num_top_classes=5))
    demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]))
    """
)


def measure(command: list[str], call, env: dict, port: int, requests: int) -> dict[str, float]:
    from gradio_client import Client

    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command} exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        first_200 = time.monotonic() - start
        client = Client(url, verbose=False)
        call(client)
        first_result = time.monotonic() - start
        latencies = []
        for _ in range(requests - 1):
            t = time.perf_counter()
            call(client)
            latencies.append(time.perf_counter() - t)
        return {"first_200": first_200, "first_result": first_result, "rss_mb": memory_mb(proc.pid), "p50_ms": 1000 * statistics.median(latencies)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    from gradio_client import handle_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="start each app this many times (medians are printed)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "hub"
        add_repo(cache, REPO, timm_files(torchvision_model("resnet50", seed=1), "resnet50", 0.965, "bilinear"))
        minimal = Path(tmp) / "minimal_app.py"
        minimal.write_text(MINIMAL_APP)
        env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost"}

        ours_call = lambda c: c.predict(handle_file(PHOTO), REPO, api_name="/classify")  # noqa: E731
        apps = {
            "ours (app.py)": (lambda port: [sys.executable, "app.py", "--port", str(port), "--model", REPO], ours_call),
            "minimal gr.Interface + torchvision": (lambda port: [sys.executable, str(minimal), str(port)],
                                                   lambda c: c.predict(handle_file(PHOTO), api_name="/classify")),
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in apps}
        for _ in range(args.repeats):  # alternate, so both see the same machine state
            for name, (command, call) in apps.items():
                port = free_port()
                results[name].append(measure(command(port), call, env, port, args.requests))

    print(f"# Start-up and memory: {args.repeats} starts each, {args.requests} classify requests per start, python {sys.version.split()[0]}")
    print()
    print("| app | first HTTP 200 s | first classify result s | p50 classify ms (client to server) | peak RSS MB |")
    print("|---|---|---|---|---|")
    medians = {}
    for name, runs in results.items():
        medians[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        m = medians[name]
        print(f"| {name} | {m['first_200']:.2f} | {m['first_result']:.2f} | {m['p50_ms']:.0f} | {m['rss_mb']:.0f} |")
    ours, minimal_app = medians["ours (app.py)"], medians["minimal gr.Interface + torchvision"]
    print()
    print(f"ours / minimal: first 200 {ours['first_200'] / minimal_app['first_200']:.2f}x, "
          f"first result {ours['first_result'] / minimal_app['first_result']:.2f}x, "
          f"peak RSS {ours['rss_mb'] / minimal_app['rss_mb']:.2f}x")


if __name__ == "__main__":
    main()
