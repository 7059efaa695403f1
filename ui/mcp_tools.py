"""The app's stateless actions as MCP tools for agents (``python app.py --mcp``).

Gradio's MCP server offers every public endpoint as a tool named after its Python function and
described by its docstring. The page's own events are not good tools (they return ``gr.State``,
padded tuples, session files, and some take secrets), so the server hides them from MCP and
registers these thin functions instead: each named as the page's API name, calling the same
library code, taking photos as ``data:`` URLs (Gradio's MCP server turns them into files) and
answering in JSON text or an image. Session-bound or secret-taking actions (fine-tune, push to the
Hub, stop, live previews, sample sets, mistakes) are not offered.
"""

# No ``from __future__ import annotations``: gr.api reads each tool's return annotation as a live type
# (a ``tuple[str, FileData]`` is two outputs; as a string it would be one).
import dataclasses
import json
import logging
import threading
import time
import uuid
from typing import Any, Callable

import gradio as gr
from gradio.data_classes import FileData
from PIL import Image

import resnet
from resnet.anatomy.block_cost import block_cost as measure_blocks
from resnet.anatomy.compare import compare_networks as measure_networks
from resnet.anatomy.measure import compare_depths
from resnet.checkpoints.hub import DEFAULT_CHECKPOINTS
from resnet.devices import default_device
from resnet.predict import compare_checkpoints
from resnet.transforms import ImageError

from .i18n import error_text
from .models import ModelPolicy, resolve, shared_loader
from .session import APP_TMP, gpu
from .tabs.inside.tab import NETWORKS, _drawings

__all__ = ["register", "tools"]

log = logging.getLogger(__name__)

PHOTO = "the photo (a JPEG, PNG or WebP file of at most 25 MB), as a data: URL such as data:image/png;base64,..."
BUSY = threading.BoundedSemaphore(4)  # tool calls running a network at once (the queue's role for the page's events)
KEEP_S = 600  # the overlay files a tool returns are read by the MCP server at once; older ones are removed
TABLE_DEPTHS = {"layers": None, "blocks": 2, "stages": 1}


def _path(image: Any) -> str:
    """The local file gradio's MCP server made of the ``data:`` URL."""
    path = image.get("path") if isinstance(image, dict) else getattr(image, "path", None)
    if not path:
        raise gr.Error("No photo: pass the image as a data: URL (data:image/png;base64,...).", print_exception=False)
    return path


def _picture(picture: Image.Image) -> FileData:
    """``picture`` as a JPEG file the MCP server sends back as an image; files older than ``KEEP_S`` go.

    JPEG, not PNG: the server decodes the file and encodes it again in its own format before sending it
    inline, and a photo with a heat map blended in loses nothing visible at quality 90 (PNG costs more there).
    """
    folder = APP_TMP / "mcp"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.jpg"):
        if time.time() - old.stat().st_mtime > KEEP_S:
            old.unlink(missing_ok=True)
    path = folder / f"{uuid.uuid4().hex}.jpg"
    picture.convert("RGB").save(path, format="JPEG", quality=90)
    return FileData(path=str(path), mime_type="image/jpeg", orig_name=path.name)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)


def _bad_photo(e: ImageError) -> gr.Error:
    return gr.Error(f"The photo cannot be used: {error_text(None, e)}", print_exception=False)


def tools(policy: ModelPolicy, default_model: str) -> list[Callable]:
    """The tool functions for a server whose visitors may load what ``policy`` allows, ``default_model`` first.

    The three that take a photo are made here: their ``model`` argument defaults to this server's model and
    their docstrings (an agent's documentation) list the checkpoints it offers. The others are plain functions.
    """
    listed = ", ".join(policy.listed)

    @gpu
    def classify(image: FileData, model: str = default_model, top_k: int = 5) -> tuple[str, FileData]:
        """Classify a photo with a pretrained ImageNet ResNet: its most probable classes and where the network looked.

        Args:
            image: {photo}
            model: the checkpoint (a Hugging Face Hub repo id) to classify with, one of: {listed}.
            top_k: how many of the 1000 ImageNet classes to return, most probable first (1 to 20).

        Returns:
            JSON text {{"model", "device", "top": [{{"label", "probability"}}, ...]}}, then the photo with the top class's Grad-CAM heat map blended in (JPEG)
        """
        classifier = resolve(model, {}, policy, None)
        try:
            with BUSY:
                prediction = classifier.classify(_path(image), top_k=max(1, min(int(top_k), 20)))
        except ImageError as e:
            raise _bad_photo(e) from e
        top = [{"label": label, "probability": round(p, 5)} for label, p in prediction.top]
        return _json({"model": model, "device": classifier.device.type, "top": top}), _picture(prediction.overlay)

    @gpu
    def explain(image: FileData, model: str = default_model, target: str = "") -> FileData:
        """Grad-CAM heat map of a photo for one ImageNet class: which regions made the network answer that class.

        Args:
            image: {photo}
            model: the checkpoint (a Hugging Face Hub repo id), one of: {listed}.
            target: the class's label exactly as classify returns it (e.g. "tabby, tabby cat"); empty: the top class.

        Returns:
            the photo with the class's heat map blended in (JPEG)
        """
        classifier = resolve(model, {}, policy, None)
        if target and target not in classifier.config.labels:
            raise gr.Error(f"{target!r} is not one of this model's classes; use a label that classify returns.", print_exception=False)
        try:
            with BUSY:
                return _picture(classifier.explain(_path(image), target or None).overlay)
        except ImageError as e:
            raise _bad_photo(e) from e

    @gpu
    def classify_all_depths(image: FileData) -> str:
        """One photo through the pretrained ResNet of every depth (18, 34, 50, 101, 152) that this server has.

        Args:
            image: {photo}

        Returns:
            JSON text: one row per depth with its checkpoint, top-1 label and probability, forward time (ms), published ImageNet top-1 (%), whether it agrees with the majority and with the deepest, or why it is not available
        """
        try:
            with BUSY:
                rows = compare_checkpoints(_path(image), {arch: c for arch, (c, _) in DEFAULT_CHECKPOINTS.items()}, load=shared_loader(policy, None))
        except ImageError as e:
            raise _bad_photo(e) from e
        for row in rows:  # the library's message may name folders on this server: the log gets it, the agent the reason
            if row.pop("error", None):
                log.warning("%s is not available (%s)", row["name"], row["reason"])
        return _json(rows)

    for fn in (classify, explain, classify_all_depths):
        fn.__doc__ = fn.__doc__.format(photo=PHOTO, listed=listed)
    return [classify, explain, classify_all_depths, summary, compare, diagram, compare_networks, block_cost]


def summary(arch: str = "resnet50", input_size: int = 224, network: str = "residual", rows: str = "blocks") -> str:
    """The per-layer table of a ResNet: every layer's output shape, parameters and multiply-accumulates, and the totals.

    Args:
        arch: the depth: resnet18, resnet34, resnet50, resnet101 or resnet152.
        input_size: the square input's side in pixels (32 to 1024; ImageNet models use 224).
        network: "residual" (the ResNet) or "plain" (the same layers without shortcut connections, as in the paper).
        rows: "layers" (every layer), "blocks" (one row per residual block) or "stages".

    Returns:
        the table as plain text, with total parameters and multiply-accumulates at its foot
    """
    if rows not in TABLE_DEPTHS or network not in ("residual", "plain"):
        raise gr.Error(f"rows must be layers, blocks or stages and network residual or plain, got {rows!r} and {network!r}.", print_exception=False)
    try:
        model = resnet.build(arch, plain=network == "plain")
        return str(resnet.summarize(model, (1, 3, int(input_size), int(input_size)), depth=TABLE_DEPTHS[rows]))
    except ValueError as e:
        raise gr.Error(str(e), print_exception=False) from e


def compare(input_size: int = 224) -> str:
    """All five ResNet depths side by side: parameters, GMACs, forward latency measured now on this server, published ImageNet top-1.

    Args:
        input_size: the square input's side in pixels (32 to 512).

    Returns:
        JSON text: one row per depth (arch, params, gmacs, latency_ms, imagenet_top1, checkpoint)
    """
    if not 32 <= int(input_size) <= 512:
        raise gr.Error(f"input_size must be 32 to 512 pixels, got {input_size}.", print_exception=False)
    return _json(compare_depths(int(input_size), device=default_device()))


def diagram(arch: str = "resnet50", network: str = "residual", input_size: int = 224) -> str:
    """A drawing of a ResNet's architecture from the model itself: every layer with its tensor shapes, the shortcuts, the stages.

    Args:
        arch: resnet18, resnet34, resnet50, resnet101, resnet152, or the paper's CIFAR nets cifar20, cifar32, cifar44, cifar56, cifar110.
        network: "residual" or "plain" (the same layers without shortcuts).
        input_size: the square input's side in pixels (32 to 512; 224 for the ImageNet nets, 32 for the CIFAR ones).

    Returns:
        the diagram as SVG markup (an agent reads the layers and shapes from its text; saved as a .svg file it displays)
    """
    if arch not in NETWORKS or network not in ("residual", "plain") or not 32 <= int(input_size) <= 512:
        raise gr.Error(f"arch must be one of {', '.join(NETWORKS)}, network residual or plain, input_size 32 to 512.", print_exception=False)
    title = f"{NETWORKS[arch]}{' (plain)' if network == 'plain' else ''}, {int(input_size)} x {int(input_size)} input"
    return _drawings(arch, network == "plain", int(input_size), title)[1]


def compare_networks(timed: bool = False) -> str:
    """ResNet against other ImageNet networks (AlexNet, VGG, GoogLeNet, Inception-v3, the paper's plain-34, DenseNet, MobileNet, EfficientNet, ConvNeXt, ViT): size, cost and accuracy.

    Args:
        timed: also time one forward pass of every network on this server's CPU (about a minute); false: counts and published figures only (seconds).

    Returns:
        JSON text: one row per network with its year, parameters, GMACs counted from the architecture at its input size, published ImageNet top-1 (%) and where that figure comes from, and forward_ms (null when not timed)
    """
    return _json([dataclasses.asdict(row) for row in measure_networks(timed=None if timed else ())])


def block_cost(width: int = 256, map_size: int = 56) -> str:
    """Why ResNet-50 uses bottleneck blocks: a basic block and a bottleneck block at the same width, and ResNet-34 against ResNet-50.

    Args:
        width: channels into and out of each block (the paper's example: 256); a multiple of 4.
        map_size: height and width of the blocks' input feature map in pixels (ResNet's first stage: 56), 1 to 512.

    Returns:
        JSON text: both blocks' layers, parameters, multiply-accumulates and forward time measured now; the bottleneck's saving (times fewer parameters); ResNet-34's and ResNet-50's parameters, GMACs and forward time at 224 x 224
    """
    try:
        cost = measure_blocks(int(width), map_size=int(map_size))
    except ValueError as e:
        raise gr.Error(str(e), print_exception=False) from e
    return _json({**dataclasses.asdict(cost), "saving": round(cost.saving, 2)})




def register(demo: gr.Blocks, policy: ModelPolicy, default_model: str) -> list[str]:
    """Add the tools to ``demo`` (inside its ``with`` block) and hide every other endpoint from MCP; returns the tool names.

    The page's events stay callable by API clients (``api_visibility="undocumented"``). The tools run
    outside the queue, so the MCP server calls them directly rather than through an HTTP loopback;
    ``BUSY`` bounds how many run a network at once instead.
    """
    made = tools(policy, default_model)
    names = [fn.__name__ for fn in made]
    for block_fn in demo.fns.values():
        if block_fn.api_visibility == "public":
            block_fn.api_visibility = "undocumented"
    for fn in made:
        gr.api(fn, api_name=f"mcp_{fn.__name__}", queue=False)
    return names
