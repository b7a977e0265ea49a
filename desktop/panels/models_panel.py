"""The Models panel: what is installed, what the catalogue offers, and downloads with progress.

    panel = ModelsPanel(checkpoints=None)     # None: the resolver's folder (engine.models.locations)
    panel.installed_changed.connect(...)      # a download finished: refresh model pickers

Downloads run `engine.models.download.download_models` on a Python worker thread (the engine's
Qt-free API; the panel is usable before, and independently of, the main window's job queue).
Progress reports cross to the UI thread through a queued signal; Cancel sets the job's cancel
token, the transfer stops at its next chunk and keeps the partial file, so Download resumes.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.errors import Cancelled, LegatoError
from engine.jobs.context import JobContext

COLUMNS = 5  # name, kind, size, status, action


class ModelsPanel(QWidget):
    """Installed models + catalogue rows with Download buttons, per-file/total progress, Cancel.

    Signals:
        download_started(list[str]): the model names of a download that began.
        download_finished(object): the engine's DownloadResult.
        download_failed(str): the error message (also shown in the panel).
        download_cancelled(): the user cancelled; partial files are kept.
        installed_changed(): the set of installed models may have changed.
    """

    download_started = Signal(list)
    download_finished = Signal(object)
    download_failed = Signal(str)
    download_cancelled = Signal()
    installed_changed = Signal()
    _progress = Signal(object)  # worker thread -> UI thread (queued)
    _done = Signal(object, object)  # (result, error)

    def __init__(self, checkpoints: str | Path | None = None, endpoint: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsPanel")
        self._explicit = checkpoints
        self._endpoint = endpoint
        self._ctx: JobContext | None = None
        self._thread: threading.Thread | None = None
        self._buttons: dict[str, QPushButton] = {}

        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, COLUMNS)
        self.table.setHorizontalHeaderLabels(
            [self.tr("Model"), self.tr("Kind"), self.tr("Download"), self.tr("Status"), ""]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.default_button = QPushButton(self.tr("Download the default set for this machine"))
        self.default_button.setObjectName("downloadDefaultSet")
        self.default_button.clicked.connect(self.download_default_set)
        self.file_label = QLabel(self.tr("No download running"))
        self.file_bar = QProgressBar()
        self.file_bar.setObjectName("fileProgress")
        self.total_bar = QProgressBar()
        self.total_bar.setObjectName("totalProgress")
        self.rate_label = QLabel()
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setObjectName("cancelDownload")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setObjectName("modelsMessage")

        layout = QVBoxLayout(self)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.default_button)
        layout.addWidget(self.file_label)
        layout.addWidget(self.file_bar)
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Total")))
        row.addWidget(self.total_bar, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        layout.addWidget(self.rate_label)
        layout.addWidget(self.message)

        self._progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self._done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)
        self.refresh()

    # -- state -------------------------------------------------------------------------------

    def checkpoints_dir(self) -> Path:
        from engine.models.locations import resolve_checkpoints

        return resolve_checkpoints(self._explicit).path

    def set_checkpoints(self, folder: str | Path | None) -> None:
        """Show another checkpoints folder (e.g. after the Settings dialog changed it)."""
        self._explicit = folder
        self.refresh()

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def refresh(self) -> None:
        """Re-read the folder and the catalogue into the table."""
        from engine.models.catalogue import load_catalogue
        from engine.models.discovery import find_checkpoints_dir, list_installed_models
        from engine.models.download import format_bytes

        root = self.checkpoints_dir()
        self.folder_label.setText(self.tr("Models folder: {0}").format(str(root)))
        installed = {}
        try:
            installed = {m.name: m for m in list_installed_models(find_checkpoints_dir(root))}
        except LegatoError:
            pass  # the folder does not exist yet: downloads create it
        entries = load_catalogue().entries
        extra = [m for name, m in installed.items() if name not in {e.name for e in entries}]
        self.table.setRowCount(len(entries) + len(extra))
        self._buttons.clear()
        from engine.models.download import STAGING_DIR

        for row, entry in enumerate(entries):
            model = installed.get(entry.name)
            partial = (root / STAGING_DIR / entry.name).is_dir()
            if model is not None and model.complete:
                status = self.tr("Installed")
            elif partial:
                status = self.tr("Partly downloaded (Download resumes)")
            elif model is None:
                status = self.tr("Not installed")
            else:
                status = self.tr("Broken: {0}").format(model.problem)
            size = format_bytes(entry.download_bytes_estimate) if entry.download_bytes_estimate else self.tr("unknown")
            self._set_row(row, entry.name, entry.kind, size, status, entry.purpose)
            button = QPushButton(self.tr("Download") if model is None or not model.complete else self.tr("Check"))
            button.setObjectName(f"download:{entry.name}")
            button.setEnabled(not self.busy)
            button.clicked.connect(lambda _=False, name=entry.name: self.start_download([name]))
            self.table.setCellWidget(row, 4, button)
            self._buttons[entry.name] = button
        for offset, model in enumerate(extra):
            status = self.tr("Installed") if model.complete else self.tr("Broken: {0}").format(model.problem)
            self._set_row(len(entries) + offset, model.name, model.kind, "", status, str(model.path))
        self.default_button.setEnabled(not self.busy)

    def _set_row(self, row: int, name: str, kind: str, size: str, status: str, tip: str) -> None:
        for column, text in enumerate((name, kind, size, status)):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            self.table.setItem(row, column, item)

    def status_of(self, name: str) -> str:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == name:
                return self.table.item(row, 3).text()
        raise KeyError(name)

    # -- downloads -----------------------------------------------------------------------------

    @Slot()
    def download_default_set(self) -> None:
        from engine.models.catalogue import default_set_for, load_catalogue
        from engine.runtime.device import pick_device
        from engine.runtime.memory_tier import detect_tier

        tier = detect_tier(pick_device(None))
        names = [e.name for e in default_set_for(load_catalogue(), tier.recommended_lm, tier.init_lm)]
        self.start_download(names)

    def start_download(self, names: list[str]) -> None:
        if self.busy:
            return
        from engine.models.download import download_models

        self._ctx = ctx = JobContext()
        root = self.checkpoints_dir()
        endpoint = self._endpoint
        self.message.setText(self.tr("Downloading {0}…").format(", ".join(names)))
        self.file_bar.setValue(0)
        self.total_bar.setValue(0)
        self.cancel_button.setEnabled(True)
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() in names:
                self.table.item(row, 3).setText(self.tr("Downloading…"))
        for button in self._buttons.values():
            button.setEnabled(False)
        self.default_button.setEnabled(False)

        def work() -> None:
            try:
                result = download_models(names, root, ctx=ctx, on_progress=self._progress.emit, endpoint=endpoint)
            except Cancelled as exc:
                self._done.emit(None, exc)
            except LegatoError as exc:
                self._done.emit(None, exc)
            except Exception as exc:  # noqa: BLE001 - shown to the user, never lost in a thread
                self._done.emit(None, exc)
            else:
                self._done.emit(result, None)

        self._thread = threading.Thread(target=work, name="models-download", daemon=True)
        self._thread.start()
        self.download_started.emit(list(names))

    @Slot()
    def cancel(self) -> None:
        if self._ctx is not None:
            self._ctx.cancel_token.cancel()
            self.cancel_button.setEnabled(False)
            self.message.setText(self.tr("Cancelling…"))

    def wait(self, timeout: float | None = None) -> None:
        """Block until the worker ends (tests, and closing the app)."""
        if self._thread is not None:
            self._thread.join(timeout)

    @Slot(object)
    def _on_progress(self, report) -> None:
        from engine.models.download import format_bytes, format_seconds

        self.file_label.setText(self.tr("{0}/{1}: {2} of {3}").format(
            report.model, report.file, format_bytes(report.file_done), format_bytes(report.file_total)))
        self.file_bar.setValue(int(1000 * report.file_done / report.file_total) if report.file_total else 1000)
        self.file_bar.setMaximum(1000)
        self.total_bar.setMaximum(1000)
        self.total_bar.setValue(int(1000 * report.done / report.total) if report.total else 0)
        left = self.tr("unknown") if report.eta_s is None else format_seconds(report.eta_s)
        self.rate_label.setText(self.tr("{0} of {1} · {2}/s · {3} left · file {4} of {5}").format(
            format_bytes(report.done), format_bytes(report.total), format_bytes(report.rate_bps), left,
            min(report.files_done + 1, report.files_total), report.files_total))

    @Slot(object, object)
    def _on_done(self, result, error) -> None:
        self.cancel_button.setEnabled(False)
        self._ctx = None
        if self._thread is not None:
            self._thread.join(1.0)
        self._thread = None
        if isinstance(error, Cancelled):
            self.message.setText(self.tr("Cancelled. Partial files are kept: Download resumes where it stopped."))
            self.download_cancelled.emit()
        elif error is not None:
            self.message.setText(self.tr("Download failed: {0}").format(str(error)))
            self.download_failed.emit(str(error))
        else:
            self.message.setText(self.tr("Done: {0}").format(", ".join(result.models)))
            self.file_label.setText(self.tr("No download running"))
            self.download_finished.emit(result)
        self.refresh()
        self.installed_changed.emit()
