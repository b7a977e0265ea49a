"""A track's header at the left of its lane: name, mute, solo, gain, pan, meter.

It shows what the document says (`show_track`) and emits intents; the edit controller turns
them into engine commands, and the header updates again from the document's change signal.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.widgets.meter import PeakMeter

HEADER_WIDTH = 236


class TrackHeader(QWidget):
    """Controls for one track.

    Signals carry the track id so one controller can serve every header. `gain_changed` and
    `pan_changed` fire on every slider step; the controller pushes merging commands so a slider
    drag is one undo step.
    """

    mute_toggled = Signal(str, bool)
    solo_toggled = Signal(str, bool)
    gain_changed = Signal(str, float)  # dB
    pan_changed = Signal(str, float)  # -1 (left) .. +1 (right)
    renamed = Signal(str, str)
    slider_released = Signal(str)  # ends a merge run

    def __init__(self, track_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.track_id = track_id
        self.setObjectName("trackHeader")
        self.setFixedWidth(HEADER_WIDTH)
        self.colour = QColor("#4F9DDE")
        self.selected = False

        col = QVBoxLayout(self)
        col.setContentsMargins(12, 5, 8, 5)
        col.setSpacing(3)

        top = QHBoxLayout()
        top.setSpacing(4)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("trackName")
        self.name_edit.setFrame(False)
        self.name_edit.setToolTip(self.tr("Track name (click to rename)"))
        self.name_edit.editingFinished.connect(self._on_name_edited)
        self.mute_button = self._toggle(self.tr("M", "mute button"), self.tr("Mute"), "muteButton")
        self.mute_button.toggled.connect(lambda on: self.mute_toggled.emit(self.track_id, on))
        self.solo_button = self._toggle(self.tr("S", "solo button"), self.tr("Solo"), "soloButton")
        self.solo_button.toggled.connect(lambda on: self.solo_toggled.emit(self.track_id, on))
        top.addWidget(self.name_edit, 1)
        top.addWidget(self.mute_button)
        top.addWidget(self.solo_button)
        col.addLayout(top)

        self.gain_slider, self.gain_label = self._slider_row(
            col, self.tr("Vol"), "gainSlider", (-600, 120), self.tr("Track gain (dB)"), self.tr("0.0 dB"),
            self._on_gain,  # 0.1 dB steps
        )
        self.pan_slider, self.pan_label = self._slider_row(
            col, self.tr("Pan"), "panSlider", (-100, 100), self.tr("Pan (double-click the label to centre)"),
            self.tr("C", "pan: centre"), self._on_pan,
        )

        self.meter = PeakMeter(Qt.Orientation.Horizontal)
        col.addWidget(self.meter)

    def _slider_row(self, col, caption, object_name, value_range, tooltip, initial_text, on_change):
        """A 'caption [slider] value' row; releasing the slider ends one undoable gesture."""
        row = QHBoxLayout()
        row.setSpacing(4)
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setObjectName(object_name)
        slider.setRange(*value_range)
        slider.setToolTip(tooltip)
        slider.valueChanged.connect(on_change)
        slider.sliderReleased.connect(lambda: self.slider_released.emit(self.track_id))
        value_label = QLabel(initial_text)
        value_label.setMinimumWidth(50)
        value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(QLabel(caption))
        row.addWidget(slider, 1)
        row.addWidget(value_label)
        col.addLayout(row)
        return slider, value_label
    def _toggle(self, text: str, tip: str, name: str) -> QToolButton:
        b = QToolButton()
        b.setObjectName(name)
        b.setText(text)
        b.setToolTip(tip)
        b.setCheckable(True)
        b.setFixedSize(24, 22)
        return b

    # --- document -> widget --------------------------------------------------------------
    def show_track(self, name: str, colour: QColor, gain_db: float, pan: float, mute: bool, solo: bool) -> None:
        """Reflect the track's state without emitting intents back."""
        self.colour = colour
        widgets = (self.name_edit, self.mute_button, self.solo_button, self.gain_slider, self.pan_slider)
        for w in widgets:
            w.blockSignals(True)
        if not self.name_edit.hasFocus():
            self.name_edit.setText(name)
            self.name_edit.setCursorPosition(0)  # show the start of a long name
        self.mute_button.setChecked(mute)
        self.solo_button.setChecked(solo)
        self.gain_slider.setValue(round(gain_db * 10))
        self.pan_slider.setValue(round(pan * 100))
        for w in widgets:
            w.blockSignals(False)
        self._label_gain(gain_db)
        self._label_pan(pan)
        self.update()

    # --- widget -> intent ----------------------------------------------------------------
    def _on_gain(self, tenths: int) -> None:
        self._label_gain(tenths / 10)
        self.gain_changed.emit(self.track_id, tenths / 10)
        if not self.gain_slider.isSliderDown():  # a key press or page click is its own step
            self.slider_released.emit(self.track_id)

    def _on_pan(self, percent: int) -> None:
        self._label_pan(percent / 100)
        self.pan_changed.emit(self.track_id, percent / 100)
        if not self.pan_slider.isSliderDown():
            self.slider_released.emit(self.track_id)

    def _on_name_edited(self) -> None:
        text = self.name_edit.text().strip()
        if text:
            self.renamed.emit(self.track_id, text)

    def _label_gain(self, db: float) -> None:
        self.gain_label.setText(self.tr("{0:+.1f} dB").format(db) if db > -60 else self.tr("-inf"))

    def _label_pan(self, pan: float) -> None:
        if abs(pan) < 0.005:
            self.pan_label.setText(self.tr("C", "pan: centre"))
        else:
            text = self.tr("L{0:.0f}", "pan: left percent") if pan < 0 else self.tr("R{0:.0f}", "pan: right percent")
            self.pan_label.setText(text.format(abs(pan) * 100))

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(0x2E, 0x31, 0x38) if self.selected else QColor(0x29, 0x2B, 0x31))
        p.fillRect(0, 0, 5, self.height(), self.colour)
        p.fillRect(0, self.height() - 1, self.width(), 1, QColor(0x1A, 0x1B, 0x1F))
        p.end()
