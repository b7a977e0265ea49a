"""The desktop's door to the engine's job queue: submit/cancel here, events come back as a signal.

The engine's worker loop (`engine.jobs.worker.run_forever`, via `JobQueue.run_worker`) is
Qt-free; the bridge only hosts it in a `QThread`. The queue's sink posts every event through
a queued connection to this main-thread QObject, which re-emits it as `job_event` on the main
thread. So every event, whichever thread produced it, reaches the slots in order through the
event loop, and never synchronously inside `submit()` or `cancel()`: a controller always has
the job id in hand before the first event for it (JobQueued) arrives.

Connect `job_event` only to `@Slot(object)` methods of main-thread QObjects (controllers),
never to lambdas: for a plain callable, which thread it runs on is much less obvious.

    bridge = EngineBridge(parent=main_window)
    bridge.job_event.connect(generate_controller.on_job_event)
    job_id = bridge.submit(spec)
    bridge.cancel(job_id)
    # app quit -> bridge.shutdown(): running job cancelled, worker thread joined, models unloaded
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from engine.jobs import JobInfo, JobQueue, JobSpec, ModelCache
from engine.runtime.threads import WORKER_NICE


class _WorkerThread(QThread):
    """A QThread whose run() is the engine's (Qt-free) worker loop."""

    def __init__(self, loop: Callable[[], None]) -> None:
        # No Qt parent: the bridge owns it from Python and joins it in shutdown(), so Qt never
        # destroys a running thread behind our back.
        super().__init__()
        self._loop = loop
        self.setObjectName("legato-job-worker")

    def run(self) -> None:
        self._loop()


class EngineBridge(QObject):
    """Hosts the engine's job worker in a QThread and re-emits its events on `job_event`.

    Create it on the main thread. Thread: every method is called from the main thread.
    """

    job_event = Signal(object)  # engine.jobs.JobEvent; frozen, safe to keep; always on the main thread
    _posted = Signal(object)  # the engine's sink: emitted from any thread, relayed via the event loop

    def __init__(self, models: ModelCache | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Queued even when the sender is the main thread (JobQueued inside submit): see module doc.
        self._posted.connect(self._relay, Qt.ConnectionType.QueuedConnection)
        self._queue = JobQueue(self._posted.emit, models=models, start_worker=False)
        # Generation runs nicer than the UI and the audio callback (engine/runtime/threads.py).
        self._thread = _WorkerThread(lambda: self._queue.run_worker(nice=WORKER_NICE))
        self._shut_down = False
        self._thread.start()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    @Slot(object)
    def _relay(self, event: object) -> None:
        self.job_event.emit(event)

    @property
    def queue(self) -> JobQueue:
        """The engine queue (status snapshots, `wait_until_idle` in tests)."""
        return self._queue

    @property
    def models(self) -> ModelCache:
        return self._queue.models

    @property
    def worker_thread(self) -> QThread:
        return self._thread

    def submit(self, spec: JobSpec) -> str:
        """Queue a job; returns its id at once. Raises LegatoError after shutdown."""
        return self._queue.submit(spec)

    def cancel(self, job_id: str) -> bool:
        """Drop a queued job or stop a running one at its next step; False if already over."""
        return self._queue.cancel(job_id)

    def cancel_all(self) -> None:
        self._queue.cancel_all()

    def info(self, job_id: str) -> JobInfo | None:
        return self._queue.info(job_id)

    @Slot()
    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Cancel all jobs, stop and join the worker thread. Safe to call twice.

        Returns True if the thread ended within `timeout_s`. Events already emitted (the final
        JobCancelled of a running job included) are still delivered by the event loop.
        """
        if not self._shut_down:
            self._shut_down = True
            self._queue.shutdown(timeout=timeout_s)
        if self._thread.isRunning():
            self._thread.wait(int(timeout_s * 1000))
        return self._thread.isFinished() or not self._thread.isRunning()
