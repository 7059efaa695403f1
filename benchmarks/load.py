"""Load: concurrent gradio_client users classifying while others fine-tune, measure and probe, against a real server.

    python -m benchmarks.load [--clients 16] [--requests 20] [--checkpoints 20] [--batch 8] [--only-batching]

Starts app.py on a free 127.0.0.1 port with a Hugging Face cache built here (seeded ResNet-50
weights and --checkpoints distinct ResNet-18 repos that --allow-hub-models lets visitors name,
HF_HUB_OFFLINE=1, --max-loaded-models 3). Phase 0: micro-batching off and on, side by side: two
servers, --classify-batch 0 and --classify-batch --batch; a lone client alternates between them for
--requests rounds (its latency when nobody else is there), then each server in turn gets --clients
threads sending --requests classify calls while the other idles; prints requests/s, p50 and p99. Phase 1: one fine-tune on the sample set, one
gradient-flow measurement and one visitor naming refused models (folders, URLs, other repos)
while --clients threads, each its own session, send --requests classify calls; prints errors,
p50 and p99 latency. Phase 2: one client cycles through the allowed checkpoints, and the
server's resident memory is printed after each. All traffic stays on the loopback interface.
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

from tests.hubcache import add_repo, timm_files, torchvision_model
from tests.server import AppServer, memory_mb

REPO = "timm/resnet50.tv2_in1k"
ALLOWED = "timm/resnet18.cycle*"
REFUSED = ["/etc", "/tmp", "../../etc", "https://example.com/x", "someone/resnet50", "x" * 2000, "timm/resnet18.cycle00/../x"]
PHOTOS = [str(p) for p in sorted((ROOT / "examples").glob("*.*")) if p.suffix in (".png", ".jpg")]


def main() -> None:
    from gradio_client import Client, handle_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--checkpoints", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8, help="--classify-batch of phase 0's batching server")
    parser.add_argument("--only-batching", action="store_true", help="phase 0 only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "hub"
        add_repo(cache, REPO, timm_files(torchvision_model("resnet50", seed=1), "resnet50", 0.965, "bilinear"))
        small = timm_files(torchvision_model("resnet18", seed=2), "resnet18", 0.875, "bilinear")
        cycle = [f"timm/resnet18.cycle{i:02d}_in1k" for i in range(args.checkpoints)]
        for repo_id in cycle:
            add_repo(cache, repo_id, small)
        env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
        flags = ["--model", REPO, "--queue-size", "256", "--allow-hub-models", ALLOWED, "--max-loaded-models", "3"]
        with AppServer(*flags, "--classify-batch", "0", env=env) as off, AppServer(*flags, "--classify-batch", str(args.batch), env=env) as on:
            urls = {0: off, args.batch: on}
            lone = lone_latencies(urls, args.requests)
            batching = {batch: (lone[batch], *classify_load(url, args.clients, args.requests)) for batch, url in urls.items()}
        print_batching(batching, args.clients, args.requests)
        if args.only_batching:
            return
        server = AppServer(*flags, env=env)
        with server as url:
            Client(url, verbose=False).predict(handle_file(PHOTOS[0]), REPO, api_name="/classify")  # load the model once

            trainer = Client(url, verbose=False)
            slots = trainer.predict(api_name="/sample_set")
            slot_args = []
            for name, files in zip(slots[0::2], slots[1::2]):
                slot_args += [name, [handle_file(f) for f in files] if files else None]
            training = trainer.submit(REPO, "head", 10, 0.003, None, *slot_args, api_name="/finetune")
            measuring = Client(url, verbose=False).submit("resnet50", 128, api_name="/gradient_flow")

            def visitor() -> tuple[int, int]:
                """Refused names, in a loop while the others run: (refused as expected, anything else)."""
                client, refused, unexpected = Client(url, verbose=False), 0, 0
                for name in REFUSED * 3:
                    try:
                        client.predict(handle_file(PHOTOS[0]), name, api_name="/classify")
                        unexpected += 1
                        print(f"visitor: {name[:40]!r} was not refused", file=sys.stderr)
                    except Exception as e:  # the refusal is the expected outcome; anything else is counted
                        ok = "is not a model this app offers" in str(e)
                        refused += ok
                        unexpected += not ok
                        if not ok:
                            print(f"visitor: {name[:40]!r}: {type(e).__name__}: {e}", file=sys.stderr)
                return refused, unexpected

            with ThreadPoolExecutor(max_workers=1) as pool:
                probing = pool.submit(visitor)
                latencies, errors, wall = classify_load(url, args.clients, args.requests)
                refused, unexpected = probing.result()
            finetune_result = training.result(timeout=1200)
            flow_text = measuring.result(timeout=600)[1]

            cycler = Client(url, verbose=False)
            rss = [memory_mb(server.proc.pid, "VmRSS")]
            for repo_id in cycle:
                cycler.predict(handle_file(PHOTOS[0]), repo_id, api_name="/classify")
                rss.append(memory_mb(server.proc.pid, "VmRSS"))
            peak = memory_mb(server.proc.pid, "VmHWM")

    p99 = percentile(latencies, 0.99)
    print(f"# Load: {args.clients} clients x {args.requests} classify requests ({len(latencies)} in all) while one fine-tune, "
          f"one gradient-flow measurement and one visitor naming {len(REFUSED) * 3} refused models ran")
    print()
    print("| requests | errors | p50 ms | p99 ms | max ms | throughput req/s | fine-tune | gradient flow | refused as expected | unexpected |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {len(latencies)} | {errors} | {1000 * statistics.median(latencies):.0f} | {1000 * p99:.0f} | {1000 * latencies[-1]:.0f} | "
          f"{len(latencies) / wall:.1f} | {finetune_result[1].split('.')[0]} | {'done' if 'Measured just now' in flow_text else flow_text[:40]} "
          f"| {refused} | {unexpected} |")
    print()
    print(f"Then {len(cycle)} distinct allowed checkpoints in turn (--max-loaded-models 3): resident memory of the server (MB)")
    print()
    print("| before | after 5 | after 10 | after 15 | after all | growth over the cycle | peak (VmHWM) |")
    print("|---|---|---|---|---|---|---|")
    marks = [rss[min(k, len(rss) - 1)] for k in (0, 5, 10, 15, len(rss) - 1)]
    print("| " + " | ".join(f"{m:.0f}" for m in marks) + f" | {max(rss[1:]) - rss[1]:+.0f} (after the first load) | {peak:.0f} |")


def classify_load(url: str, clients: int, requests: int) -> tuple[list[float], int, float]:
    """``clients`` threads, each its own session, send ``requests`` classify calls each: (sorted latencies s, errors, wall s)."""
    from gradio_client import Client, handle_file

    def user(index: int) -> tuple[list[float], int]:
        client = Client(url, verbose=False)
        latencies, errors = [], 0
        for r in range(requests):
            start = time.perf_counter()
            try:
                label, _, _ = client.predict(handle_file(PHOTOS[(index + r) % len(PHOTOS)]), REPO, api_name="/classify")
                assert len(label["confidences"]) == 5
            except Exception as e:  # counted and reported, never hidden
                errors += 1
                print(f"client {index} request {r}: {type(e).__name__}: {e}", file=sys.stderr)
            latencies.append(time.perf_counter() - start)
        return latencies, errors

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(user, range(clients)))
    wall = time.perf_counter() - start
    return sorted(t for latencies, _ in results for t in latencies), sum(e for _, e in results), wall


def lone_latencies(urls: dict[int, str], rounds: int) -> dict[int, list[float]]:
    """One client, one request at a time, alternating between the servers (so both see the same machine): seconds, by key."""
    from gradio_client import Client, handle_file

    clients = {key: Client(url, verbose=False) for key, url in urls.items()}
    times: dict[int, list[float]] = {key: [] for key in urls}
    for r in range(-1, rounds):  # round -1 loads the model and warms it up
        for key, client in clients.items():
            start = time.perf_counter()
            client.predict(handle_file(PHOTOS[max(r, 0) % len(PHOTOS)]), REPO, api_name="/classify")
            if r >= 0:
                times[key].append(time.perf_counter() - start)
    return times


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, by the nearest rank below."""
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def print_batching(runs: dict[int, tuple[list[float], list[float], int, float]], clients: int, requests: int) -> None:
    """Phase 0's table: per --classify-batch, the lone client's p50, then the loaded server's figures, and on/off ratios."""
    print(f"# Micro-batching of classify requests: {clients} clients x {requests} requests, nothing else running; "
          f"a lone client's {requests} requests, alternating between the servers")
    print()
    print("| --classify-batch | errors | requests/s | p50 ms | p99 ms | lone client p50 ms |")
    print("|---|---|---|---|---|---|")
    for batch, (lone, latencies, errors, wall) in runs.items():
        print(f"| {batch} | {errors} | {len(latencies) / wall:.2f} | {1000 * statistics.median(latencies):.0f} | "
              f"{1000 * percentile(latencies, 0.99):.0f} | {1000 * statistics.median(lone):.1f} |")
    (off_lone, off, _, off_wall), (on_lone, on, _, on_wall) = runs.values()
    print()
    lone_ms = 1000 * (statistics.median(on_lone) - statistics.median(off_lone))
    print(f"on/off: requests/s {(len(on) / on_wall) / (len(off) / off_wall):.2f}x, p50 {statistics.median(on) / statistics.median(off):.2f}x, "
          f"p99 {percentile(on, 0.99) / percentile(off, 0.99):.2f}x, lone client p50 {lone_ms:+.1f} ms")
    print()


if __name__ == "__main__":
    main()
