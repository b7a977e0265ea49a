"""Feeds the Create panel's preflight line and guards Generate with it.

- source: the panel's request, the chosen DiT folder and the device kind (from the device
  report), re-read by the line whenever the form changes;
- "Measure": a CalibrateJob on the worker (two short generations, stored), then the line updates;
- `confirm()`: before a batch starts, a request the preflight says cannot fit needs "Run anyway"
  (then the job is forced past GenerateJob's own check).

Thread: main.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Slot

from desktop.panels import preflight_line
from engine.errors import LegatoError
from engine.jobs import JobCancelled, JobEvent, JobFailed, JobFinished


class PreflightController(QObject):
    def __init__(self, window, bridge, generation, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.bridge = bridge
        self.generation = generation
        self.line = generation.panel.preflight
        self._measure_job: str | None = None
        self.line.measure_requested.connect(self.measure)
        bridge.job_event.connect(self.on_job_event)
        self.line.set_source(self.source)

    def device_type(self) -> str:
        report = getattr(self.window, "_device_report", None)
        if report is not None:
            return report.device
        chosen = self.generation.settings().device or "auto"
        return "cpu" if chosen == "auto" else chosen.split(":")[0]

    def source(self):
        model = self.generation.panel.model_name()
        if model is None:
            return None
        request, _ = self.generation.build_request()
        folder = Path(model) if Path(model).is_absolute() else Path(self.generation.checkpoints().path) / model
        return request, folder, self.device_type(), Path(self.generation.checkpoints().path)

    @Slot()
    def measure(self) -> str | None:
        from engine.jobs.generation import CalibrateJob
        from engine.tasks.request import GenerationRequest

        model = self.generation.panel.model_name()
        if model is None:
            return None
        settings = self.generation.settings()
        try:  # a thinking request also measures its planner LM
            current = self.generation.build_request()[0]
            thinking, lm_model = current.thinking, current.lm_model
        except LegatoError:
            thinking, lm_model = False, None
        job = CalibrateJob(request=GenerationRequest(caption="calibration", thinking=thinking, lm_model=lm_model),
                           checkpoints=self.generation.checkpoints().path,
                           model=model, device=settings.device or "auto", dtype=settings.dtype or None)
        try:
            self._measure_job = self.bridge.submit(job)
        except LegatoError as exc:
            self.generation.message.emit(str(exc))
            return None
        self.line.measure.setEnabled(False)
        self.line.label.setText(self.tr("measuring this device (two short generations)…"))
        return self._measure_job

    @Slot(object)
    def on_job_event(self, event: JobEvent) -> None:
        if not isinstance(event, JobFinished | JobFailed | JobCancelled):
            return
        if event.job_id != self._measure_job:
            # A job that ran the model leaves its shapes warm (engine.runtime.preflight's
            # published shapes): the next take of the same length is predicted without their extra.
            self.line.schedule()
            return
        self._measure_job = None
        self.line.measure.setEnabled(True)
        if isinstance(event, JobFailed):
            self.generation.message.emit(event.message)
        self.line.refresh()

    def confirm(self) -> bool | None:
        """Before a batch: False = run normally, True = run forced, None = the user cancelled."""
        self.line.refresh()  # the form may have changed within the debounce interval
        if not self.line.blocks_run():
            return False
        return True if preflight_line.ask_run_anyway(self.window, self.line.text()) else None
