"""Load: concurrent gradio_client users classifying while one fine-tune runs, against a real server.

    python benchmarks/load.py [--clients 16] [--requests 20]

Starts app.py on a free 127.0.0.1 port with a Hugging Face cache built here (seeded ResNet-50
weights, HF_HUB_OFFLINE=1), starts one fine-tune on the sample set, then runs --clients threads,
each its own session, each sending --requests classify calls. Prints errors, p50 and p99 latency.
All traffic stays on the loopback interface; the run is bounded in requests and time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hubcache import add_repo, timm_files, torchvision_model  # noqa: E402
from server import AppServer  # noqa: E402

REPO = "timm/resnet50.tv2_in1k"
PHOTOS = [str(p) for p in sorted((ROOT / "examples").glob("*.*")) if p.suffix in (".png", ".jpg")]


def main() -> None:
    from gradio_client import Client, handle_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "hub"
        add_repo(cache, REPO, timm_files(torchvision_model("resnet50", seed=1), "resnet50", 0.965, "bilinear"))
        env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
        with AppServer("--model", REPO, "--queue-size", "256", env=env) as url:
            Client(url, verbose=False).predict(handle_file(PHOTOS[0]), REPO, api_name="/classify")  # load the model once

            trainer = Client(url, verbose=False)
            slots = trainer.predict(api_name="/sample_set")
            slot_args = []
            for name, files in zip(slots[0::2], slots[1::2]):
                slot_args += [name, [handle_file(f) for f in files] if files else None]
            training = trainer.submit(REPO, "head", 10, 0.003, None, *slot_args, api_name="/finetune")

            def user(index: int) -> tuple[list[float], int]:
                client = Client(url, verbose=False)
                latencies, errors = [], 0
                for r in range(args.requests):
                    start = time.perf_counter()
                    try:
                        label, _ = client.predict(handle_file(PHOTOS[(index + r) % len(PHOTOS)]), REPO, api_name="/classify")
                        assert len(label["confidences"]) == 5
                    except Exception as e:  # counted and reported below, never hidden
                        errors += 1
                        print(f"client {index} request {r}: {type(e).__name__}: {e}", file=sys.stderr)
                    latencies.append(time.perf_counter() - start)
                return latencies, errors

            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                results = list(pool.map(user, range(args.clients)))
            wall = time.perf_counter() - start
            finetune_result = training.result(timeout=1200)

    latencies = sorted(t for lat, _ in results for t in lat)
    errors = sum(e for _, e in results)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"# Load: {args.clients} clients x {args.requests} classify requests ({len(latencies)} in all) while one fine-tune ran")
    print()
    print("| requests | errors | p50 ms | p99 ms | max ms | throughput req/s | fine-tune |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {len(latencies)} | {errors} | {1000 * statistics.median(latencies):.0f} | {1000 * p99:.0f} | {1000 * latencies[-1]:.0f} | "
          f"{len(latencies) / wall:.1f} | {finetune_result[1].split('.')[0]} |")


if __name__ == "__main__":
    main()
