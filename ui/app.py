"""ResNet Studio's page and server: ``build_demo`` declares the tabs, ``main`` parses the flags and serves.

    resnet-studio                         # installed (pip install .): http://127.0.0.1:7860
    python app.py                         # the same from a checkout; Hugging Face Spaces run this file
    resnet-studio --model ./my-model      # default checkpoint: a Hub repo id or a local folder
    resnet-studio --mcp                   # also serve the stateless actions as MCP tools for agents

Nothing is downloaded at import or start-up: checkpoints load on first use, once,
shared by all users. Fine-tuned models live in the browser session that made them.
The page speaks English or Simplified Chinese, following the browser (``ui/i18n.py``);
each tab is declared in ``ui/tabs/<tab>/tab.py``, beside the helpers only it uses.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Optional, Sequence

from . import zerogpu  # first: on a ZeroGPU Space, spaces must patch torch before anything uses CUDA

import gradio as gr  # noqa: E402
import torch  # noqa: E402

from resnet.check import MAX_MODEL_BYTES  # noqa: E402
from resnet.checkpoints.hub import DEFAULT_CHECKPOINTS  # noqa: E402
from resnet.devices import physical_cores  # noqa: E402
from resnet.transforms import MAX_IMAGE_BYTES  # noqa: E402

from . import mcp_tools, style  # noqa: E402
from .i18n import I18N, static  # noqa: E402
from .models import MODELS, ModelPolicy  # noqa: E402
from .session import end_session  # noqa: E402
from .tabs.architecture import tab as architecture  # noqa: E402
from .tabs.classify import tab as classify  # noqa: E402
from .tabs.finetune import tab as finetune  # noqa: E402
from .tabs.inside import tab as inside  # noqa: E402
from .tabs.lab import tab as lab  # noqa: E402
from .tabs.lesson import tab as lesson  # noqa: E402

__all__ = ["CHECKPOINTS", "DEFAULT_MODEL", "ModelPolicy", "build_demo", "log_to_stderr", "main", "parse_args"]

DEFAULT_MODEL = os.environ.get("RESNET_STUDIO_MODEL", DEFAULT_CHECKPOINTS["resnet50"][0])
CHECKPOINTS = [checkpoint for checkpoint, _ in DEFAULT_CHECKPOINTS.values()] + ["timm/resnet50.a1_in1k", "microsoft/resnet-50"]
# The server's cap on any upload: a ResNet-50's weights for the lesson's check (resnet.check.MAX_MODEL_BYTES). Photos keep
# their own smaller cap, MAX_IMAGE_BYTES, which resnet.transforms.load_image enforces in every callback that reads one.
MAX_UPLOAD_MB = max(MAX_IMAGE_BYTES, MAX_MODEL_BYTES) // 2**20


def build_demo(
    default_model: str = DEFAULT_MODEL,
    *,
    allow_hub_models: Sequence[str] = (),
    max_session_models: int = 3,
    classify_concurrency: int = 4,
    classify_batch: Optional[int] = None,
    mcp: bool = False,
) -> gr.Blocks:
    """The tabs and their wiring; ``allow_hub_models`` and ``max_session_models`` as in ``ui.models.ModelPolicy``.

    ``classify_batch``: photos per forward pass for concurrent classify requests (0: off; None: ``ui.batchers.auto_batch``;
    always off on ZeroGPU, where each call runs in its own GPU process). ``mcp``: add the MCP tools (``ui.mcp_tools``).
    """
    checkpoints = CHECKPOINTS if default_model in CHECKPOINTS else [default_model, *CHECKPOINTS]
    rules = ModelPolicy(tuple(checkpoints), tuple(allow_hub_models), max_session_models)
    batch = 0 if zerogpu.ON_ZEROGPU else classify_batch
    with gr.Blocks(title="ResNet Studio", delete_cache=(3600, 3600)) as demo:
        tuned = gr.State({})  # this browser session's fine-tuned classifiers, by name
        policy = gr.State(rules)  # what this server lets a visitor load; server-side, never sent by clients
        gr.Markdown(static("app.intro"))
        # One line per tab, in the page's order.
        lesson.tab(demo)  # first: "Start here"
        architecture.tab(demo)
        picker = classify.tab(checkpoints, default_model, tuned, policy, concurrency=classify_concurrency, batch=batch)
        finetune.tab(demo, checkpoints, default_model, tuned, policy, picker)
        lab.tab()
        inside.tab(demo, checkpoints, default_model, tuned, policy)
        demo.unload(end_session)
        if mcp:
            mcp_tools.register(demo, rules, default_model)
    return demo


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The server's flags (``argv``: default ``sys.argv[1:]``); each has an environment variable for Spaces."""
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="resnet-studio", description="ResNet Studio: see how ResNet is built, classify photos, fine-tune on your own.")
    parser.add_argument("--host", default=env("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to listen on (default 127.0.0.1, or $GRADIO_SERVER_NAME; Spaces sets 0.0.0.0)")
    parser.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT", 7860)), help="port (default 7860, or $GRADIO_SERVER_PORT)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"default checkpoint: Hub repo id (optionally @revision) or local folder (default {DEFAULT_MODEL}, or $RESNET_STUDIO_MODEL)")
    parser.add_argument(
        "--allow-hub-models", metavar="PATTERN", action="append", default=[p for p in env("RESNET_STUDIO_ALLOW_HUB_MODELS", "").split(",") if p],
        help="also let visitors load Hub repo ids matching PATTERN, e.g. 'timm/resnet*' (repeatable; default: none, only the listed "
        "checkpoints; or $RESNET_STUDIO_ALLOW_HUB_MODELS, comma-separated). Local folders come only from --model",
    )
    parser.add_argument("--max-loaded-models", type=int, default=8, help="pretrained models kept in memory, least recently used dropped first; the default model stays (default 8: at most about 3.5 GB, for a 16 GB Space)")
    parser.add_argument("--max-session-models", type=int, default=3, help="fine-tuned models each browser session keeps; the oldest is dropped (default 3)")
    parser.add_argument("--share", action="store_true", help="also serve through a temporary public gradio.live link")
    parser.add_argument("--queue-size", type=int, default=64, help="most requests waiting in the queue (default 64)")
    parser.add_argument("--classify-concurrency", type=int, default=4, help="classify requests served at once (default 4)")
    parser.add_argument(
        "--classify-batch", type=int, default=None, metavar="N",
        help="serve concurrent classify requests in shared forward passes of up to N photos (0: off; default 8 on CUDA, off on a CPU, where it was measured not to help)",
    )
    parser.add_argument(
        "--mcp", action="store_true", default=env("GRADIO_MCP_SERVER", "").lower() == "true",
        help="also serve the stateless actions (classify, explain, summary, diagram ...: ui/mcp_tools.py) as MCP tools at /gradio_api/mcp/ "
        "(default off, or $GRADIO_MCP_SERVER=true)",
    )
    return parser.parse_args(argv)


def log_to_stderr() -> None:
    """Send the app's messages (the ``ui.*`` loggers: models that failed to load, ZeroGPU refusals ...) to stderr.

    One line each, ``ResNet Studio: <message>``; once per process, however often it is called. Only the app's
    loggers: the libraries' own (httpx logs every request at INFO) keep their defaults.
    """
    logger = logging.getLogger(__package__)
    if not logger.handlers:
        handler = logging.StreamHandler()  # sys.stderr, flushed after each line
        handler.setFormatter(logging.Formatter("ResNet Studio: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Start the server with the command line's flags (the ``resnet-studio`` command and ``python app.py``)."""
    args = parse_args(argv)
    log_to_stderr()
    torch.set_num_threads(physical_cores())  # hyper-threads slow convolutions down
    MODELS.configure(max_loaded=args.max_loaded_models, pinned=[args.model])
    loading = MODELS.preload(args.model)  # while the server starts; a failure is logged and retried on use
    if zerogpu.ON_ZEROGPU:  # there, before launch: spaces moves the weights this process holds to each lent GPU
        loading.join()
    demo = build_demo(
        args.model,
        allow_hub_models=args.allow_hub_models,
        max_session_models=args.max_session_models,
        classify_concurrency=args.classify_concurrency,
        classify_batch=args.classify_batch,
        mcp=args.mcp,
    )
    demo.queue(max_size=args.queue_size).launch(
        server_name=args.host, server_port=args.port, share=args.share, max_file_size=f"{MAX_UPLOAD_MB}mb", show_error=True, i18n=I18N,
        mcp_server=args.mcp, css=style.CSS, js=style.JS,
    )
