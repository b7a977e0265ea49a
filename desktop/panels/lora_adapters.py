"""The Create panel's LoRA adapters: one row per adapter with a scale slider (0-200 %).

A view only: `specs()` gives the LoraSpec tuple the request carries; the engine loads the
adapters (with its fit check) when the job runs and reports a mismatch like any other error.
Adding an adapter reads its header here to show what it is (rank, model size) or why it
cannot be used, before anything is submitted.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from engine.errors import AdapterError
from engine.lora.spec import LoraSpec

CONTEXT = "AdapterList"


def _tr(text: str) -> str:
    return QCoreApplication.translate(CONTEXT, text)


class AdapterRow(QWidget):
    removed = Signal(object)

    def __init__(self, path: str, name: str, summary: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.name = QLabel(name)
        self.name.setToolTip(summary)
        self.name.setMinimumWidth(90)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 200)
        self.slider.setValue(100)
        self.slider.setToolTip(_tr("How strongly the adapter colours the result (100 % = as trained, 0 = off)"))
        self.value = QLabel()
        self.value.setMinimumWidth(40)
        self.slider.valueChanged.connect(self._show_value)
        self.remove = QPushButton(_tr("Remove"))
        self.remove.clicked.connect(lambda: self.removed.emit(self))
        row.addWidget(self.name)
        row.addWidget(self.slider, 1)
        row.addWidget(self.value)
        row.addWidget(self.remove)
        self._show_value(self.slider.value())

    def _show_value(self, value: int) -> None:
        self.value.setText(_tr("{0} %").format(value))

    def spec(self) -> LoraSpec:
        return LoraSpec(path=self.path, scale=self.slider.value() / 100.0)


class AdapterList(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[AdapterRow] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.empty = QLabel(_tr("No adapters: the model as published."))
        self.empty.setStyleSheet("color: #9aa4b2; font-size: 11px;")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #ff7b72;")
        self.error.hide()
        buttons = QHBoxLayout()
        self.add_file = QPushButton(_tr("Add adapter file..."))
        self.add_folder = QPushButton(_tr("Add adapter folder..."))
        self.add_file.clicked.connect(self._ask_file)
        self.add_folder.clicked.connect(self._ask_folder)
        buttons.addWidget(self.add_file)
        buttons.addWidget(self.add_folder)
        self._rows_box = QVBoxLayout()
        self._layout.addWidget(self.empty)
        self._layout.addLayout(self._rows_box)
        self._layout.addLayout(buttons)
        self._layout.addWidget(self.error)

    def _ask_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, _tr("LoRA adapter"), "", _tr("Adapters (*.safetensors)"))
        if path:
            self.add_adapter(path)

    def _ask_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, _tr("LoRA adapter folder"))
        if path:
            self.add_adapter(path)

    def add_adapter(self, path: str | Path, scale: float = 1.0) -> bool:
        """Add a row for `path`; False (with the reason shown) when it is not a usable adapter."""
        from engine.lora.formats import read_adapter, summary_line

        path = str(path)
        self.error.hide()
        if any(r.path == path for r in self.rows):
            self.error.setText(_tr("That adapter is already in the list."))
            self.error.show()
            return False
        try:
            adapter = read_adapter(path)
        except AdapterError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return False
        row = AdapterRow(path, adapter.name, summary_line(adapter))
        row.slider.setValue(round(scale * 100))
        row.removed.connect(self._remove)
        row.slider.valueChanged.connect(lambda _v: self.changed.emit())
        self.rows.append(row)
        self._rows_box.addWidget(row)
        self.empty.setVisible(False)
        self.changed.emit()
        return True

    def _remove(self, row: AdapterRow) -> None:
        self.rows.remove(row)
        row.setParent(None)
        row.deleteLater()
        self.empty.setVisible(not self.rows)
        self.changed.emit()

    def specs(self) -> tuple[LoraSpec, ...]:
        return tuple(r.spec() for r in self.rows)
