"""What a browser session owns on the server: a folder of its files, removed shortly after the session ends; and the GPU decorator (``ui.zerogpu``)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from . import jobs
from .i18n import text
from .zerogpu import gpu  # the tabs' GPU decorator: spaces.GPU on a ZeroGPU Space, nothing elsewhere

__all__ = ["APP_TMP", "REMOVAL_DELAY_S", "end_session", "gpu", "session_dir", "upload_path"]

# Files the app writes (CSV tables, sample sets, model zips) go under one folder, removed at exit;
# each browser session gets its own sub-folder, removed shortly after the session ends.
APP_TMP = Path(tempfile.mkdtemp(prefix="resnet-studio-"))
atexit.register(shutil.rmtree, APP_TMP, ignore_errors=True)

# Sessions whose page has closed: work of theirs still running (a load event, a queued job) must not
# write into a folder that ``end_session`` has already removed. The most recent ones are enough.
_ENDED: OrderedDict[str, None] = OrderedDict()
_MAX_ENDED = 100_000
# A closed page's folder goes a little later, not at once: a request of the page still finishing may have written its
# answer's files there (an overlay), and Gradio copies them to its cache only after the callback has returned.
REMOVAL_DELAY_S = 30.0


def session_dir(request: Optional[gr.Request]) -> Path:
    """This session's folder under ``APP_TMP`` (created on first use); refused once the session has ended."""
    session = (request.session_hash if request and request.session_hash else None) or "no-session"
    if session in _ENDED:
        raise gr.Error(text(request, "session.ended"), print_exception=False)  # the page is gone: nobody to tell, nothing went wrong
    folder = APP_TMP / session
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def end_session(request: gr.Request) -> None:
    """Stop this browser session's jobs, refuse its further writes, and remove the files it wrote ``REMOVAL_DELAY_S`` later."""
    if request and request.session_hash:
        jobs.stop_session(request.session_hash)
        _ENDED[request.session_hash] = None
        while len(_ENDED) > _MAX_ENDED:
            _ENDED.popitem(last=False)
        removal = threading.Timer(REMOVAL_DELAY_S, shutil.rmtree, (APP_TMP / request.session_hash,), {"ignore_errors": True})
        removal.daemon = True  # at exit, APP_TMP goes as a whole
        removal.start()


def upload_path(image: Any, request: Optional[gr.Request]) -> Any:
    """The file behind an upload: events here skip gradio's own decoding so every file meets resnet.transforms.load_image."""
    if image is None:
        raise gr.Error(text(request, "classify.no_photo"), print_exception=False)
    if isinstance(image, dict):
        return image.get("path") or image.get("url")
    return image
