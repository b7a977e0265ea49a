"""Running one job, and the worker loop that runs them one after another.

The loop is Qt-free: `JobQueue` runs it on a plain `threading.Thread` (CLI, tests), and the
desktop's `EngineBridge` runs the very same loop inside a `QThread`. Nothing a job does can
take the loop down: exceptions become `JobFailed`, a broken sink is logged and ignored.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from engine.errors import Cancelled, LegatoError
from engine.jobs.context import CancelToken, JobContext, Progress
from engine.jobs.events import (
    EventSink,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobFinished,
    JobProgress,
    JobStarted,
)
from engine.jobs.model_cache import ModelCache
from engine.jobs.spec import JobSpec
from engine.runtime.oom import is_out_of_memory

log = logging.getLogger(__name__)

DEFAULT_PROGRESS_HZ = 25.0  # Tracktion polls job progress at 25 Hz; faster only costs UI repaints


@dataclass
class QueuedJob:
    """The queue's private record of one job. Mutable, never handed outside engine.jobs."""

    job_id: str
    spec: JobSpec
    token: CancelToken = field(default_factory=CancelToken)
    cancel_reason: str = "cancelled"


class JobSource(Protocol):
    """What the worker loop pulls jobs from (the `JobQueue`)."""

    def take_next(self) -> QueuedJob | None:
        """Block until a job is ready; None means shut down."""

    def job_done(self, job: QueuedJob, final: JobEvent) -> None:
        """Record the job's outcome (called before its final event is sent)."""

    def worker_idle(self) -> None:
        """Housekeeping after a job is over; the worker is ready for the next one."""

    def progress_seen(self, job_id: str, progress: Progress) -> None:
        """Latest progress of the running job, unthrottled (for status snapshots)."""


class JobRunner:
    """Runs one job on the calling thread and reports it through the sink."""

    def __init__(self, models: ModelCache, sink: EventSink, progress_hz: float = DEFAULT_PROGRESS_HZ):
        self.models = models
        self._sink = sink
        self._min_interval_s = 1.0 / progress_hz if progress_hz > 0 else 0.0

    def emit(self, event: JobEvent) -> None:
        """Deliver an event; a failing sink is logged, never allowed to kill the worker."""
        try:
            self._sink(event)
        except Exception:  # noqa: BLE001 - a UI bug must not stop generation
            log.exception("job event sink raised on %r", event)

    def execute(
        self,
        job: QueuedJob,
        on_progress_seen: Callable[[str, Progress], None] | None = None,
        on_final: Callable[[JobEvent], None] | None = None,
    ) -> JobEvent:
        """Run `job.spec`, emitting JobStarted, throttled JobProgress and one final event.

        `on_final` is called with the final event right before it is emitted, so the queue's
        state already says "finished" when a listener reacts to the event.
        """
        spec = job.spec
        started = time.monotonic()
        ctx = JobContext(cancel_token=job.token, on_progress=self._progress_forwarder(job, on_progress_seen))
        self.emit(JobStarted(job.job_id, spec.kind, spec.display_label))
        try:
            ctx.check_cancelled()  # cancelled between being taken and starting
            result = spec.run(self.models, ctx)
            if job.token.seal():
                # A cancel arrived after the last check inside run(): it returned True to its
                # caller, so honour it and drop the result (nothing half-wanted reaches the user).
                raise Cancelled("cancelled by the user")
            final: JobEvent = JobFinished(job.job_id, result, time.monotonic() - started)
        except Cancelled:
            job.token.seal()
            final = JobCancelled(job.job_id, job.cancel_reason, was_running=True)
        except KeyboardInterrupt:
            # Only possible in run-inline mode on the main thread (Ctrl-C in the CLI).
            final = JobCancelled(job.job_id, "interrupted", was_running=True)
            if on_final is not None:
                on_final(final)
            self.emit(final)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes an event, the worker lives on
            if job.token.seal():  # the user had already asked to stop: a cancel was promised
                final = JobCancelled(job.job_id, job.cancel_reason, was_running=True)
                if on_final is not None:
                    on_final(final)
                self.emit(final)
                return final
            final = JobFailed(
                job.job_id,
                message=describe_failure(exc, spec.display_label),
                detail="".join(traceback.format_exception(exc)),
                error_type=type(exc).__name__,
                elapsed_s=time.monotonic() - started,
            )
            log.warning("job %s (%s) failed: %s", job.job_id, spec.display_label, exc)
        if on_final is not None:
            on_final(final)
        self.emit(final)
        return final

    def _progress_forwarder(self, job: QueuedJob, seen: Callable[[str, Progress], None] | None):
        """A JobContext.on_progress that throttles events to progress_hz (first/last always pass)."""
        last_emit = -float("inf")
        last_stage: str | None = None

        def forward(p: Progress) -> None:
            nonlocal last_emit, last_stage
            if seen is not None:
                seen(job.job_id, p)
            now = time.monotonic()
            stage_changed = p.stage != last_stage
            stage_done = p.total > 0 and p.step >= p.total
            if stage_changed or stage_done or now - last_emit >= self._min_interval_s:
                last_emit, last_stage = now, p.stage
                self.emit(JobProgress(job.job_id, p.stage, p.step, p.total, p.elapsed_s, p.eta_s))

        return forward


def run_forever(source: JobSource, runner: JobRunner, nice: int = 0) -> None:
    """The worker loop: take a job, run it, tidy up, repeat until the source says stop.

    Host it on any thread (threading.Thread or QThread); it returns after shutdown. `nice` > 0
    makes this thread that much nicer than the rest of the process (engine/runtime/threads.py):
    the app passes WORKER_NICE so its audio callback and UI preempt generation on a machine with
    few cores; the CLI and tests keep 0 (nothing to protect, and no slowdown beside other work).
    """
    if nice > 0:
        from engine.runtime.threads import lower_current_thread_priority

        lower_current_thread_priority(nice)
    while True:
        job = source.take_next()
        if job is None:
            return
        final = runner.execute(
            job,
            on_progress_seen=source.progress_seen,
            on_final=lambda final, job=job: source.job_done(job, final),
        )
        try:
            runner.models.housekeeping(after_failure=isinstance(final, JobFailed))
        except Exception:  # noqa: BLE001 - housekeeping is best effort
            log.exception("housekeeping after job %s failed", job.job_id)
        source.worker_idle()


def describe_failure(exc: BaseException, label: str) -> str:
    """The one-paragraph message a user sees when a job fails."""
    if is_out_of_memory(exc):
        where = "system memory (RAM)" if isinstance(exc, MemoryError) else "GPU memory"
        return (
            f"'{label}' ran out of {where}. Try a shorter duration or a smaller batch, "
            "turn on CPU offload or int8 weights in Settings, or close other programs using "
            "the GPU, then try again."
        )
    if isinstance(exc, LegatoError):  # already written for the user
        return str(exc)
    return (
        f"'{label}' failed with an unexpected error ({type(exc).__name__}: {exc}). "
        "This is a bug in Legato; the details hold the full traceback for a report."
    )
