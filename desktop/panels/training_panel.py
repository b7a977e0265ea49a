"""The Training panel: make the model your own with a LoRA.

1. Songs: "Choose folder..." (a folder of audio) or "Use selected clips" (the clips selected on
   the timeline, written into a folder you choose, with their captions and lyrics).
2. Labels: one row per song; every cell can be edited (saved to the folder's dataset.json at
   once); "Auto-label" lets the planner describe the songs that have no caption.
3. Options, then Start / Cancel / Resume. Before training the engine measures one step and says
   how long it will take and whether it fits; while it trains the plot shows the loss of every
   step (thin) and its running average (thick), which is the line to watch.
4. "Load in Create panel" puts the finished adapter into the Create panel's adapter list.

A view over the engine (engine.lora, engine.jobs.lora): jobs go through the EngineBridge; the
loss arrives from the worker thread through a queued signal.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.errors import LegatoError

CONTEXT = "TrainingPanel"
SMOOTHING = 0.9  # exponential moving average of the loss (the thick line)
COLUMNS = (("filename", QT_TRANSLATE_NOOP("TrainingPanel", "Song")),
           ("caption", QT_TRANSLATE_NOOP("TrainingPanel", "Caption")),
           ("genre", QT_TRANSLATE_NOOP("TrainingPanel", "Genre")),
           ("lyrics", QT_TRANSLATE_NOOP("TrainingPanel", "Lyrics")),
           ("bpm", QT_TRANSLATE_NOOP("TrainingPanel", "BPM")),
           ("keyscale", QT_TRANSLATE_NOOP("TrainingPanel", "Key")),
           ("timesignature", QT_TRANSLATE_NOOP("TrainingPanel", "Time sig.")),
           ("language", QT_TRANSLATE_NOOP("TrainingPanel", "Language")))


def _tr(text: str) -> str:
    return QCoreApplication.translate(CONTEXT, text)


def smoothed(values: list[float], weight: float = SMOOTHING) -> np.ndarray:
    """Bias-corrected exponential moving average (the first points are not pulled to 0)."""
    out = np.empty(len(values))
    avg = 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * v
        out[i] = avg / (1 - weight ** (i + 1))
    return out


def _size(n: float) -> str:
    if n >= 1024**3:
        return _tr("{0:.1f} GB").format(n / 1024**3)
    return _tr("{0:.0f} MB").format(n / 1024**2)


def _human(seconds: float) -> str:
    if seconds < 90:
        return _tr("{0:.0f} s").format(seconds)
    if seconds < 5400:
        return _tr("{0:.0f} min").format(seconds / 60)
    return _tr("{0:.1f} h").format(seconds / 3600)


class TrainingPanel(QWidget):
    load_adapter_requested = Signal(str)  # the finished adapter's folder
    _loss_arrived = Signal(int, float)  # from the worker thread (queued onto the UI thread)
    _estimate_arrived = Signal(object)

    def __init__(self, bridge, *, checkpoints: str | Path | None = None,
                 selection: Callable[[], tuple[object, list[str]]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.checkpoints = checkpoints
        self.selection = selection  # () -> (project, selected clip ids)
        self.ask_folder: Callable[[str], str] = lambda title: QFileDialog.getExistingDirectory(self, title)
        self.dataset = None
        self.job_id: str | None = None
        self.label_job_id: str | None = None
        self.adapter_path: str | None = None
        self.steps: list[int] = []
        self.losses: list[float] = []
        self._filling = False
        self._loss_arrived.connect(self._add_loss)
        self._estimate_arrived.connect(self._show_estimate)
        bridge.job_event.connect(self._on_job_event)

        col = QVBoxLayout(self)
        # 1. songs
        songs = QGroupBox(self.tr("1. Songs to learn from"))
        songs_row = QHBoxLayout(songs)
        self.choose_folder = QPushButton(self.tr("Choose folder..."))
        self.use_clips_button = QPushButton(self.tr("Use selected clips"))
        self.choose_folder.clicked.connect(self._ask_and_load_folder)
        self.use_clips_button.clicked.connect(self._ask_and_use_clips)
        songs_row.addWidget(self.choose_folder)
        songs_row.addWidget(self.use_clips_button)
        self.folder_label = QLabel(self.tr("No songs chosen yet."))
        self.folder_label.setWordWrap(True)
        songs_row.addWidget(self.folder_label, 1)
        col.addWidget(songs)
        # 2. labels
        labels = QGroupBox(self.tr("2. Describe each song (double-click a cell to edit)"))
        labels_col = QVBoxLayout(labels)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([_tr(title) for _, title in COLUMNS])
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._cell_edited)
        labels_col.addWidget(self.table)
        label_row = QHBoxLayout()
        self.autolabel_button = QPushButton(self.tr("Auto-label songs without a caption"))
        self.autolabel_button.clicked.connect(self.auto_label)
        self.label_error = QLabel()
        self.label_error.setStyleSheet("color: #ff7b72;")
        self.label_error.setWordWrap(True)
        label_row.addWidget(self.autolabel_button)
        label_row.addWidget(self.label_error, 1)
        labels_col.addLayout(label_row)
        col.addWidget(labels, 1)
        # 3. options
        options = QGroupBox(self.tr("3. Training options"))
        form = QFormLayout(options)
        self.rank = QSpinBox()
        self.rank.setRange(4, 256)
        self.rank.setSingleStep(4)
        self.rank.setValue(64)
        self.rank.setToolTip(self.tr("How much the adapter can learn; larger files and slower above 64"))
        self.alpha = QSpinBox()
        self.alpha.setRange(4, 512)
        self.alpha.setValue(128)
        self.alpha.setToolTip(self.tr("Strength of the adapter relative to its rank (2 x rank is usual)"))
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(5)
        self.learning_rate.setRange(0.00001, 0.01)
        self.learning_rate.setSingleStep(0.0001)
        self.learning_rate.setValue(0.0003)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 4000)
        self.epochs.setValue(100)
        self.epochs.setToolTip(self.tr("How many times every song is studied"))
        self.max_steps = QSpinBox()
        self.max_steps.setRange(0, 1_000_000)
        self.max_steps.setSpecialValueText(self.tr("no limit"))
        self.batch = QSpinBox()
        self.batch.setRange(1, 8)
        self.save_every = QSpinBox()
        self.save_every.setRange(1, 100_000)
        self.save_every.setValue(200)
        self.save_every.setToolTip(self.tr("A checkpoint every N steps, so a stopped run can resume"))
        self.checkpointing = QCheckBox(self.tr("Save memory (gradient checkpointing; a little slower)"))
        self.checkpointing.setChecked(True)
        form.addRow(self.tr("Rank"), self.rank)
        form.addRow(self.tr("Alpha"), self.alpha)
        form.addRow(self.tr("Learning rate"), self.learning_rate)
        form.addRow(self.tr("Epochs"), self.epochs)
        form.addRow(self.tr("Stop after steps"), self.max_steps)
        form.addRow(self.tr("Batch"), self.batch)
        form.addRow(self.tr("Checkpoint every"), self.save_every)
        form.addRow(self.checkpointing)
        col.addWidget(options)
        # 4. run
        run_row = QHBoxLayout()
        self.start_button = QPushButton(self.tr("Start"))
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.resume_button = QPushButton(self.tr("Resume"))
        self.load_button = QPushButton(self.tr("Load in Create panel"))
        self.start_button.clicked.connect(lambda: self.start(resume=False))
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.cancel_button.clicked.connect(self.cancel)
        self.load_button.clicked.connect(self._load_in_create)
        for button in (self.start_button, self.cancel_button, self.resume_button, self.load_button):
            run_row.addWidget(button)
        col.addLayout(run_row)
        self.status = QLabel(self.tr("Choose songs to begin."))
        self.status.setWordWrap(True)
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        col.addWidget(self.estimate)
        col.addWidget(self.status)
        # the loss plot
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(200)
        self.plot.setBackground("#161b22")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", self.tr("Training step"))
        self.plot.setLabel("left", self.tr("Loss (lower = closer to your songs)"))
        self.plot.setTitle(self.tr("How well the adapter reproduces your songs"))
        self.plot.addLegend(offset=(-10, 10))
        self.raw_curve = self.plot.plot([], [], pen=pg.mkPen("#58a6ff80", width=1), name=self.tr("each step"))
        self.smooth_curve = self.plot.plot([], [], pen=pg.mkPen("#f0883e", width=3),
                                           name=self.tr("trend (running average)"))
        col.addWidget(self.plot, 1)
        self._sync_buttons()

    # -- songs ---------------------------------------------------------------------------------

    def _ask_and_load_folder(self) -> None:
        folder = self.ask_folder(self.tr("Folder of songs to learn from"))
        if folder:
            self.load_folder(folder)

    def _ask_and_use_clips(self) -> None:
        if self.selection is None:
            return
        project, clip_ids = self.selection()
        if not clip_ids:
            self.label_error.setText(self.tr("Select one or more clips on the timeline first."))
            return
        folder = self.ask_folder(self.tr("Folder to keep the training copies of the clips in"))
        if folder:
            self.use_clips(project, clip_ids, folder)

    def load_folder(self, folder: str | Path) -> bool:
        from engine.lora.dataset import MANIFEST_NAME, dataset_from_folder, load_dataset, save_dataset

        try:
            path = Path(folder)
            ds = load_dataset(path) if (path / MANIFEST_NAME).is_file() else dataset_from_folder(path)
            save_dataset(ds)
        except LegatoError as exc:
            self.label_error.setText(str(exc))
            return False
        self._set_dataset(ds)
        return True

    def use_clips(self, project, clip_ids, folder: str | Path) -> bool:
        from engine.lora.dataset import dataset_from_clips, save_dataset

        try:
            ds = dataset_from_clips(project, clip_ids, folder)
            save_dataset(ds)
        except LegatoError as exc:
            self.label_error.setText(str(exc))
            return False
        self._set_dataset(ds)
        return True

    def _set_dataset(self, ds) -> None:
        self.dataset = ds
        self.label_error.clear()
        labelled = sum(1 for s in ds.samples if s.caption)
        self.folder_label.setText(self.tr("{0}: {1} songs, {2} described").format(
            str(ds.folder), len(ds.samples), labelled))
        self._fill_table()
        self._sync_buttons()

    def _fill_table(self) -> None:
        self._filling = True
        try:
            self.table.setRowCount(len(self.dataset.samples))
            for row, sample in enumerate(self.dataset.samples):
                for column, (name, _title) in enumerate(COLUMNS):
                    value = getattr(sample, name)
                    item = QTableWidgetItem("" if value is None else str(value))
                    item.setData(Qt.ItemDataRole.UserRole, sample.id)
                    if name == "filename":
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    self.table.setItem(row, column, item)
        finally:
            self._filling = False

    def _cell_edited(self, item: QTableWidgetItem) -> None:
        if self._filling or self.dataset is None:
            return
        from engine.lora.dataset import INSTRUMENTAL, save_dataset
        from engine.tasks.text_fields import optional_number

        name = COLUMNS[item.column()][0]
        sample_id = item.data(Qt.ItemDataRole.UserRole)
        text = item.text().strip()
        try:
            if name == "bpm":
                changes = {"bpm": optional_number(text, "bpm", whole=True)}
            elif name == "lyrics":
                changes = {"lyrics": text or INSTRUMENTAL, "is_instrumental": text in ("", INSTRUMENTAL)}
            else:
                changes = {name: text}
            self.dataset = self.dataset.with_sample(sample_id, **changes)
            save_dataset(self.dataset)
            self.label_error.clear()
        except LegatoError as exc:
            self.label_error.setText(str(exc))
            self._fill_table()  # back to the stored value

    def auto_label(self) -> None:
        if self.dataset is None:
            return
        from engine.jobs.lora import AutoLabelJob
        from engine.models.locations import checkpoints_dir

        self.label_job_id = self.bridge.submit(AutoLabelJob(dataset=self.dataset.folder,
                                                            checkpoints=checkpoints_dir(self.checkpoints)))
        self.status.setText(self.tr("Listening to the songs and describing them..."))
        self._sync_buttons()

    # -- training ------------------------------------------------------------------------------

    def config(self):
        from engine.lora.train import TrainConfig

        return TrainConfig(rank=self.rank.value(), alpha=float(self.alpha.value()),
                           learning_rate=self.learning_rate.value(), epochs=self.epochs.value(),
                           max_steps=self.max_steps.value() or None, batch_size=self.batch.value(),
                           save_every=self.save_every.value(), gradient_checkpointing=self.checkpointing.isChecked())

    def output_dir(self) -> Path:
        return self.dataset.folder / "lora_output"

    def start(self, resume: bool = False) -> None:
        if self.dataset is None or self.job_id is not None:
            return
        from engine.jobs.lora import TrainJob
        from engine.lora.train import _read_losses, checkpoint_dirs
        from engine.models.locations import checkpoints_dir

        try:
            config = self.config()
            config.validate()
        except LegatoError as exc:
            self.status.setText(str(exc))
            return
        self.steps, self.losses = [], []
        if resume and checkpoint_dirs(self.output_dir()):
            done = int(checkpoint_dirs(self.output_dir())[-1].name.removeprefix("step_"))
            for step, loss in _read_losses(self.output_dir() / "losses.jsonl", done):
                self.steps.append(step)
                self.losses.append(loss)
        self._redraw()
        self.adapter_path = None
        job = TrainJob(dataset=self.dataset.folder, checkpoints=checkpoints_dir(self.checkpoints),
                       out_dir=self.output_dir(), config=config, resume=resume,
                       on_loss=self._loss_arrived.emit, on_estimate=self._estimate_arrived.emit)
        self.job_id = self.bridge.submit(job)
        self.status.setText(self.tr("Getting ready..."))
        self._sync_buttons()

    def cancel(self) -> None:
        for job_id in (self.job_id, self.label_job_id):
            if job_id is not None:
                self.bridge.cancel(job_id)

    def _add_loss(self, step: int, loss: float) -> None:
        self.steps.append(step)
        self.losses.append(loss)
        self._redraw()

    def _redraw(self) -> None:
        self.raw_curve.setData(self.steps, self.losses)
        self.smooth_curve.setData(self.steps, smoothed(self.losses) if self.losses else [])

    def _show_estimate(self, estimate) -> None:
        text = self.tr("Estimate: about {0} for {1} steps ({2:.1f} s each); needs {3} of the {4} "
                       "memory free.").format(_human(estimate.total_seconds), estimate.total_steps,
                                              estimate.seconds_per_step, _size(estimate.peak_bytes),
                                              _size(estimate.available_bytes))
        if not estimate.fits:
            text += " " + self.tr("It will probably not fit: lower the batch or turn on Save memory.")
        self.estimate.setText(text)

    def _on_job_event(self, event) -> None:
        from engine.jobs.events import JobCancelled, JobFailed, JobFinished, JobProgress

        if event.job_id == self.label_job_id:
            if isinstance(event, JobFinished):
                self._set_dataset(event.result)
                self.status.setText(self.tr("Songs described. Check the captions, then Start."))
            elif isinstance(event, JobFailed | JobCancelled):
                self.status.setText(self.tr("Auto-label stopped: {0}").format(getattr(event, "message", "")))
            if isinstance(event, JobFinished | JobFailed | JobCancelled):
                self.label_job_id = None
                self._sync_buttons()
            return
        if event.job_id != self.job_id:
            return
        if isinstance(event, JobProgress):
            stage = {"preprocess": self.tr("Reading the songs"), "estimate": self.tr("Measuring one step"),
                     "train": self.tr("Training"), "load models": self.tr("Loading the model")}.get(event.stage,
                                                                                            event.stage)
            left = _tr(", {0} left").format(_human(event.eta_s)) if event.eta_s is not None else ""
            self.status.setText(self.tr("{0}: step {1} of {2}{3}").format(stage, event.step, event.total, left))
        elif isinstance(event, JobFinished):
            self.adapter_path = str(event.result.adapter_path) if event.result.adapter_path else None
            self.status.setText(self.tr("Done: {0} steps. The adapter is in {1}").format(
                event.result.steps, self.adapter_path or ""))
        elif isinstance(event, JobCancelled):
            self.status.setText(self.tr("Stopped. Resume continues from the last checkpoint."))
        elif isinstance(event, JobFailed):
            self.status.setText(self.tr("Training failed: {0}").format(getattr(event, "message", "")))
        if isinstance(event, JobFinished | JobFailed | JobCancelled):
            self.job_id = None
            self._sync_buttons()

    def _load_in_create(self) -> None:
        if self.adapter_path:
            self.load_adapter_requested.emit(self.adapter_path)

    def _sync_buttons(self) -> None:
        busy = self.job_id is not None or self.label_job_id is not None
        has = self.dataset is not None
        self.start_button.setEnabled(has and not busy)
        self.resume_button.setEnabled(has and not busy)
        self.autolabel_button.setEnabled(has and not busy)
        self.cancel_button.setEnabled(busy)
        self.load_button.setEnabled(self.adapter_path is not None and not busy)
