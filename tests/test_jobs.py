"""ui.jobs: a session's training job stops at its next step on Stop, on leaving its generator, at its time limit and when the session ends."""

import threading
import time
from types import SimpleNamespace

import pytest

from ui import jobs, session


def request(name: str):
    return SimpleNamespace(session_hash=name, headers={})


def counting(steps_done: list, limit: int = 10_000):
    """Work that reports a step every 10 ms until it is told to stop (or reaches ``limit``); returns the steps done."""

    def work(report, should_stop):
        for step in range(limit):
            if should_stop():
                break
            steps_done.append(step)
            report({"step": step})
            time.sleep(0.01)
        return len(steps_done)

    return work


class Stepped:
    """Work that takes a step only when the test allows one (``allow``), at most ``limit`` steps in all.

    What the work does is then set by the test, not by the machine's speed: no sleeps, no timing.
    """

    def __init__(self, limit: int = 10, clock: list | None = None, step_seconds: float = 0.0):
        self.done: list = []
        self.limit = limit
        self.clock, self.step_seconds = clock, step_seconds  # a fake clock the work advances at each step
        self._go = threading.Semaphore(0)

    def allow(self, steps: int = 1) -> None:
        self._go.release(steps)

    def __call__(self, report, should_stop):
        for step in range(self.limit):
            if self.clock is None:
                self._go.acquire()
            if should_stop():
                break
            self.done.append(step)
            report({"step": step})
            if self.clock is not None:
                self.clock[0] += self.step_seconds
        return len(self.done)


def test_watch_yields_every_record_and_result_is_the_return_value():
    done: list = []
    with jobs.start("count", request("a"), counting(done, limit=5), time_limit=60) as job:
        records = list(job.watch())
    assert records == [{"step": s} for s in range(5)] and job.result() == 5 and job.last == {"step": 4}


def test_stop_ends_the_work_at_its_next_step_and_says_which_job():
    done: list = []
    with jobs.start("count", request("b"), counting(done), time_limit=60) as job:
        for record in job.watch():
            if record["step"] == 3:
                assert jobs.stop("count", request("b")) is job
                assert jobs.stop("other", request("b")) is None and jobs.stop("count", request("someone else")) is None
    assert job.result() in (4, 5)  # the step in flight when Stop came may finish
    assert jobs.stop("count", request("b")) is None  # done: nothing left to stop


def test_closing_the_generator_that_watches_stops_the_work():
    work, started = Stepped(), []

    def callback():
        with jobs.start("count", request("c"), work, time_limit=60) as job:
            started.append(job)
            for record in job.watch():
                yield record

    events = callback()
    work.allow()
    assert next(events) == {"step": 0}
    events.close()  # what gradio does to a cancelled event
    work.allow(work.limit)  # room for every remaining step: only the stop keeps the work from taking them
    assert started[0].result() == 1 and work.done == [0]


def test_the_time_limit_stops_the_work(monkeypatch):
    clock = [1000.0]  # a fake clock, read by ui.jobs only; the work advances it by 1 s a step
    monkeypatch.setattr(jobs, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    work = Stepped(limit=10_000, clock=clock, step_seconds=1.0)
    with jobs.start("count", request("d"), work, time_limit=2.5) as job:
        records = list(job.watch())
    # Steps start at 1000, 1001 and 1002 s; at 1003 s the 2.5 s have passed and the work ends.
    assert records == [{"step": 0}, {"step": 1}, {"step": 2}] and job.result() == 3 == len(work.done)


def test_the_end_of_a_session_stops_its_jobs_and_no_other():
    mine, theirs = Stepped(), Stepped()
    job = jobs.start("count", request("e"), mine, time_limit=60)
    other = jobs.start("count", request("f"), theirs, time_limit=60)
    mine.allow()
    assert next(job.watch()) == {"step": 0}
    session.end_session(request("e"))
    mine.allow(mine.limit)
    assert list(job.watch()) == [] and job.result() == 1 == len(mine.done)  # no step after the session ended
    assert not other.should_stop()
    theirs.allow(2)
    assert [next(other.watch()), next(other.watch())] == [{"step": 0}, {"step": 1}]  # the other session's job goes on
    jobs.stop("count", request("f"))
    theirs.allow(theirs.limit)
    assert list(other.watch()) == [] and other.result() == 2 == len(theirs.done)


def test_an_error_of_the_work_reaches_result():
    def broken(report, should_stop):
        raise ValueError("no data")

    with jobs.start("broken", request("g"), broken, time_limit=60) as job:
        assert list(job.watch()) == []
    with pytest.raises(ValueError, match="no data"):
        job.result()
