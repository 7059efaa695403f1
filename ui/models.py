"""Which checkpoints a visitor may load, and the pretrained models the server keeps loaded for everyone.

The rules (SECURITY.md):
- A visitor picks a listed checkpoint, a model fine-tuned in their own session, or a Hub repo id
  matching the operator's ``--allow-hub-models`` patterns (none by default). Local folders come
  only from the operator (``--model``): a name a visitor sends is never read as a path.
- Every refusal has the same words, whatever the name is and whether such a folder exists.
- Loaded models live in an LRU of at most ``max_loaded`` entries; the operator's default is pinned.
- Each entry is one checkpoint on one device: a request that ``resnet.devices.use_device`` sends elsewhere (the CPU,
  when ZeroGPU lends no GPU) gets its own copy there, made from the loaded one and counted in the same budget.
- The Hub gets one short attempt; a failure is remembered for ``failure_memory_s`` seconds per repo.
"""

from __future__ import annotations

import copy
import fnmatch
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import gradio as gr

import resnet
from resnet.checkpoints.config import CheckpointError
from resnet.checkpoints.hub import is_cached
from resnet.devices import default_device

from .i18n import text

__all__ = [
    "MODELS", "TUNED_PREFIX", "ModelPolicy", "Refused", "SharedModels", "on_device", "picker_choices", "resolve", "tuned_label", "tuned_number",
    "unavailable_text",
]

log = logging.getLogger(__name__)

TUNED_PREFIX = "fine-tuned "  # names of this session's models: "fine-tuned 2: cats, dogs"

# owner/name as the Hub allows them (letters, digits, "-", "_", "."; at most 96 each), optionally @revision.
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}(@[A-Za-z0-9][A-Za-z0-9._/-]{0,63})?")


class Refused(ValueError):
    """A visitor named a checkpoint the rules do not allow; the message is the same for every such name.

    Attributes:
        shown: the name as the message shows it (at most 60 characters).
        allow_hub: the patterns of Hub repo ids this server allows.
    """

    def __init__(self, name: str, allow_hub: Sequence[str]) -> None:
        self.shown = name if len(name) <= 60 else name[:57] + "..."
        self.allow_hub = tuple(allow_hub)
        super().__init__(self.message("en"))

    def message(self, request: Any) -> str:
        """The refusal in the request's language."""
        rule = text(request, "models.rule.patterns", patterns=", ".join(self.allow_hub)) if self.allow_hub else text(request, "models.rule.none")
        return text(request, "models.refused", name=self.shown, rule=rule)


@dataclass(frozen=True)
class ModelPolicy:
    """What a request may load.

    Attributes:
        listed: the operator's checkpoints (Hub ids or local folders), shown in the model picker.
        allow_hub: ``fnmatch`` patterns (e.g. ``"timm/resnet*"``) of further Hub repo ids visitors may name.
        max_session_models: how many fine-tuned models a browser session keeps (the oldest is dropped).
    """

    listed: tuple[str, ...]
    allow_hub: tuple[str, ...] = ()
    max_session_models: int = 3

    def source_for(self, name: str) -> tuple[str, bool]:
        """The checkpoint to load for ``name`` and whether it may be a local folder; raises ``Refused``."""
        if name in self.listed:
            return name, True
        repo_id = name.partition("@")[0]
        if _REPO_ID.fullmatch(name) and ".." not in name and any(fnmatch.fnmatchcase(repo_id, p) for p in self.allow_hub):
            return name, False
        raise Refused(name, self.allow_hub)


class SharedModels:
    """Pretrained classifiers shared by all users: loaded on first use, one load at a time, at most ``max_loaded`` kept.

    Each is kept per device: ``get`` answers with the copy on ``resnet.devices.default_device()``, the request's device.

    Args:
        max_loaded: how many loaded models to keep; the least recently used unpinned one goes first.
        pinned: sources never evicted (the operator's default model).
        hub_timeout: seconds the Hub gets to answer, once (``resnet.checkpoints.hub.load_checkpoint``).
        failure_memory_s: how long a failed load is answered with the same error without trying again.
        load: the loader, ``resnet.Classifier.from_pretrained`` (replaceable in tests).
    """

    def __init__(
        self,
        *,
        max_loaded: int = 8,
        pinned: Sequence[str] = (),
        hub_timeout: float = 3.0,
        failure_memory_s: float = 60.0,
        load: Callable[..., resnet.Classifier] = resnet.Classifier.from_pretrained,
    ) -> None:
        if max_loaded < 1:
            raise ValueError(f"max_loaded must be at least 1, got {max_loaded}")
        self.max_loaded = max_loaded
        self.pinned = set(pinned)
        self.hub_timeout = hub_timeout
        self.failure_memory_s = failure_memory_s
        self._load = load
        self._lock = threading.Lock()  # guards the two dicts below
        self._loading = threading.Lock()  # one load at a time: at most max_loaded + 1 models in memory
        self._loaded: OrderedDict[tuple[str, str], resnet.Classifier] = OrderedDict()  # by (source, device type)
        self._failed: dict[str, tuple[float, CheckpointError]] = {}

    def configure(self, *, max_loaded: int, pinned: Sequence[str]) -> None:
        """Resize the budget and choose the pinned sources (the server's flags, before it serves)."""
        if max_loaded < 1:
            raise ValueError(f"max_loaded must be at least 1, got {max_loaded}")
        with self._lock:
            self.max_loaded, self.pinned = max_loaded, set(pinned)
            self._evict()

    def loaded(self) -> list[str]:
        """The sources loaded now, least recently used first."""
        with self._lock:
            return [source for source, _ in self._loaded]

    def get(self, source: str, *, allow_local: bool = True) -> resnet.Classifier:
        """The classifier for ``source`` on this request's device, loading it if needed; raises ``CheckpointError`` (remembered for a while).

        Loaded on another device already, it is copied (no second read of the checkpoint).
        """
        key = (source, default_device().type)
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self._loading:
            cached = self._cached(key)  # another request may have loaded it while this one waited
            if cached is not None:
                return cached
            with self._lock:
                elsewhere = next((c for (s, _), c in self._loaded.items() if s == source), None)
            try:
                classifier = on_device(elsewhere, key[1]) if elsewhere else self._load(source, hub_timeout=self.hub_timeout, allow_local=allow_local)
            except CheckpointError as e:
                with self._lock:
                    self._failed[source] = (time.monotonic(), e)
                raise
            with self._lock:
                self._loaded[key] = classifier
                self._failed.pop(source, None)
                self._evict()
            return classifier

    def availability(self, source: str, *, allow_local: bool = True) -> Optional[str]:
        """Why ``source`` would not answer at once, or None (loaded, or loads without the network). No request, no load.

        Returns:
            The reason of its last failed load (a ``CheckpointError`` reason, however long ago); else
            ``"not_cached"`` when not cached and huggingface_hub is offline, ``"download"`` when the first
            use downloads it; None when it is loaded or cached.
        """
        with self._lock:
            if any(s == source for s, _ in self._loaded):
                return None
            if source in self._failed:
                return self._failed[source][1].reason
        if is_cached(source, allow_local=allow_local):
            return None
        from huggingface_hub import constants

        return "not_cached" if constants.HF_HUB_OFFLINE else "download"

    def preload(self, source: str) -> threading.Thread:
        """Load ``source`` in a background thread, so the first request finds it ready; a failure is logged and retried on use."""

        def load() -> None:
            try:
                self.get(source)
            except CheckpointError as e:
                log.warning("the default model is not available yet: %s", e)

        thread = threading.Thread(target=load, name=f"preload {source}", daemon=True)
        thread.start()
        return thread

    def _cached(self, key: tuple[str, str]) -> Optional[resnet.Classifier]:
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            failed = self._failed.get(key[0])
            if failed and time.monotonic() - failed[0] < self.failure_memory_s:
                raise CheckpointError(str(failed[1]), reason=failed[1].reason) from failed[1]
            return None  # a failure stays in _failed after its memory for availability(), until a load succeeds

    def _evict(self) -> None:
        for key in list(self._loaded):
            if len(self._loaded) <= self.max_loaded:
                break
            if key[0] not in self.pinned:
                del self._loaded[key]  # requests still using it keep their reference


def on_device(classifier: resnet.Classifier, device: str) -> resnet.Classifier:
    """``classifier`` itself when it runs on ``device`` (a type: "cpu", "cuda"), else a copy there (weights copied, its own fast path)."""
    if classifier.device.type == device:
        return classifier
    return resnet.Classifier(copy.deepcopy(classifier.model), classifier.config, device, fast=classifier.fast is not None)


MODELS = SharedModels()  # the server's one shared cache; app.py sizes it from its flags


def resolve(name: str, tuned: dict[str, resnet.Classifier], policy: ModelPolicy, request: Optional[gr.Request]) -> resnet.Classifier:
    """The classifier a request names: one of this session's fine-tuned models, or an allowed checkpoint.

    Raises:
        gr.Error: in the request's language; never with the library's message, which may name folders
            on this server (that one goes to the server's log).
    """
    if name in tuned:  # made on the GPU, asked for on the CPU (ZeroGPU refused): a copy for this request
        return on_device(tuned[name], default_device().type)
    if name.startswith(TUNED_PREFIX):
        raise gr.Error(text(request, "models.not_in_session", name=name), print_exception=False)
    try:
        source, allow_local = policy.source_for(name)
        return MODELS.get(source, allow_local=allow_local)
    except Refused as e:
        raise gr.Error(e.message(request), print_exception=False) from e
    except CheckpointError as e:
        log.warning("could not load %s: %s", name, e)
        raise gr.Error(unavailable_text(name, e.reason, request), duration=None, print_exception=False) from e


# The load failures whose advice depends on the cause: offline, a Hub that cannot be reached, one that does not answer.
_ADVICE_BY_REASON = ("not_cached", "unreachable", "timeout")


def shared_loader(policy: ModelPolicy, request: Optional[gr.Request]) -> Callable[[str], resnet.Classifier]:
    """``source -> Classifier`` through the shared cache, so its memory budget and this server's Hub rules hold."""

    def load(source: str) -> resnet.Classifier:
        try:
            checkpoint, allow_local = policy.source_for(source)
        except Refused as e:
            raise gr.Error(e.message(request), print_exception=False) from e
        return MODELS.get(checkpoint, allow_local=allow_local)

    return load


def unavailable_text(name: str, reason: str, request: Optional[gr.Request]) -> str:
    """Why ``name`` cannot be loaded (a ``CheckpointError`` reason) and what to do, in the request's language; no server paths."""
    advice = f"models.advice.{reason}" if reason in _ADVICE_BY_REASON else "models.advice"
    return text(request, f"load.{reason}", name=name) + text(request, advice)


def tuned_number(name: str) -> int:
    """k in "fine-tuned k: cats, dogs"."""
    return int(name.removeprefix(TUNED_PREFIX).split(":", 1)[0])


def tuned_label(name: str, request: Any) -> str:
    """A fine-tuned model's name ("fine-tuned k: cats, dogs", the picker's value) as the request's language writes it."""
    return text(request, "classify.tuned_name", number=tuned_number(name), labels=name.split(": ", 1)[1])


def picker_choices(tuned: dict, listed: Sequence[str], request: Optional[gr.Request]) -> list[tuple[str, str]]:
    """A model picker's choices: this session's models (named in the request's language), then the listed ones."""
    mine = [(tuned_label(n, request), n) for n in tuned]
    return [*mine, *((c, c) for c in listed)]
