"""The job queue with fake jobs (no models): event order, threads, failures, throttling."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import pytest

from engine.errors import CheckpointError, LegatoError
from engine.jobs import (
    FunctionJob,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobProgress,
    JobQueue,
    JobQueued,
    JobSpec,
    JobStarted,
    JobState,
)
from tests.engine.event_recorder import Recorder

WAIT_S = 10.0


@dataclass(frozen=True, kw_only=True)
class StepJob(JobSpec):
    """Counts through `steps` fake diffusion steps; optionally waits on a gate first or fails."""

    kind: ClassVar[str] = "fake-steps"
    steps: int = 3
    step_s: float = 0.0
    result: object = None
    gate: threading.Event | None = None
    error: Exception | None = None

    def run(self, models, ctx):
        if self.gate is not None:
            assert self.gate.wait(WAIT_S), "test gate never opened"
        for i in range(self.steps):
            ctx.check_cancelled()
            time.sleep(self.step_s)
            ctx.progress("diffusion", i + 1, self.steps)
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def queue(recorder):
    q = JobQueue(recorder)
    yield q
    assert q.shutdown(timeout=WAIT_S), "worker thread did not stop"


def test_one_job_reports_queued_started_progress_finished(queue, recorder):
    job_id = queue.submit(StepJob(steps=4, result=("take", 1), label="Generate"))
    assert queue.wait_until_idle(WAIT_S)

    events = recorder.of(job_id)
    assert (
        isinstance(events[0], JobQueued) and events[0].label == "Generate" and events[0].kind == "fake-steps"
    )
    assert isinstance(events[1], JobStarted)
    progress = [e for e in events if isinstance(e, JobProgress)]
    assert progress[0].step == 1 and progress[-1].step == 4 and progress[-1].total == 4
    assert [p.step for p in progress] == sorted(p.step for p in progress)
    assert progress[-1].fraction == 1.0 and progress[-1].eta_s == pytest.approx(0.0, abs=1e-6)
    assert isinstance(events[-1], JobFinished) and events[-1].result == ("take", 1)
    assert queue.info(job_id).state is JobState.FINISHED
    assert queue.info(job_id).progress.step == 4


def test_jobs_run_one_at_a_time_in_submission_order(queue, recorder):
    ids = [queue.submit(StepJob(steps=2, step_s=0.005, result=n)) for n in range(4)]
    assert queue.wait_until_idle(WAIT_S)

    lifecycle = [
        (type(e).__name__, e.job_id) for e in recorder.events if isinstance(e, JobStarted | JobFinished)
    ]
    assert lifecycle == [(kind, i) for i in ids for kind in ("JobStarted", "JobFinished")]
    assert [e.result for e in recorder.events if isinstance(e, JobFinished)] == [0, 1, 2, 3]


def test_events_after_queued_come_from_the_worker_thread(queue, recorder):
    job_id = queue.submit(StepJob(steps=3))
    assert queue.wait_until_idle(WAIT_S)

    arrivals = [
        (type(e).__name__, t)
        for e, t in zip(recorder.events, recorder.threads, strict=True)
        if e.job_id == job_id
    ]
    main = threading.current_thread().name
    assert arrivals[0] == ("JobQueued", main)
    assert {name for name, _ in arrivals[1:]} == {"JobStarted", "JobProgress", "JobFinished"}
    assert all(thread == "legato-job-worker" for _, thread in arrivals[1:])


def test_specs_and_events_are_immutable(queue, recorder):
    spec = StepJob(steps=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.steps = 5
    queue.submit(spec)
    assert queue.wait_until_idle(WAIT_S)
    for event in recorder.events:
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.job_id = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        queue.jobs()[0].state = JobState.FAILED


def test_a_failing_job_becomes_job_failed_and_the_worker_keeps_going(queue, recorder):
    bad = queue.submit(StepJob(steps=2, error=ValueError("latent shape mismatch"), label="Repaint"))
    good = queue.submit(StepJob(steps=1, result="ok"))
    assert queue.wait_until_idle(WAIT_S)

    failed = recorder.of(bad)[-1]
    assert isinstance(failed, JobFailed)
    assert "Repaint" in failed.message and "latent shape mismatch" in failed.message
    assert failed.error_type == "ValueError"
    assert "Traceback" in failed.detail and "latent shape mismatch" in failed.detail
    assert queue.info(bad).state is JobState.FAILED
    assert recorder.of(good)[-1] == JobFinished(good, "ok", recorder.of(good)[-1].elapsed_s)


def test_user_facing_errors_keep_their_message(queue, recorder):
    job_id = queue.submit(StepJob(error=CheckpointError("vae/config.json is missing in /ckpt")))
    assert queue.wait_until_idle(WAIT_S)
    failed = recorder.of(job_id)[-1]
    assert failed.message == "vae/config.json is missing in /ckpt"
    assert failed.error_type == "CheckpointError"


class OutOfMemoryError(RuntimeError):
    """Named like torch.OutOfMemoryError, which the queue recognises without importing torch."""


@pytest.mark.parametrize(
    ("error", "where"),
    [
        (OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "GPU memory"),
        (RuntimeError("MPS backend out of memory (MPS allocated: 17 GB)"), "GPU memory"),
        (MemoryError(), "system memory"),
    ],
)
def test_out_of_memory_gets_a_specific_helpful_message(queue, recorder, error, where):
    job_id = queue.submit(StepJob(error=error, label="Generate 8 takes"))
    assert queue.wait_until_idle(WAIT_S)
    failed = recorder.of(job_id)[-1]
    assert isinstance(failed, JobFailed)
    assert "'Generate 8 takes' ran out of " + where in failed.message
    assert "smaller batch" in failed.message and "offload" in failed.message


def test_a_sink_that_raises_does_not_stop_the_worker():
    seen = []

    def sink(event):
        seen.append(event)
        if isinstance(event, JobStarted):
            raise RuntimeError("buggy UI handler")

    q = JobQueue(sink)
    try:
        first = q.submit(StepJob(result=1))
        second = q.submit(StepJob(result=2))
        assert q.wait_until_idle(WAIT_S)
    finally:
        assert q.shutdown(WAIT_S)
    finished = {e.job_id: e.result for e in seen if isinstance(e, JobFinished)}
    assert finished == {first: 1, second: 2}


def test_progress_events_are_throttled_but_keep_first_and_last(recorder):
    q = JobQueue(recorder, progress_hz=25)
    try:
        job_id = q.submit(StepJob(steps=2000))  # ~ms of work: far faster than 25 Hz
        assert q.wait_until_idle(WAIT_S)
    finally:
        q.shutdown(WAIT_S)
    steps = [e.step for e in recorder.of(job_id) if isinstance(e, JobProgress)]
    assert steps[0] == 1 and steps[-1] == 2000
    assert len(steps) < 20
    assert q.info(job_id).progress.step == 2000  # the snapshot sees every report


def test_progress_reports_every_stage(queue, recorder):
    def staged(models, ctx):
        for stage, total in (("text encode", 1), ("diffusion", 8), ("vae decode", 2)):
            for i in range(total + 1):
                ctx.progress(stage, i, total)
        return None

    job_id = queue.submit(FunctionJob(fn=staged))
    assert queue.wait_until_idle(WAIT_S)
    progress = [e for e in recorder.of(job_id) if isinstance(e, JobProgress)]
    assert [p.stage for p in progress if p.step == 0] == ["text encode", "diffusion", "vae decode"]
    assert [p.stage for p in progress if p.step == p.total] == ["text encode", "diffusion", "vae decode"]


def test_queued_event_counts_jobs_ahead(queue, recorder):
    gate = threading.Event()
    a = queue.submit(StepJob(gate=gate))
    b = queue.submit(StepJob())
    c = queue.submit(StepJob())
    gate.set()
    assert queue.wait_until_idle(WAIT_S)
    positions = {e.job_id: e.position for e in recorder.events if isinstance(e, JobQueued)}
    assert positions[a] == 0 and positions[c] == positions[b] + 1


def test_wait_until_idle_times_out_while_a_job_runs(queue):
    gate = threading.Event()
    queue.submit(StepJob(gate=gate))
    assert queue.wait_until_idle(0.05) is False
    assert not queue.is_idle
    gate.set()
    assert queue.wait_until_idle(WAIT_S) is True and queue.is_idle


def test_submit_rejects_non_specs_and_submits_after_shutdown(recorder):
    q = JobQueue(recorder)
    with pytest.raises(TypeError, match="JobSpec"):
        q.submit(lambda models, ctx: None)
    assert q.shutdown(WAIT_S)
    assert q.shutdown(WAIT_S)  # twice is fine
    with pytest.raises(LegatoError, match="shutting down"):
        q.submit(StepJob())


def test_a_spec_without_run_fails_cleanly(queue, recorder):
    job_id = queue.submit(JobSpec(label="nothing"))
    assert queue.wait_until_idle(WAIT_S)
    failed = recorder.of(job_id)[-1]
    assert isinstance(failed, JobFailed) and "must implement run" in failed.message
    assert not any(isinstance(e, JobCancelled) for e in recorder.events)


def test_out_of_memory_detection_is_shared_with_the_runtime():
    """The queue and the VAE's tile fallback recognise OOM with one rule, torch errors included."""
    torch = pytest.importorskip("torch")
    from engine.jobs.worker import is_out_of_memory as queue_says
    from engine.runtime.device import is_out_of_memory as runtime_says

    assert queue_says is runtime_says

    cases = [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB"),
        RuntimeError("MPS backend out of memory"),
        RuntimeError("[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: failed to allocate 8 GB"),
        MemoryError(),
        RuntimeError("mat1 and mat2 shapes cannot be multiplied"),
        ValueError("duration out of range"),
    ]
    assert [queue_says(e) for e in cases] == [runtime_says(e) for e in cases] == [True] * 4 + [False] * 2


@pytest.mark.parametrize("run_inline", [False, True])
def test_waiting_for_idle_from_the_job_thread_is_an_error_not_a_hang(run_inline):
    recorder = Recorder()
    q = JobQueue(recorder, run_inline=run_inline)
    try:
        job_id = q.submit(FunctionJob(fn=lambda models, ctx: q.wait_until_idle(1)))
        assert q.wait_until_idle(WAIT_S)
    finally:
        q.shutdown(WAIT_S)
    failed = recorder.of(job_id)[-1]
    assert isinstance(failed, JobFailed) and "would wait forever" in failed.message
