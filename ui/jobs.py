"""Training jobs of a browser session: a worker thread whose progress a generator callback yields.

    with jobs.start("finetune", request, work, time_limit=1800) as job:
        for record in job.watch():
            yield ...  # progress
    result = job.result()

The work ends at its next step when the user presses Stop (``stop``), when its event is
cancelled (Gradio closes the generator, which leaves the ``with`` block), when its time limit
passes, or when its browser session ends (``stop_session``).
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from typing import Any, Callable, Iterator, Optional

import gradio as gr

__all__ = ["Job", "start", "stop", "stop_button", "stop_session"]

Work = Callable[[Callable[[Any], None], Callable[[], bool]], Any]  # work(report, should_stop) -> result

_LOCK = threading.Lock()  # guards _RUNNING
_RUNNING: dict[tuple[str, str], "Job"] = {}  # (session, kind) -> the job it is running


class Job:
    """``work(report, should_stop)`` in a thread: ``watch()`` yields what it reports, ``result()`` is what it returns."""

    def __init__(self, key: tuple[str, str], work: Work, *, time_limit: float):
        self.key = key
        self.last: Optional[Any] = None  # the latest progress record, for a Stop message
        self._stop = threading.Event()
        self._deadline = time.monotonic() + time_limit
        self._updates: queue.Queue = queue.Queue()
        self._outcome: dict[str, Any] = {}
        # The caller's context goes along: a device chosen with resnet.devices.use_device holds in the job too.
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run, work), name=key[1], daemon=True)

    def should_stop(self) -> bool:
        """True once the job was stopped or ran past its time limit: the work ends at its next step."""
        return self._stop.is_set() or time.monotonic() > self._deadline

    def stop(self) -> None:
        """Ask the work to end at its next step."""
        self._stop.set()

    def watch(self) -> Iterator[Any]:
        """The work's progress records as they come, until it returns or raises."""
        while (record := self._updates.get()) is not None:
            self.last = record
            yield record

    def __enter__(self) -> "Job":
        return self

    def __exit__(self, *exc: Any) -> None:
        """Leaving the ``with`` block (done, or a generator closed: cancelled, timed out, page gone) stops unfinished work."""
        if self._thread.is_alive():
            self.stop()
        with _LOCK:
            if _RUNNING.get(self.key) is self:
                del _RUNNING[self.key]

    def result(self) -> Any:
        """What the work returned, once ``watch`` is exhausted; re-raises what it raised."""
        self._thread.join()
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["result"]

    def _run(self, work: Work) -> None:
        try:
            self._outcome["result"] = work(self._updates.put, self.should_stop)
        except Exception as e:  # handed to the request thread by result(), which reports it
            self._outcome["error"] = e
        finally:
            self._updates.put(None)


def _session(request: Optional[gr.Request]) -> str:
    return (request.session_hash if request and request.session_hash else None) or "no-session"


def start(kind: str, request: Optional[gr.Request], work: Work, *, time_limit: float) -> Job:
    """Start ``work(report, should_stop)`` in a thread as this session's job of ``kind``, for at most ``time_limit`` seconds."""
    job = Job((_session(request), kind), work, time_limit=time_limit)
    with _LOCK:
        _RUNNING[job.key] = job
    job._thread.start()
    return job


def stop(kind: str, request: Optional[gr.Request]) -> Optional[Job]:
    """Stop this session's job of ``kind``; returns it, or None when none is running."""
    with _LOCK:
        job = _RUNNING.get((_session(request), kind))
    if job is not None:
        job.stop()
    return job


def stop_session(session: str) -> None:
    """Stop every job of a session that has ended."""
    with _LOCK:
        jobs = [job for key, job in _RUNNING.items() if key[0] == session]
    for job in jobs:
        job.stop()


def stop_button(running: bool) -> gr.Button:
    """A tab's Stop button as it should look: pressable while its run is going, greyed out otherwise."""
    return gr.Button(interactive=running)
