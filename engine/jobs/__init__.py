"""engine.jobs: frozen job specs, their events, and the queue whose one worker runs them.

Light on purpose (no torch): the CLI and the desktop import it at start-up. See queue.py for
the flow and spec.py for how to plug new work in.
"""

from engine.jobs.context import CancelToken, JobContext, Progress
from engine.jobs.events import (
    FINAL_EVENTS,
    EventSink,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobFinished,
    JobProgress,
    JobQueued,
    JobStarted,
)
from engine.jobs.model_cache import CacheStats, ModelCache, ModelKey
from engine.jobs.queue import JobInfo, JobQueue, JobState
from engine.jobs.spec import FunctionJob, JobSpec

__all__ = [
    "FINAL_EVENTS",
    "CacheStats",
    "CancelToken",
    "EventSink",
    "FunctionJob",
    "JobCancelled",
    "JobContext",
    "JobEvent",
    "JobFailed",
    "JobFinished",
    "JobInfo",
    "JobProgress",
    "JobQueue",
    "JobQueued",
    "JobSpec",
    "JobStarted",
    "JobState",
    "ModelCache",
    "ModelKey",
    "Progress",
]
