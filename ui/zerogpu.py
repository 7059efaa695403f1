"""Hugging Face ZeroGPU: each GPU-worthy callback runs inside ``spaces.GPU`` for a duration sized to its work.

A ZeroGPU Space lends a GPU slice per call: the ``spaces`` package's ``@spaces.GPU(duration=...)``
asks for it (a callable duration gets the call's own arguments), and each visitor has a daily quota.
This module is the app's one switch for it:

- ``ON_ZEROGPU``: the Space runs on ZeroGPU, read as ``spaces.config`` reads it (``SPACES_ZERO_GPU``).
  Elsewhere ``gpu`` returns the callback unchanged and ``spaces`` is never imported.
- ``gpu``: the decorator the tabs put on their callbacks; ``BUDGETS`` says, per callback name, how many
  seconds it asks for (from its photos, epochs or steps), capped at ``MAX_DURATION_S``.
- When ZeroGPU refuses (the visitor's quota is used up, no GPU is free), the visitor is told so in words and the
  same callback runs on the CPU: inside ``resnet.devices.use_device("cpu")`` every network it builds or fine-tunes
  lands there, and ``ui.models`` answers with CPU copies of the shared and session models (they live on the GPU).
"""

from __future__ import annotations

import os

# What ``spaces.config.Settings`` reads: "1", "t" or "true", any case, means ZeroGPU.
ON_ZEROGPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")
if ON_ZEROGPU:  # only there, and before torch is used: importing spaces patches torch so CUDA is lent per call
    import spaces

import functools  # noqa: E402
import inspect  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any, Callable, Iterator, Mapping, Optional  # noqa: E402

import gradio as gr  # noqa: E402

from resnet.devices import use_device  # noqa: E402

from .i18n import text  # noqa: E402

__all__ = ["BUDGETS", "MAX_DURATION_S", "ON_ZEROGPU", "Budget", "gpu", "seconds"]

log = logging.getLogger(__name__)

# ZeroGPU's largest duration per call (Hugging Face's ZeroGPU documentation). The spaces package does not cap
# it itself: the platform refuses a larger request ("ZeroGPU illegal duration"), so the app never asks for more.
MAX_DURATION_S = 300

# The titles of the gr.Error that spaces.zero.client.schedule raises when no GPU is lent, and what the visitor reads.
REFUSALS = {
    "ZeroGPU quota exceeded": "zerogpu.quota",
    "ZeroGPU illegal duration": "zerogpu.quota",
    "ZeroGPU pending credits exceeded": "zerogpu.quota",
    "ZeroGPU queue timeout": "zerogpu.busy",
    "ZeroGPU client error": "zerogpu.busy",
}

# Seconds per unit of work on a ZeroGPU slice, with margin (estimates: an H200 slice runs a ResNet-50 forward
# pass in milliseconds; what dominates a short call is loading the model and moving it to the GPU).
PER_PHOTO_S = 0.05
PHOTOS_PER_ZIP = 200  # a .zip's photos are not counted before the call: assume a full one
PER_IMAGE_EPOCH_S = {"head": 0.01, "last-stage": 0.03, "full": 0.06}
PER_LAB_STEP_S = 0.02  # one training step of one small CIFAR net


@dataclass(frozen=True)
class Budget:
    """How long a callback asks the GPU for, and what the visitor reads when it runs on the CPU instead.

    Args:
        base: seconds for everything but the counted work (loading models, first-call set-up).
        work: seconds for the counted work, from the call's arguments by name.
        on_cpu: the locale key said when ZeroGPU refuses and the callback runs on the CPU.
    """

    base: float
    work: Callable[[Mapping[str, Any]], float] = lambda args: 0.0
    on_cpu: str = "zerogpu.on_cpu"


def _photo_count(files: Any) -> int:
    return sum(PHOTOS_PER_ZIP if str(f).lower().endswith(".zip") else 1 for f in files or ())


def _finetune_work(args: Mapping[str, Any]) -> float:
    form = args.get("form", {})  # the page's inputs by name (ui.tabs.finetune.training.FORM): each class slot's images in "class_<i>_files"
    images = sum(len(files or ()) for name, files in form.items() if name.endswith("_files")) + (PHOTOS_PER_ZIP if form.get("zip_file") else 0)
    return float(form.get("epochs") or 1) * images * PER_IMAGE_EPOCH_S.get(form.get("strategy"), max(PER_IMAGE_EPOCH_S.values()))


def _lab_work(args: Mapping[str, Any]) -> float:
    return 2 * len(args.get("depths") or ()) * float(args.get("steps") or 1) * PER_LAB_STEP_S  # a plain and a residual net per depth


# By callback name (the tabs' and the MCP tools' functions share names where they do the same work).
BUDGETS: dict[str, Budget] = {
    "classify": Budget(20),
    "explain": Budget(20),
    "classify_many": Budget(20, lambda args: _photo_count(args.get("files")) * PER_PHOTO_S),
    "classify_all_depths": Budget(60),  # five checkpoints, each loaded and moved to the GPU
    "inside": Budget(30),
    "finetune": Budget(30, _finetune_work, on_cpu="zerogpu.on_cpu_slow"),  # minutes where the GPU takes seconds
    "degradation": Budget(15, _lab_work),
    "gradient_flow_plot": Budget(20),
}


def seconds(name: str, args: Mapping[str, Any]) -> int:
    """The GPU seconds callback ``name`` asks for, given its arguments by name (at most ``MAX_DURATION_S``)."""
    budget = BUDGETS[name]
    return min(MAX_DURATION_S, math.ceil(budget.base + budget.work(args)))


def gpu(fn: Callable) -> Callable:
    """Run ``fn`` inside ``spaces.GPU`` on a ZeroGPU Space (its duration from ``BUDGETS[fn.__name__]``); elsewhere return it as is.

    Raises:
        KeyError: ``fn`` has no entry in ``BUDGETS`` (checked everywhere, so a new callback cannot go unsized).
    """
    if fn.__name__ not in BUDGETS:
        raise KeyError(f"{fn.__name__} has no GPU budget: add it to ui.zerogpu.BUDGETS")
    if not ON_ZEROGPU:
        return fn
    signature = inspect.signature(fn)

    def duration(*args: Any, **kwargs: Any) -> int:  # spaces calls it with the call's own arguments
        return seconds(fn.__name__, signature.bind_partial(*args, **kwargs).arguments)

    on_gpu = spaces.GPU(fn, duration=duration)
    wrapper = _generator_with_fallback(fn, on_gpu) if inspect.isgeneratorfunction(fn) else _with_fallback(fn, on_gpu)
    wrapper.zerogpu_budget = BUDGETS[fn.__name__]
    return wrapper


def _request(args: tuple, kwargs: Mapping[str, Any]) -> Optional[gr.Request]:
    return next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)


def _refused(fn: Callable, error: gr.Error, args: tuple, kwargs: Mapping[str, Any]) -> None:
    """Tell the visitor ZeroGPU lent no GPU and that ``fn`` runs on the CPU; re-raise ``error`` when it is no refusal."""
    key = REFUSALS.get(getattr(error, "title", ""))
    if key is None:  # the task's own error, not a refusal
        raise error
    request = _request(args, kwargs)
    log.warning("ZeroGPU lent no GPU for %s (%s: %s)", fn.__name__, error.title, error.message)
    gr.Warning(f"{text(request, key)} {text(request, BUDGETS[fn.__name__].on_cpu)}")


def _with_fallback(fn: Callable, on_gpu: Callable) -> Callable:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return on_gpu(*args, **kwargs)
        except gr.Error as e:
            _refused(fn, e, args, kwargs)
        with use_device("cpu"):
            return fn(*args, **kwargs)

    return run


def _generator_with_fallback(fn: Callable, on_gpu: Callable) -> Callable:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from on_gpu(*args, **kwargs)
            return
        except gr.Error as e:  # ZeroGPU refuses before the first update, so nothing is repeated below
            _refused(fn, e, args, kwargs)
        with use_device("cpu"):
            yield from fn(*args, **kwargs)

    return run
