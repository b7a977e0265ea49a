"""What long-running engine work receives so it can report progress and be cancelled.

The pipeline, the planner LM and training never know about queues or Qt: they take a
`JobContext` (or `JobContext.inline()` when called directly) and call `check_cancelled()` once
per diffusion step / LM token / training step, and `progress(...)` as they go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """One progress report. Immutable: it crosses from the worker thread to the UI."""

    stage: str  # "text encode", "lm", "diffusion", "vae decode", ...
    step: int  # steps done in this stage
    total: int  # steps expected in this stage (0 if unknown)
    elapsed_s: float  # since the job started
    eta_s: float | None  # estimated seconds left in this stage, None if unknown


class CancelToken:
    """A cooperative cancel flag, set from any thread, polled by the worker.

    When the work is over, the runner `seal()`s the token: from then on `cancel()` returns
    False ("too late") and changes nothing. Sealing and cancelling take the same lock, so a
    cancel that returned True is always honoured (the job ends as cancelled, its result
    dropped), and one that returned False never left a half-cancelled job behind.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._sealed = False

    def cancel(self) -> bool:
        """Ask the work to stop. True: it will end as cancelled; False: it is already over."""
        with self._lock:
            if self._sealed:
                return False
            self._event.set()
            return True

    def seal(self) -> bool:
        """Close the token (no later cancel counts); True if a cancel came in before."""
        with self._lock:
            self._sealed = True
            return self._event.is_set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class JobContext:
    """Progress sink + cancel token handed to long work. Thread: the worker that runs the job."""

    cancel_token: CancelToken = field(default_factory=CancelToken)
    on_progress: Callable[[Progress], None] | None = None
    _started: float = field(default_factory=time.monotonic)
    _stage: str = ""
    _stage_started: float = 0.0
    _last_report: float | None = None  # when progress() was last called (None: not yet)

    @classmethod
    def inline(cls) -> JobContext:
        """A context for direct calls (tests, scripts): never cancelled, progress discarded."""
        return cls()

    def check_cancelled(self) -> None:
        """Raise `Cancelled` if the user asked to stop. Call once per step/token."""
        if self.cancel_token.cancelled:
            raise Cancelled("cancelled by the user")

    def progress(self, stage: str, step: int, total: int) -> None:
        now = time.monotonic()
        if stage != self._stage:
            # A stage reported first at step 0 starts now. One first reported at step k > 0 has
            # been running since the previous report (or the job's start), so its first ETA is
            # not computed from a zero duration.
            begun = self._started if self._last_report is None else self._last_report
            self._stage, self._stage_started = stage, now if step <= 0 else begun
        self._last_report = now
        eta = None
        if total > 0 and step > 0:
            eta = (now - self._stage_started) / step * (total - step)
        if self.on_progress is not None:
            self.on_progress(Progress(stage, step, total, now - self._started, eta))
