"""The job strip: one row per queued or running job with stage, step, percent, time left and
Cancel. It mirrors the engine's job events (frozen dataclasses) and never touches the queue:
Cancel emits `cancel_requested(job_id)` for the controller."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from engine.jobs import FINAL_EVENTS, JobEvent, JobProgress, JobQueued, JobStarted

# What the engine's stage names mean to a musician (translated in the "JobStrip" context).
STAGE_TEXT = {
    "load models": "Loading models",
    "load planner": "Loading the planner",
    "text encode": "Reading the prompt",
    "lm": "Planning",
    "think": "Planning",
    "vae encode": "Listening to the source",
    "diffusion": "Generating",
    "vae decode": "Rendering audio",
}


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(round(seconds)))
    if seconds >= 60:
        return QCoreApplication.translate("JobStrip", "{0}:{1:02d} left").format(seconds // 60, seconds % 60)
    return QCoreApplication.translate("JobStrip", "{0} s left").format(seconds)


class JobRow(QWidget):
    def __init__(self, job_id: str, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job_id = job_id
        self.setObjectName("jobRow")
        self.title = QLabel(label)
        self.title.setMinimumWidth(180)
        self.stage = QLabel(self.tr("Waiting…"))
        self.stage.setObjectName("jobStage")
        self.stage.setMinimumWidth(200)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.eta = QLabel("")
        self.eta.setObjectName("jobEta")
        self.eta.setMinimumWidth(70)
        self.cancel = QPushButton(self.tr("Cancel"))
        self.cancel.setObjectName("jobCancel")
        self.cancel.setToolTip(self.tr("Stop this job (Esc stops the running one)"))
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        row.addWidget(self.title)
        row.addWidget(self.stage)
        row.addWidget(self.bar, 1)
        row.addWidget(self.eta)
        row.addWidget(self.cancel)

    def started(self) -> None:
        self.stage.setText(self.tr("Starting…"))
        self.bar.setRange(0, 0)  # busy until the first progress report

    def progress(self, event: JobProgress) -> None:
        name = QCoreApplication.translate("JobStrip", STAGE_TEXT.get(event.stage, event.stage.capitalize()))
        step = f" {event.step}/{event.total}" if event.total > 1 else ""
        self.stage.setText(f"{name}{step}")
        fraction = event.fraction
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 100)
            self.bar.setValue(int(round(fraction * 100)))
        self.eta.setText(format_eta(event.eta_s))

    def cancelling(self) -> None:
        self.stage.setText(self.tr("Stopping…"))
        self.cancel.setEnabled(False)


class JobStrip(QWidget):
    """Rows for live jobs; a finished, failed or cancelled job's row goes away."""

    cancel_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("jobStrip")
        self._rows: dict[str, JobRow] = {}
        self._col = QVBoxLayout(self)
        self._col.setContentsMargins(0, 0, 0, 0)
        self._col.setSpacing(0)
        self._idle = QLabel(self.tr("No jobs running. Generate from the Create panel."))
        self._idle.setObjectName("jobsIdle")
        self._idle.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._idle.setStyleSheet("color: #9aa4b2;")
        self._col.addWidget(self._idle)
        self.running_job: str | None = None

    def row(self, job_id: str) -> JobRow | None:
        return self._rows.get(job_id)

    def job_ids(self) -> list[str]:
        return list(self._rows)

    @Slot(object)
    def on_job_event(self, event: JobEvent) -> None:
        if isinstance(event, JobQueued):
            row = JobRow(event.job_id, event.label)
            row.cancel.clicked.connect(lambda _=False, job_id=event.job_id: self._cancel(job_id))
            self._rows[event.job_id] = row
            self._col.addWidget(row)
        row = self._rows.get(event.job_id)
        if row is None:
            return
        if isinstance(event, JobStarted):
            self.running_job = event.job_id
            row.started()
        elif isinstance(event, JobProgress):
            row.progress(event)
        elif isinstance(event, FINAL_EVENTS):
            if self.running_job == event.job_id:
                self.running_job = None
            self._rows.pop(event.job_id)
            self._col.removeWidget(row)
            row.hide()  # never setParent(None): a parentless visible widget would steal activation
            row.deleteLater()
        self._idle.setVisible(not self._rows)

    def _cancel(self, job_id: str) -> None:
        row = self._rows.get(job_id)
        if row is not None:
            row.cancelling()
        self.cancel_requested.emit(job_id)
