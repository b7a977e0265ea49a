"""Cancelling jobs: running ones stop within one step, queued ones never start, supersede, shutdown."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import pytest

from engine.jobs import (
    JobCancelled,
    JobFinished,
    JobProgress,
    JobQueue,
    JobSpec,
    JobStarted,
    JobState,
)
from tests.engine.event_recorder import Recorder

WAIT_S = 10.0


class StepLog:
    """Shared by a fake job and the test: how many steps ran, and an event once `at` steps ran.

    hold=True: the job then waits (inside step `at`) until the test calls `release()`, so what
    the test does meanwhile (cancel, submit) never races the job on a loaded machine.
    """

    def __init__(self, at: int = 1, hold: bool = False):
        self.count = 0
        self.at = at
        self.reached = threading.Event()
        self.hold = hold
        self._released = threading.Event()

    def step(self):
        self.count += 1
        if self.count >= self.at:
            self.reached.set()
            if self.hold:
                assert self._released.wait(WAIT_S), "the test never released the job"

    def release(self):
        self._released.set()


@dataclass(frozen=True, kw_only=True)
class SlowDiffusion(JobSpec):
    """A fake diffusion loop: checks the cancel token once per step, like the real pipeline."""

    kind: ClassVar[str] = "fake-diffusion"
    steps: int = 1000
    step_s: float = 0.01
    log: StepLog | None = None

    def run(self, models, ctx):
        for i in range(self.steps):
            ctx.check_cancelled()
            time.sleep(self.step_s)
            if self.log is not None:
                self.log.step()
            ctx.progress("diffusion", i + 1, self.steps)
        return "done"


@dataclass(frozen=True, kw_only=True)
class Uninterruptible(SlowDiffusion):
    can_cancel: ClassVar[bool] = False


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def queue(recorder):
    q = JobQueue(recorder)
    yield q
    q.cancel_all()
    assert q.shutdown(timeout=WAIT_S), "worker thread did not stop"


def test_cancel_a_running_job_stops_it_within_one_step(queue, recorder):
    log = StepLog(at=3)
    job_id = queue.submit(SlowDiffusion(log=log))
    assert log.reached.wait(WAIT_S)

    assert queue.cancel(job_id) is True
    steps_at_cancel = log.count
    assert queue.wait_until_idle(WAIT_S)

    assert log.count - steps_at_cancel <= 1  # the step in flight may finish; no further step runs
    final = recorder.of(job_id)[-1]
    assert final == JobCancelled(job_id, "cancelled", was_running=True)
    assert queue.info(job_id).state is JobState.CANCELLED
    assert not any(isinstance(e, JobFinished) for e in recorder.of(job_id))


def test_cancel_from_the_sink_on_the_worker_thread(recorder):
    """A sink may call back into the queue (the desktop's controllers do) without deadlocking."""
    box = {}

    def sink(event):
        recorder(event)
        if isinstance(event, JobProgress) and event.step == 2:
            box["cancelled"] = box["queue"].cancel(event.job_id)

    q = JobQueue(sink, progress_hz=0)  # 0: no throttling, every step reaches the sink
    box["queue"] = q
    try:
        job_id = q.submit(SlowDiffusion(step_s=0.001))
        assert q.wait_until_idle(WAIT_S)
    finally:
        assert q.shutdown(WAIT_S)
    steps = [e.step for e in recorder.of(job_id) if isinstance(e, JobProgress)]
    assert box["cancelled"] is True and steps == [1, 2]
    assert isinstance(recorder.of(job_id)[-1], JobCancelled)


def test_cancel_a_queued_job_before_it_starts(queue, recorder):
    blocker = StepLog(at=1, hold=True)  # the first job holds the worker until released
    first = queue.submit(SlowDiffusion(steps=5, log=blocker))
    second = queue.submit(SlowDiffusion(steps=2))
    assert blocker.reached.wait(WAIT_S)

    assert queue.cancel(second) is True
    assert recorder.of(second)[-1] == JobCancelled(second, "cancelled", was_running=False)
    blocker.release()
    assert queue.wait_until_idle(WAIT_S)

    assert [type(e).__name__ for e in recorder.of(second)] == ["JobQueued", "JobCancelled"]
    assert isinstance(recorder.of(first)[-1], JobFinished)
    assert queue.cancel(second) is False  # already over
    assert queue.cancel("job-unknown") is False


def test_supersede_cancels_queued_jobs_with_the_same_key(queue, recorder):
    blocker = StepLog(at=1, hold=True)  # "running" stays running while the others are queued
    running = queue.submit(SlowDiffusion(steps=5, log=blocker, supersede_key="repaint:clip1:10-20"))
    assert blocker.reached.wait(WAIT_S)
    old = queue.submit(SlowDiffusion(steps=1, supersede_key="repaint:clip1:10-20"))
    other = queue.submit(SlowDiffusion(steps=1, supersede_key="repaint:clip2:0-5"))
    plain = queue.submit(SlowDiffusion(steps=1))
    new = queue.submit(SlowDiffusion(steps=1, supersede_key="repaint:clip1:10-20"))
    blocker.release()
    assert queue.wait_until_idle(WAIT_S)

    assert recorder.of(old)[-1] == JobCancelled(old, "superseded", was_running=False)
    for job_id in (running, other, plain, new):  # the running job is not superseded, only queued ones
        assert isinstance(recorder.of(job_id)[-1], JobFinished), job_id
    started = [e.job_id for e in recorder.events if isinstance(e, JobStarted)]
    assert started == [running, other, plain, new]


def test_a_job_that_cannot_cancel_runs_to_the_end(queue, recorder):
    log = StepLog(at=1)
    job_id = queue.submit(Uninterruptible(steps=5, log=log))
    assert log.reached.wait(WAIT_S)
    assert queue.cancel(job_id) is False
    assert queue.wait_until_idle(WAIT_S)
    assert isinstance(recorder.of(job_id)[-1], JobFinished) and log.count == 5


def test_shutdown_cancels_queued_and_running_jobs_and_joins_the_worker(recorder):
    q = JobQueue(recorder)
    log = StepLog(at=1)
    running = q.submit(SlowDiffusion(log=log))
    queued = q.submit(SlowDiffusion())
    assert log.reached.wait(WAIT_S)

    assert q.shutdown(timeout=WAIT_S) is True
    assert log.count < 1000  # stopped at its next step, not after all 1000 (no wall-clock bound)
    assert recorder.of(queued)[-1] == JobCancelled(queued, "shutdown", was_running=False)
    assert recorder.of(running)[-1] == JobCancelled(running, "shutdown", was_running=True)
    assert not [t for t in threading.enumerate() if t.name == "legato-job-worker"]
