"""The job queue: submit frozen specs, get events back, one long-lived worker runs them.

    queue = JobQueue(sink=print)                 # starts its worker thread
    job_id = queue.submit(GenerateJob(request=req))
    queue.cancel(job_id)                          # queued: dropped; running: stops at the next step
    queue.wait_until_idle(timeout=60)
    queue.shutdown()

One worker, one job at a time: the GPU is one device and the models it holds are shared, so
running two generations at once would only thrash memory. `JobQueue(run_inline=True)` runs each
job synchronously inside `submit` (tests, scripts; napari's force_sync). Hosting the loop on
another kind of thread (the desktop's QThread): `JobQueue(start_worker=False)` and run
`queue.run_worker()` there.
"""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

from engine.errors import LegatoError
from engine.jobs.context import Progress
from engine.jobs.events import EventSink, JobCancelled, JobEvent, JobFailed, JobFinished, JobQueued
from engine.jobs.model_cache import ModelCache
from engine.jobs.spec import JobSpec
from engine.jobs.worker import DEFAULT_PROGRESS_HZ, JobRunner, QueuedJob, run_forever


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of one job, safe to read from any thread."""

    job_id: str
    kind: str
    label: str
    state: JobState
    progress: Progress | None = None  # latest report, unthrottled


KEEP_FINISHED_INFOS = 256  # status snapshots of jobs that are over; older ones are forgotten

_FINAL_STATES = {JobFinished: JobState.FINISHED, JobFailed: JobState.FAILED, JobCancelled: JobState.CANCELLED}
_OVER = frozenset(_FINAL_STATES.values())


class JobQueue:
    """FIFO of jobs run by one worker that keeps models loaded between them.

    Thread safety: every public method may be called from any thread. Events for a job arrive
    in order (see engine.jobs.events); the sink must be thread-safe and must not block.
    """

    def __init__(
        self,
        sink: EventSink | None = None,
        *,
        models: ModelCache | None = None,
        run_inline: bool = False,
        start_worker: bool = True,
        progress_hz: float = DEFAULT_PROGRESS_HZ,
    ) -> None:
        self.models = models if models is not None else ModelCache()
        self._runner = JobRunner(self.models, sink or (lambda event: None), progress_hz)
        self._run_inline = run_inline
        # Re-entrant: the sink runs under this lock for JobQueued / queued cancellations (so those
        # events can never overtake the worker's), and a sink may call back into the queue.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._pending: deque[QueuedJob] = deque()
        self._running: QueuedJob | None = None
        self._busy = False  # a job or its housekeeping is in progress
        self._closed = False
        self._draining = False  # inline mode: the outermost submit is running jobs
        self._job_thread: int | None = None  # ident of the thread running jobs right now
        self._infos: dict[str, JobInfo] = {}
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        if start_worker and not run_inline:
            self._thread = threading.Thread(target=self.run_worker, name="legato-job-worker", daemon=True)
            self._thread.start()

    # -- submitting and cancelling -------------------------------------------------------------

    def submit(self, spec: JobSpec) -> str:
        """Queue `spec` and return its job id at once (inline mode: after it has run).

        Still-queued jobs with the same `supersede_key` are cancelled (reason "superseded").
        """
        if not isinstance(spec, JobSpec):
            raise TypeError(f"submit() takes a JobSpec, not {type(spec).__name__}")
        with self._lock:
            if self._closed:
                raise LegatoError("The engine is shutting down; the job was not started.")
            if spec.supersede_key is not None:
                for old in [j for j in self._pending if j.spec.supersede_key == spec.supersede_key]:
                    self._drop_queued(old, "superseded")
            job = QueuedJob(f"job-{next(self._ids)}", spec)
            position = len(self._pending) + (1 if self._busy else 0)
            self._pending.append(job)
            self._infos[job.job_id] = JobInfo(job.job_id, spec.kind, spec.display_label, JobState.QUEUED)
            self._runner.emit(JobQueued(job.job_id, spec.kind, spec.display_label, position))
            self._changed.notify_all()
            run_now = self._run_inline and not self._draining
            if run_now:
                self._draining, self._job_thread = True, threading.get_ident()
        if run_now:
            self._drain_inline()
        return job.job_id

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job (dropped at once) or a running one (stops at its next step).

        Returns False if the job is unknown, already over, or running and not cancellable.
        """
        with self._lock:
            for job in self._pending:
                if job.job_id == job_id:
                    self._drop_queued(job, "cancelled")
                    return True
            running = self._running
            if running is not None and running.job_id == job_id and running.spec.can_cancel:
                return running.token.cancel()  # False once the worker has sealed it: too late
        return False

    def cancel_all(self) -> None:
        """Drop every queued job and ask the running one to stop."""
        with self._lock:
            for job in list(self._pending):
                self._drop_queued(job, "cancelled")
            if self._running is not None and self._running.spec.can_cancel:
                self._running.token.cancel()

    def _drop_queued(self, job: QueuedJob, reason: str) -> None:
        # Caller holds the lock.
        self._pending.remove(job)
        self._set_state(job.job_id, JobState.CANCELLED)
        self._runner.emit(JobCancelled(job.job_id, reason, was_running=False))
        self._changed.notify_all()

    # -- status ---------------------------------------------------------------------------------

    def info(self, job_id: str) -> JobInfo | None:
        with self._lock:
            return self._infos.get(job_id)

    def jobs(self) -> list[JobInfo]:
        """Snapshots of every job this queue has seen, oldest first."""
        with self._lock:
            return list(self._infos.values())

    @property
    def is_idle(self) -> bool:
        with self._lock:
            return not self._pending and not self._busy

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running; False if `timeout` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if self._busy and self._job_thread == threading.get_ident():
                # Called from a job or a sink on the thread that runs the jobs: it would wait for itself.
                raise RuntimeError("wait_until_idle() called from the thread running jobs would wait forever")
            while self._pending or self._busy:
                if self._run_inline and not self._draining:
                    break  # nothing will run them (can only happen after shutdown)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)
            return not self._pending and not self._busy

    # -- the worker side (JobSource) -----------------------------------------------------------

    def run_worker(self, nice: int = 0) -> None:
        """The worker loop; returns after `shutdown()`. Runs on exactly one thread at a time.
        `nice` > 0 lowers this thread's priority (the app's setting; see worker.run_forever)."""
        with self._lock:
            self._job_thread = threading.get_ident()
        run_forever(self, self._runner, nice=nice)

    def take_next(self) -> QueuedJob | None:
        with self._lock:
            while not self._pending and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            job = self._pending.popleft()
            self._running, self._busy = job, True
            self._set_state(job.job_id, JobState.RUNNING)
            return job

    def job_done(self, job: QueuedJob, final: JobEvent) -> None:
        with self._lock:
            self._running = None
            self._set_state(job.job_id, _FINAL_STATES[type(final)])

    def worker_idle(self) -> None:
        with self._lock:
            self._busy = False
            self._changed.notify_all()

    def progress_seen(self, job_id: str, progress: Progress) -> None:
        with self._lock:
            info = self._infos.get(job_id)
            if info is not None:
                self._infos[job_id] = replace(info, progress=progress)

    def _set_state(self, job_id: str, state: JobState) -> None:
        # Caller holds the lock.
        info = self._infos.get(job_id)
        if info is not None:
            self._infos[job_id] = replace(info, state=state)
        if state in _OVER and len(self._infos) > 2 * KEEP_FINISHED_INFOS:
            over = [k for k, i in self._infos.items() if i.state in _OVER]
            for stale in over[: len(over) - KEEP_FINISHED_INFOS]:
                del self._infos[stale]

    def _drain_inline(self) -> None:
        """Inline mode: run queued jobs on this thread until none is left (jobs a sink submits too)."""
        try:
            while True:
                with self._lock:
                    if not self._pending or self._closed:
                        return
                    job = self._pending.popleft()
                    self._running, self._busy = job, True
                    self._set_state(job.job_id, JobState.RUNNING)
                try:
                    final = self._runner.execute(
                        job, self.progress_seen, lambda final, job=job: self.job_done(job, final)
                    )
                    self.models.housekeeping(after_failure=isinstance(final, JobFailed))
                finally:
                    self.worker_idle()
        finally:
            with self._lock:
                self._draining = False
                self._running = None

    # -- shutting down --------------------------------------------------------------------------

    def shutdown(self, timeout: float | None = 10.0) -> bool:
        """Cancel everything, stop the worker, unload models. True if the worker thread ended.

        Queued jobs get JobCancelled("shutdown"); the running one is asked to stop at its next
        step. Safe to call twice. A worker hosted elsewhere (`start_worker=False`) is only
        told to stop; its host joins its own thread.
        """
        with self._lock:
            self._closed = True
            for job in list(self._pending):
                job.cancel_reason = "shutdown"
                self._drop_queued(job, "shutdown")
            if self._running is not None:
                self._running.cancel_reason = "shutdown"
                self._running.token.cancel()
            self._changed.notify_all()
        stopped = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            stopped = not self._thread.is_alive()
        if stopped:
            self.models.request_unload()
            self.models.housekeeping()  # drops every model and collects at once
        return stopped
