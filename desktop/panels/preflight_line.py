"""The Create panel's preflight line: "fits · about 42 s" or "needs 11 GB, you have 8 GB: try …".

It re-predicts (debounced) whenever a field of the form changes. The prediction is pure
arithmetic on this machine's stored calibration (engine.runtime.preflight), read from a small
JSON file, so it runs on the UI thread without loading a model. Before the first calibration the
line offers "Measure", which asks the owner to run a CalibrateJob on the worker.

    line = PreflightLine()
    line.set_source(lambda: (request, dit_folder, "cpu"))   # or None: nothing to predict
    line.watch(panel)                                        # every field change re-predicts
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QTextEdit,
    QWidget,
)

from engine.errors import LegatoError

DEBOUNCE_MS = 300
FITS_STYLE = "color: #9aa4b2;"
NO_FIT_STYLE = "color: #e0a040; font-weight: bold;"

Source = Callable[[], "tuple[Any, str | Path, str] | None"]  # (request, DiT folder, device type)


class PreflightLine(QWidget):
    measure_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("")
        self.label.setObjectName("preflight")
        self.label.setWordWrap(True)
        self.label.setStyleSheet(FITS_STYLE)
        self.measure = QPushButton(self.tr("Measure"))
        self.measure.setObjectName("preflightMeasure")
        self.measure.setToolTip(self.tr("Run two short generations once to learn this device's speed and memory"))
        self.measure.clicked.connect(self.measure_requested)
        self.measure.hide()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.measure)
        self._source: Source | None = None
        self.result = None  # the last PreflightResult (None: nothing predicted)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh)

    def text(self) -> str:
        return self.label.text()

    def set_source(self, source: Source | None) -> None:
        self._source = source
        self.schedule()

    def schedule(self) -> None:
        """Re-predict once the form has been still for DEBOUNCE_MS."""
        self._timer.start()

    def watch(self, form: QWidget) -> None:
        """Re-predict when any input widget inside `form` changes."""
        for w in form.findChildren(QComboBox):
            w.currentIndexChanged.connect(self.schedule)
        for w in form.findChildren(QAbstractSpinBox):
            if hasattr(w, "valueChanged"):
                w.valueChanged.connect(self.schedule)
        for w in form.findChildren(QLineEdit):
            w.textChanged.connect(self.schedule)
        for w in form.findChildren(QPlainTextEdit) + form.findChildren(QTextEdit):
            w.textChanged.connect(self.schedule)
        for w in form.findChildren(QAbstractButton):
            if w.isCheckable():
                w.toggled.connect(self.schedule)
        for w in form.findChildren(QSlider):
            w.valueChanged.connect(self.schedule)

    def refresh(self) -> None:
        from engine.runtime.preflight import calibration_for_model, predict, published_seen_shapes

        self._timer.stop()
        self.result = None
        self.measure.hide()
        try:
            given = self._source() if self._source is not None else None
        except LegatoError:  # the form is not a valid request yet: its own errors say why
            given = None
        if given is None:
            self._show("", fits=True)
            return
        request, folder, device_type, *root = given  # + the checkpoints root, when known
        found = calibration_for_model(folder, device_type)
        if found is None:
            self._show(self.tr("time and memory not measured on this device yet"), fits=True)
            self.measure.show()
            return
        calib, family = found
        lm = None
        if request.effective_thinking:  # the planner's stage, when it was measured (no torch here)
            from engine.runtime.preflight_lm import lm_calibration_for

            lm = lm_calibration_for(root[0] if root else Path(folder).parent, request.lm_model, device_type)
        # Shapes the worker's loaded pipeline already ran cost no new-shape extra (a second take).
        seen = published_seen_shapes(folder, device_type)
        try:
            self.result = predict(request, calib, family, lm=lm, seen=seen)
        except LegatoError as exc:
            self._show(str(exc), fits=False)
            return
        self._show(self.result.line, fits=self.result.fits)

    def _show(self, text: str, fits: bool) -> None:
        self.label.setText(text)
        self.label.setStyleSheet(FITS_STYLE if fits else NO_FIT_STYLE)

    def blocks_run(self) -> bool:
        """True when the latest prediction says the request will not fit."""
        return self.result is not None and not self.result.fits


def ask_run_anyway(parent: QWidget, line: str) -> bool:
    """Ask before starting a job the preflight says will not fit; True = run it (forced)."""
    box = QMessageBox(QMessageBox.Icon.Warning, parent.tr("This may not fit"),
                      parent.tr("The preflight says: {0}.\n\nIt may run out of memory.").format(line),
                      QMessageBox.StandardButton.Cancel, parent)
    run = box.addButton(parent.tr("Run anyway"), QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is run
