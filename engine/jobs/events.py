"""Events the job queue sends to its sink: what happened to each job, in order.

Every event is a frozen dataclass carrying the `job_id` that `JobQueue.submit` returned.
Per job the sequence is always

    JobQueued, then either JobCancelled (cancelled or superseded while queued)
            or JobStarted, JobProgress*, then exactly one of JobFinished / JobFailed / JobCancelled.

The sink (`Callable[[JobEvent], None]`) is called from the worker thread for everything after
JobQueued, and from the submitting / cancelling thread for JobQueued and for cancellations of
queued jobs. A sink must return quickly and never block on the worker (the desktop passes a Qt
signal's `emit`, which queues the event onto the main thread).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobEvent:
    """Base of every job event."""

    job_id: str


@dataclass(frozen=True)
class JobQueued(JobEvent):
    kind: str  # the spec's kind: "generate", "plan", ...
    label: str  # user-facing, for the progress bar / job list
    position: int  # jobs ahead of this one when it was queued (0 = next)


@dataclass(frozen=True)
class JobStarted(JobEvent):
    kind: str
    label: str


@dataclass(frozen=True)
class JobProgress(JobEvent):
    stage: str  # "text encode", "lm", "diffusion", "vae decode", ...
    step: int  # steps done in this stage
    total: int  # steps expected in this stage (0 if unknown)
    elapsed_s: float  # since the job started
    eta_s: float | None  # seconds left in this stage, None while unknown

    @property
    def fraction(self) -> float | None:
        """Share of this stage done (0..1), or None when the total is unknown."""
        return min(1.0, self.step / self.total) if self.total > 0 else None


@dataclass(frozen=True)
class JobFinished(JobEvent):
    result: Any  # whatever the spec's run() returned; immutable by contract
    elapsed_s: float


@dataclass(frozen=True)
class JobFailed(JobEvent):
    message: str  # one or two sentences for a dialog: what failed and what to try
    detail: str  # the traceback, for the log / "Show details"
    error_type: str  # the exception class name ("OutOfMemoryError", "CheckpointError", ...)
    elapsed_s: float


@dataclass(frozen=True)
class JobCancelled(JobEvent):
    reason: str  # "cancelled", "superseded" or "shutdown"
    was_running: bool  # False: it never started


FINAL_EVENTS = (JobFinished, JobFailed, JobCancelled)

EventSink = Callable[[JobEvent], None]
