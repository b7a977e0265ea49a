"""EngineBridge: engine job events reach main-thread slots in order; cancel; clean shutdown."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import pytest
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from desktop.bridge import EngineBridge
from engine.errors import LegatoError
from engine.jobs import FINAL_EVENTS, JobCancelled, JobFinished, JobProgress, JobSpec

WAIT_MS = 5000


@dataclass(frozen=True, kw_only=True)
class FakeDiffusion(JobSpec):
    kind: ClassVar[str] = "fake-diffusion"
    steps: int = 5
    step_s: float = 0.002

    def run(self, models, ctx):
        for i in range(self.steps):
            ctx.check_cancelled()
            time.sleep(self.step_s)
            ctx.progress("diffusion", i + 1, self.steps)
        return self.steps, threading.get_ident()


class Controller(QObject):
    """Stands in for a desktop controller: a main-thread QObject with an @Slot(object)."""

    job_over = Signal(object)  # re-emitted from the slot, so waitSignal runs on the main thread
    progressed = Signal(object)

    def __init__(self):
        super().__init__()
        self.events = []
        self.on_main_thread = []

    @Slot(object)
    def on_job_event(self, event):
        self.events.append(event)
        self.on_main_thread.append(QThread.currentThread() is QCoreApplication.instance().thread())
        if isinstance(event, JobProgress):
            self.progressed.emit(event)
        if isinstance(event, FINAL_EVENTS):
            self.job_over.emit(event)

    def of(self, job_id):
        return [e for e in self.events if e.job_id == job_id]


@pytest.fixture
def bridge(qapp):
    bridge = EngineBridge()
    yield bridge
    # No dangling QThread may outlive a test (napari's guard).
    assert bridge.shutdown(timeout_s=5)
    assert not bridge.worker_thread.isRunning()


@pytest.fixture
def controller(bridge):
    controller = Controller()
    bridge.job_event.connect(controller.on_job_event)
    return controller


def test_events_arrive_on_the_main_thread_in_order(qtbot, bridge, controller):
    with qtbot.waitSignal(controller.job_over, timeout=WAIT_MS) as blocker:
        job_id = bridge.submit(FakeDiffusion(label="Generate"))
        assert controller.events == []  # nothing arrives inside submit(): the id comes first
    steps_run, job_thread = blocker.args[0].result
    assert steps_run == 5
    assert job_thread != threading.get_ident()  # the job ran on the worker thread...

    names = [type(e).__name__ for e in controller.of(job_id)]
    assert names[:2] == ["JobQueued", "JobStarted"] and names[-1] == "JobFinished"
    assert set(names[2:-1]) == {"JobProgress"}
    steps = [e.step for e in controller.of(job_id) if isinstance(e, JobProgress)]
    assert steps == sorted(steps) and steps[-1] == 5
    assert all(controller.on_main_thread)  # ...and its events were delivered on the main thread


def test_jobs_run_back_to_back_on_one_worker(qtbot, bridge, controller):
    ids = [bridge.submit(FakeDiffusion(steps=2)) for _ in range(3)]
    qtbot.waitUntil(
        lambda: len([e for e in controller.events if isinstance(e, JobFinished)]) == 3, timeout=WAIT_MS
    )
    finished = [e.job_id for e in controller.events if isinstance(e, JobFinished)]
    assert finished == ids


def test_cancel_stops_a_running_job(qtbot, bridge, controller):
    with qtbot.waitSignal(controller.progressed, timeout=WAIT_MS):
        job_id = bridge.submit(FakeDiffusion(steps=10_000, step_s=0.005))
    assert bridge.cancel(job_id) is True

    with qtbot.waitSignal(controller.job_over, timeout=WAIT_MS) as blocker:
        pass
    assert blocker.args[0] == JobCancelled(job_id, "cancelled", was_running=True)
    assert bridge.queue.wait_until_idle(5)


def test_shutdown_cancels_the_running_job_and_joins_the_thread(qtbot, qapp):
    bridge = EngineBridge()
    controller = Controller()
    bridge.job_event.connect(controller.on_job_event)
    with qtbot.waitSignal(controller.progressed, timeout=WAIT_MS):
        job_id = bridge.submit(FakeDiffusion(steps=10_000, step_s=0.005))

    assert bridge.shutdown(timeout_s=5) is True  # 10 000 steps of 5 ms would take 50 s
    assert bridge.worker_thread.isFinished()
    qtbot.waitUntil(
        lambda: bool(controller.of(job_id)) and isinstance(controller.of(job_id)[-1], JobCancelled)
    )
    assert controller.of(job_id)[-1].reason == "shutdown"
    with pytest.raises(LegatoError):
        bridge.submit(FakeDiffusion())
    assert bridge.shutdown() is True  # twice is harmless


def test_app_quit_shuts_the_bridge_down(qapp):
    bridge = EngineBridge()
    assert bridge.worker_thread.isRunning()
    qapp.aboutToQuit.emit()  # what QApplication.exec() emits on quit
    assert bridge.worker_thread.wait(5000)
    assert not bridge.worker_thread.isRunning()
