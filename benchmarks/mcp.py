"""An agent's classify through MCP next to the same call through gradio_client, in one run.

    python -m benchmarks.mcp [--rounds 20]

Starts ``app.py --mcp`` (tests.server.AppServer) with a Hugging Face cache built here (tests.hubcache's
seeded ResNet-50 weights; HF_HUB_OFFLINE=1). One MCP session (the official ``mcp`` client over streamable
HTTP) and one gradio_client Client stay open, as an agent and a script keep theirs. Rounds interleave;
each times one photo's trip from the call to its answer (top-5 JSON and the overlay picture):
  (a) gradio_client calling the tool's endpoint, /mcp_classify (photo uploaded as a file, overlay downloaded),
  (b) the MCP tool ``classify`` (photo sent inline as a data: URL, overlay returned inline as base64),
  (c) gradio_client calling the page's /classify (top-5, overlay, timing) for reference.
Prints the medians and the ratio b/a (the issue's target: at most 1.2).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.report import cpu_bf16_features
from tests.hubcache import build_test_cache
from tests.server import AppServer

ROOT = Path(__file__).resolve().parents[1]
REPO = "timm/resnet50.tv2_in1k"
PHOTO = ROOT / "examples" / "chelsea.png"


async def measure(url: str, rounds: int) -> dict[str, list[float]]:
    import base64

    from gradio_client import Client, handle_file
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    client = Client(url, verbose=False)
    photo = "data:image/png;base64," + base64.b64encode(PHOTO.read_bytes()).decode()
    times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    async with streamable_http_client(f"{url}/gradio_api/mcp/") as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()

            async def tool() -> None:
                result = await session.call_tool("classify", {"image": photo, "model": REPO})
                assert not result.isError, result.content

            calls = {
                "a": lambda: client.predict(handle_file(str(PHOTO)), REPO, 5, api_name="/mcp_classify"),
                "c": lambda: client.predict(handle_file(str(PHOTO)), REPO, api_name="/classify"),
            }
            for round_ in range(rounds + 2):  # two warm-up rounds
                for key in ("a", "b", "c"):
                    start = time.perf_counter()
                    await tool() if key == "b" else calls[key]()
                    if round_ >= 2:
                        times[key].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build_test_cache(Path(tmp) / "hub")
        env = {"HF_HUB_CACHE": str(Path(tmp) / "hub"), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost"}
        with AppServer("--model", REPO, "--mcp", env=env, timeout=180) as url:
            times = asyncio.run(measure(url, args.rounds))
    median = {k: 1000 * statistics.median(v) for k, v in times.items()}
    print(f"CPU: {cpu_bf16_features()}; {args.rounds} rounds, medians")
    print(f"(a) gradio_client /mcp_classify   {median['a']:8.1f} ms")
    print(f"(b) MCP tool classify             {median['b']:8.1f} ms")
    print(f"(c) gradio_client /classify       {median['c']:8.1f} ms   (the page's endpoint, for reference)")
    print(f"b/a = {median['b'] / median['a']:.2f}x (target <= 1.2x); b/c = {median['b'] / median['c']:.2f}x")


if __name__ == "__main__":
    main()
