"""Loading checkpoints from the Hugging Face Hub and local folders, in three layouts.

A local folder and a Hub repo id (optionally ``id@revision``) take one path, as in
huggingface_hub's ``ModelHubMixin``: a folder is read as it is, a repo id goes
through ``hf_hub_download`` (cache, token and offline flags included). Which
layout a checkpoint is in (timm, transformers, ResNet Studio's own) is read from
its ``config.json`` (see ``resnet.checkpoints.layouts``). Loading is strict: every key and
shape must match. Weights come from safetensors, or ``torch.load(weights_only=True)``
for ``pytorch_model.bin``; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import replace
from typing import Any, Callable, Optional

import torch
from torch import nn

from resnet.model import ResNet, build

from .config import CheckpointError, ModelConfig
from .layouts import layout_of, read_config, rename_transformers_keys

__all__ = ["DEFAULT_CHECKPOINTS", "is_cached", "load_checkpoint", "parse_source"]

# One checkpoint per depth, with the ImageNet-1k top-1 (%) torchvision publishes for these weights
# (timm's *.tv_in1k / *.tv2_in1k repos hold torchvision's weights; tests check the numbers).
DEFAULT_CHECKPOINTS: dict[str, tuple[str, float]] = {
    "resnet18": ("timm/resnet18.tv_in1k", 69.758),
    "resnet34": ("timm/resnet34.tv_in1k", 73.314),
    "resnet50": ("timm/resnet50.tv2_in1k", 80.858),
    "resnet101": ("timm/resnet101.tv2_in1k", 81.886),
    "resnet152": ("timm/resnet152.tv2_in1k", 82.284),
}

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def parse_source(source: str, revision: Optional[str] = None, *, allow_local: bool = True) -> tuple[str, Optional[str]]:
    """Split ``"owner/name@revision"`` into repo id and revision; local folders (if allowed) pass through."""
    if (allow_local and os.path.isdir(source)) or "@" not in source:
        return source, revision
    repo_id, _, at = source.partition("@")
    if revision is not None and revision != at:
        raise ValueError(f"two revisions given for {repo_id}: {at!r} in the source and {revision!r} as an argument")
    return repo_id, at


def load_checkpoint(
    source: str,
    revision: Optional[str] = None,
    *,
    cache_dir: Optional[str | os.PathLike] = None,
    token: Optional[str | bool] = None,
    force_download: bool = False,
    local_files_only: bool = False,
    hub_timeout: Optional[float] = None,
    allow_local: bool = True,
) -> tuple[ResNet, ModelConfig]:
    """Load a ResNet and its config from a Hub repo id (optionally ``id@revision``) or a local folder.

    Args:
        source: e.g. ``"timm/resnet50.a1_in1k"``, ``"microsoft/resnet-50@main"`` or ``"runs/r18"``.
        revision: a branch, tag or commit on the Hub.
        cache_dir, token, force_download, local_files_only: passed to ``huggingface_hub.hf_hub_download``.
        hub_timeout: one time budget, in seconds, for the Hub's first answer, whatever requests the
            load makes before it, with no retries (a server that must answer quickly sets it); when the
            Hub does not answer in time, only the cache is read. ``None``: huggingface_hub's own
            timeouts and retries (about 23 s before an unreachable Hub fails).
        allow_local: read ``source`` as a local folder when one exists; ``False`` treats every
            ``source`` as a Hub repo id (for ids that strangers type).

    Returns:
        The model in eval mode on the CPU, and its ``ModelConfig``.

    Raises:
        CheckpointError: not found, not reachable, unsupported, or weights that do not match.
    """
    repo_id, revision = parse_source(str(source), revision, allow_local=allow_local)
    local = allow_local and os.path.isdir(repo_id)
    if local:
        fetch = _local_fetcher(repo_id)
    else:
        options = dict(cache_dir=cache_dir, token=token, force_download=force_download, local_files_only=local_files_only)
        fetch = _hub_fetcher(repo_id, revision, hub_timeout=hub_timeout, **options)
    config_path = fetch("config.json", required=True)
    raw = _read_json(config_path, repo_id)
    resolved = None if local else _snapshot_revision(config_path)

    preprocessor = None
    if layout_of(raw, repo_id) == "transformers":
        path = fetch("preprocessor_config.json", required=False)
        preprocessor = _read_json(path, repo_id) if path else None
    config = read_config(raw, repo_id, preprocessor=preprocessor)
    config = replace(config, source=repo_id, revision=resolved)

    state_dict = _read_weights(fetch, repo_id)
    if config.layout == "transformers":
        state_dict = rename_transformers_keys(state_dict)
    with torch.device("meta"):  # no random initialisation to throw away: the checkpoint's tensors are assigned
        model = build(config.arch, num_classes=config.num_classes)
    _load_strict(model, state_dict, repo_id)
    return model.eval(), config


# --- reading files --------------------------------------------------------------------------

Fetch = Callable[..., Optional[str]]


def _local_fetcher(folder: str) -> Fetch:
    def fetch(filename: str, *, required: bool) -> Optional[str]:
        path = os.path.join(folder, filename)
        if os.path.isfile(path):
            return path
        if required:
            raise CheckpointError(
                f"{folder} has no {filename}; a checkpoint folder needs config.json and model.safetensors", reason="not_found"
            )
        return None

    return fetch


def _hub_fetcher(repo_id: str, revision: Optional[str], *, hub_timeout: Optional[float] = None, **options: Any) -> Fetch:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HFValidationError, RepositoryNotFoundError, RevisionNotFoundError

    probe: dict[str, Optional[Exception]] = {}  # asked once per load: did the Hub answer at all?

    def hub_silent() -> Optional[Exception]:
        if hub_timeout is None or constants.HF_HUB_OFFLINE or options.get("local_files_only"):
            return None
        if "error" not in probe:
            probe["error"] = _hub_silence(repo_id, revision, hub_timeout, options.get("token"))
        return probe["error"]

    def fetch(filename: str, *, required: bool) -> Optional[str]:
        silence = hub_silent()
        try:
            if silence is not None:  # no second try: what the cache holds, read without a request
                return _cached_or_raise(repo_id, filename, revision, options.get("cache_dir"))
            timeout = {} if hub_timeout is None else {"etag_timeout": hub_timeout}
            return hf_hub_download(repo_id, filename, revision=revision, **timeout, **options)
        except (HFValidationError, RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as e:
            if not required and isinstance(e, EntryNotFoundError):  # a local miss is one too
                return None
            error, cause = _checkpoint_error(e, repo_id, revision, filename, silence=silence, options=options)
            raise error from cause

    return fetch


def _cached_or_raise(repo_id: str, filename: str, revision: Optional[str], cache_dir: Any) -> str:
    """The cached file's path, read without a request; ``LocalEntryNotFoundError`` when the cache lacks it."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    path = _cached_file(repo_id, filename, revision, cache_dir)
    if path is None:
        raise LocalEntryNotFoundError(f"{repo_id}: {filename} is not in the local cache")
    return path


def _checkpoint_error(
    error: Exception, repo_id: str, revision: Optional[str], filename: str, *, silence: Optional[Exception], options: dict[str, Any]
) -> tuple[CheckpointError, Exception]:
    """What huggingface_hub's ``error`` means for the user, with what to do, and the exception to chain it to."""
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError, HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(error, HFValidationError):
        return CheckpointError(f"{repo_id!r} is neither a local folder nor a valid Hub repo id (owner/name): {error}", reason="not_found"), error
    if isinstance(error, GatedRepoError):  # before RepositoryNotFoundError, its base class
        return CheckpointError(
            f"{repo_id} is gated on the Hugging Face Hub: accept its terms on the Hub, then log in "
            "with `hf auth login` or set HF_TOKEN",
            reason="gated",
        ), error
    if isinstance(error, RepositoryNotFoundError):
        return CheckpointError(
            f"no model repository {repo_id} on the Hugging Face Hub (or it is private: log in with "
            "`hf auth login` or set HF_TOKEN). Check the name, e.g. timm/resnet50.a1_in1k",
            reason="not_found",
        ), error
    if isinstance(error, RevisionNotFoundError):
        return CheckpointError(f"{repo_id} has no revision {revision!r}", reason="not_found"), error
    if not isinstance(error, LocalEntryNotFoundError):  # the Hub answered: no such file
        return CheckpointError(f"{repo_id} has no file {filename}", reason="not_found"), error
    cache = options.get("cache_dir") or constants.HF_HUB_CACHE
    if silence is None and (constants.HF_HUB_OFFLINE or options.get("local_files_only")):
        return CheckpointError(
            f"{repo_id}: {filename} is not in the local Hugging Face cache ({cache}) and HF_HUB_OFFLINE=1 "
            "(or local_files_only) forbids downloading it. Unset HF_HUB_OFFLINE to download it, point "
            "HF_HUB_CACHE or HF_HOME at a cache that holds it, or pass a local folder with config.json "
            "and model.safetensors",
            reason="not_cached",
        ), error
    timed_out = isinstance(silence, TimeoutError)
    return CheckpointError(
        f"{repo_id}: {silence if timed_out else 'could not reach the Hugging Face Hub'} and {filename} is not "
        f"in the local cache ({cache}). Check the network or proxy, or set HF_HUB_OFFLINE=1 and use a cached "
        "checkpoint or a local folder with config.json and model.safetensors",
        reason="timeout" if timed_out else "unreachable",
    ), silence or error


def _hub_silence(repo_id: str, revision: Optional[str], timeout: float, token: Any) -> Optional[Exception]:
    """None if the Hub answers a HEAD request for ``config.json`` within ``timeout`` s (any answer), else why not.

    ``timeout`` is one budget for everything before that answer: huggingface_hub first makes requests
    of its own (its user-agent look-up waits up to 3 s), each with its own timeout, so the request runs
    in a thread that the load waits for at most ``timeout`` s. One still waiting then ends in the background.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    outcome: list[Optional[Exception]] = []

    def probe() -> None:
        try:  # its own timeout is longer than the wait below, so that the wait decides
            get_hf_file_metadata(hf_hub_url(repo_id, "config.json", revision=revision), timeout=timeout + 1, token=token)
        except HfHubHTTPError:
            outcome.append(None)  # it answered (404, 401, ...): hf_hub_download will say what it means
        except Exception as e:  # refused, no route, proxy: nothing answered, whatever the transport's error type
            outcome.append(e)
        else:
            outcome.append(None)

    thread = threading.Thread(target=probe, name=f"hub probe {repo_id}", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else TimeoutError(f"the Hugging Face Hub did not answer within {timeout:g} s")


def _cached_file(repo_id: str, filename: str, revision: Optional[str], cache_dir: Optional[str | os.PathLike]) -> Optional[str]:
    """``filename``'s path in the Hugging Face cache, or None; makes no request, not even for headers."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.utils import validate_repo_id

    validate_repo_id(repo_id)
    path = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=revision)
    return path if isinstance(path, str) else None


def is_cached(source: str, revision: Optional[str] = None, *, cache_dir: Optional[str | os.PathLike] = None, allow_local: bool = True) -> bool:
    """Whether ``source`` loads without the network: a local folder with ``config.json``, or a Hub repo whose
    ``config.json`` and weights are in the Hugging Face cache. Cheap: no request, no file read but the cache's refs.

    Args:
        source, revision, allow_local: as in ``load_checkpoint``.
        cache_dir: the Hugging Face cache to look in (default: huggingface_hub's, from ``HF_HUB_CACHE`` / ``HF_HOME``).
    """
    from huggingface_hub.errors import HFValidationError

    try:
        repo_id, revision = parse_source(str(source), revision, allow_local=allow_local)
        if allow_local and os.path.isdir(repo_id):
            return os.path.isfile(os.path.join(repo_id, "config.json"))
        cached = [_cached_file(repo_id, name, revision, cache_dir) for name in ("config.json", *WEIGHT_FILES)]
    except (HFValidationError, ValueError):  # not a repo id: nothing of it can be cached
        return False
    return cached[0] is not None and any(path is not None for path in cached[1:])


def _snapshot_revision(path: str) -> Optional[str]:
    """The commit hash in a Hugging Face cache path ``.../snapshots/<commit>/file``."""
    match = re.search(r"snapshots[/\\]([0-9a-f]{40})[/\\]", path)
    return match.group(1) if match else None


def _read_json(path: str, source: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{source}: {os.path.basename(path)} is not valid JSON ({e}); the file is damaged", reason="damaged") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{source}: {os.path.basename(path)} must hold a JSON object, not {type(data).__name__}", reason="damaged")
    return data


def _read_weights(fetch: Fetch, source: str) -> dict[str, torch.Tensor]:
    for filename in WEIGHT_FILES:
        path = fetch(filename, required=False)
        if path is None:
            continue
        try:
            if filename.endswith(".safetensors"):
                from safetensors.torch import load_file

                return load_file(path, device="cpu")
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # safetensors and torch.load raise several types for damaged files
            raise CheckpointError(
                f"{source}: {filename} is corrupted or truncated ({e}). Delete it (for the Hub cache: "
                "`hf cache delete`) and download it again",
                reason="damaged",
            ) from e
    raise CheckpointError(f"{source} has no weights: expected one of {', '.join(WEIGHT_FILES)}", reason="not_found")


def _load_strict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    expected = model.state_dict()
    # BatchNorm fills in a missing step counter itself; some exporters leave it out.
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}" + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}" + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""))
        if wrong:
            parts.append(f"shape mismatches (checkpoint vs model) {wrong[:3]}")
        raise CheckpointError(f"{source}: the weights do not match the architecture: {'; '.join(parts)}", reason="damaged")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}, strict=True, assign=True)
