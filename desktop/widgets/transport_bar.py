"""The transport bar: play/pause, stop, loop, time readouts, snap toggle, zoom, master.

Thin: it emits intents and shows what the transport controller pushes into it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QWidget,
)

from desktop.timeline.grid import MusicalGrid, format_seconds
from desktop.widgets.meter import PeakMeter


class TransportBar(QWidget):
    """Play/stop/loop buttons, the position in bars and seconds, BPM, snap, master gain."""

    play_toggled = Signal()
    stop_clicked = Signal()
    loop_toggled = Signal(bool)
    snap_toggled = Signal(bool)
    master_gain_changed = Signal(float)  # dB
    zoom_in_clicked = Signal()
    zoom_out_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transportBar")
        self.grid = MusicalGrid()
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.setSpacing(6)

        self.play_button = self._button("▶", self.tr("Play / pause (Space)"))
        self.play_button.clicked.connect(self.play_toggled)
        self.stop_button = self._button("■", self.tr("Stop and return to start"))
        self.stop_button.clicked.connect(self.stop_clicked)
        self.loop_button = self._button("⟲", self.tr("Loop the selected range"))
        self.loop_button.setCheckable(True)
        self.loop_button.toggled.connect(self.loop_toggled)
        for b in (self.play_button, self.stop_button, self.loop_button):
            row.addWidget(b)

        mono = QFont("DejaVu Sans Mono")
        mono.setPointSizeF(13)
        mono.setBold(True)
        self.bars_label = QLabel("1.1.00")
        self.bars_label.setFont(mono)
        self.bars_label.setToolTip(self.tr("Position: bar.beat.ticks"))
        self.bars_label.setMinimumWidth(100)
        self.time_label = QLabel("0:00.000")
        self.time_label.setFont(mono)
        self.time_label.setToolTip(self.tr("Position: minutes:seconds"))
        self.time_label.setMinimumWidth(110)
        self.tempo_label = QLabel(self.tr("{0:g} BPM  {1}/4").format(120, 4))
        self.tempo_label.setObjectName("tempoLabel")
        row.addSpacing(8)
        row.addWidget(self.bars_label)
        row.addWidget(self.time_label)
        row.addSpacing(8)
        row.addWidget(self.tempo_label)
        row.addSpacing(12)

        self.snap_button = QToolButton()
        self.snap_button.setText(self.tr("Snap"))
        self.snap_button.setCheckable(True)
        self.snap_button.setChecked(True)
        self.snap_button.setToolTip(self.tr("Snap edits to the bar/beat grid"))
        self.snap_button.toggled.connect(self.snap_toggled)
        row.addWidget(self.snap_button)
        zoom_out = self._button("−", self.tr("Zoom out (-)"))
        zoom_out.clicked.connect(self.zoom_out_clicked)
        zoom_in = self._button("+", self.tr("Zoom in (+)"))
        zoom_in.clicked.connect(self.zoom_in_clicked)
        row.addWidget(zoom_out)
        row.addWidget(zoom_in)

        self.selection_label = QLabel(self.tr("No selection"))
        self.selection_label.setObjectName("selectionLabel")
        self.selection_label.setToolTip(self.tr("Time range: drag on a lane or clip with Shift, or on empty lane space"))
        row.addSpacing(12)
        row.addWidget(self.selection_label, 1)

        row.addWidget(QLabel(self.tr("Master")))
        self.master_slider = QSlider(Qt.Orientation.Horizontal)
        self.master_slider.setRange(-600, 120)  # tenths of a dB
        self.master_slider.setValue(0)
        self.master_slider.setFixedWidth(120)
        self.master_slider.setToolTip(self.tr("Master gain (dB); double-click the label to reset"))
        self.master_slider.valueChanged.connect(lambda v: self._on_master(v))
        self.master_label = QLabel(self.tr("0.0 dB"))
        self.master_label.setMinimumWidth(56)
        row.addWidget(self.master_slider)
        row.addWidget(self.master_label)
        self.master_meter = PeakMeter(Qt.Orientation.Horizontal)
        self.master_meter.setFixedWidth(140)
        self.master_meter.setFixedHeight(14)
        row.addWidget(self.master_meter)

    def _button(self, text: str, tip: str) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setMinimumSize(34, 30)
        f = b.font()
        f.setPointSizeF(f.pointSizeF() * 1.3)
        b.setFont(f)
        return b

    def _on_master(self, tenths: int) -> None:
        db = tenths / 10.0
        self.master_label.setText(self.tr("{0:+.1f} dB").format(db))
        self.master_gain_changed.emit(db)

    # --- state pushed in by the controller -----------------------------------------------
    def set_position(self, seconds: float) -> None:
        self.bars_label.setText(self.grid.format_bars(seconds))
        self.time_label.setText(format_seconds(seconds, precise=True))

    def set_playing(self, playing: bool) -> None:
        self.play_button.setText("❚❚" if playing else "▶")

    def set_grid(self, grid: MusicalGrid) -> None:
        self.grid = grid
        self.tempo_label.setText(self.tr("{0:g} BPM  {1}/4").format(grid.bpm, grid.beats_per_bar))

    def set_master_db(self, db: float) -> None:
        self.master_slider.blockSignals(True)
        self.master_slider.setValue(round(db * 10))
        self.master_slider.blockSignals(False)
        self.master_label.setText(self.tr("{0:+.1f} dB").format(db))

    def set_selection_text(self, text: str) -> None:
        self.selection_label.setText(text)
