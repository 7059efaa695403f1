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
    done: list = []

    def callback():
        with jobs.start("count", request("c"), counting(done), time_limit=60) as job:
            for record in job.watch():
                yield record

    events = callback()
    next(events)
    events.close()  # what gradio does to a cancelled event
    time.sleep(0.1)
    steps = len(done)
    time.sleep(0.2)
    assert len(done) == steps < 20


def test_the_time_limit_stops_the_work():
    done: list = []
    start = time.monotonic()
    with jobs.start("count", request("d"), counting(done), time_limit=0.2) as job:
        list(job.watch())
    assert job.result() == len(done) and time.monotonic() - start < 1


def test_the_end_of_a_session_stops_its_jobs_and_no_other():
    mine, theirs = [], []
    job = jobs.start("count", request("e"), counting(mine), time_limit=60)
    other = jobs.start("count", request("f"), counting(theirs), time_limit=60)
    time.sleep(0.1)
    session.end_session(request("e"))
    finished = threading.Thread(target=lambda: list(job.watch()))
    finished.start()
    finished.join(timeout=2)
    assert not finished.is_alive() and job.result() == len(mine)
    assert not other.should_stop()
    jobs.stop("count", request("f"))
    list(other.watch())
    assert other.result() == len(theirs)


def test_an_error_of_the_work_reaches_result():
    def broken(report, should_stop):
        raise ValueError("no data")

    with jobs.start("broken", request("g"), broken, time_limit=60) as job:
        assert list(job.watch()) == []
    with pytest.raises(ValueError, match="no data"):
        job.result()
