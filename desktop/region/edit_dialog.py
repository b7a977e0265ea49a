"""The compact dialog each region action opens: what to make, pre-filled from the clip.

One dialog class for the seven actions: the rows shown follow the action (a repaint asks for
mode and strength, an extend for how much of the song the model hears, a layer for the
instrument…). Values come pre-filled from the clip's provenance and the project; the
controller turns `values()` into the engine's region edit, and an engine ValidationError comes
back through `show_error` — the dialog stays open and nothing runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.form_rows import ERROR_STYLE, row_of
from engine.studio.region_lyrics import RegionLyrics
from engine.studio.region_target import COMPLETE, EXTEND, EXTRACT, INTRO, LAYER, REMIX, REPAINT
from engine.tasks.constants import TIME_SIGNATURES, TRACK_NAMES

REPAINT_MODES = ("balanced", "conservative", "aggressive")


def _tr(text: str) -> str:
    return QCoreApplication.translate("RegionEditDialog", text)


def stem_label(name: str) -> str:
    """The musician-facing name of one of upstream's 12 track names."""
    return {
        "vocals": _tr("Vocals"), "backing_vocals": _tr("Backing vocals"), "drums": _tr("Drums"),
        "bass": _tr("Bass"), "guitar": _tr("Guitar"), "keyboard": _tr("Keyboard"),
        "percussion": _tr("Percussion"), "strings": _tr("Strings"), "synth": _tr("Synth"),
        "fx": _tr("FX"), "brass": _tr("Brass"), "woodwinds": _tr("Woodwinds"),
    }.get(name, name)


def action_title(kind: str) -> str:
    return {REPAINT: _tr("Repaint"), EXTEND: _tr("Extend"), INTRO: _tr("Add Intro"), LAYER: _tr("Add Layer"),
            EXTRACT: _tr("Extract Stems"), COMPLETE: _tr("Complete"), REMIX: _tr("Remix")}[kind]


@dataclass(frozen=True)
class DialogSetup:
    """Everything the dialog shows before the musician touches it."""

    kind: str
    where: str  # "0:12.000 – 0:20.000 (8.000 s) of “Song”"
    caption: str = ""
    lyrics: str = ""
    bpm: int | None = None
    keyscale: str = ""
    timesignature: str = ""
    region_lyrics: RegionLyrics | None = None  # repaint with synced lyrics
    lyrics_note: str = ""  # why the whole lyrics are shown although the take has synced lyrics
    context_max_s: float = 60.0  # extend/intro: the most the model can hear
    context_default_s: float = 30.0
    context_mode: str = "bounded"  # repaint/extend: "bounded" (window ± the context) or "full" (whole clip)
    blocked: str = ""  # e.g. "Add layer needs a base model: …" (Run is disabled)
    present_stems: tuple[str, ...] = field(default_factory=tuple)  # complete: what the tracks already are


class RegionEditDialog(QDialog):
    """Signals: run_requested(): the musician pressed Run (the controller reads `values()`)."""

    run_requested = Signal()

    def __init__(self, setup: DialogSetup, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setup = setup
        kind = setup.kind
        self.setObjectName(f"regionDialog_{kind}")
        self.setWindowTitle(self.tr("{0} — Legato").format(action_title(kind)))
        self.setMinimumWidth(460)
        col = QVBoxLayout(self)
        where = QLabel(setup.where)
        where.setObjectName("regionWhere")
        where.setStyleSheet("color: #9aa4b2;")
        col.addWidget(where)
        self.blocked = QLabel(setup.blocked)
        self.blocked.setObjectName("regionBlocked")
        self.blocked.setWordWrap(True)
        self.blocked.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.blocked.setStyleSheet("background: #3a2326; color: #ffb4ab; padding: 6px; border-radius: 3px;")
        self.blocked.setVisible(bool(setup.blocked))
        col.addWidget(self.blocked)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        col.addLayout(form)
        self.caption = QLineEdit(setup.caption)
        self.caption.setObjectName("regionCaption")
        self.caption.setPlaceholderText(self.tr("Style, instruments, mood — e.g. “warm rhodes, brushed drums”"))
        self.lyrics = QPlainTextEdit(setup.lyrics)
        self.lyrics.setObjectName("regionLyrics")
        self.lyrics.setMinimumHeight(90)
        self.before_lines = QLabel()
        self.after_lines = QLabel()
        for label in (self.before_lines, self.after_lines):
            label.setStyleSheet("color: #7d8590; font-style: italic;")
            label.setWordWrap(True)
        self.bpm = QSpinBox()
        self.bpm.setObjectName("regionBpm")
        self.bpm.setRange(0, 300)
        self.bpm.setSpecialValueText(self.tr("auto"))
        self.bpm.setValue(setup.bpm or 0)
        self.keyscale = QLineEdit(setup.keyscale)
        self.keyscale.setPlaceholderText(self.tr("e.g. C major"))
        self.timesignature = QComboBox()
        self.timesignature.addItem(self.tr("auto"), "")
        for ts in TIME_SIGNATURES:
            self.timesignature.addItem(self.tr("{0}/4").format(ts), ts)
        self.timesignature.setCurrentIndex(max(0, self.timesignature.findData(setup.timesignature)))
        self.seed = QLineEdit()
        self.seed.setObjectName("regionSeed")
        self.seed.setPlaceholderText(self.tr("random"))

        if kind != EXTRACT:
            form.addRow(self.tr("Caption"), self.caption)
        if kind == REPAINT and setup.region_lyrics is not None:
            parts = setup.region_lyrics
            self.lyrics.setPlainText(parts.inside_text)
            self.before_lines.setText(self.tr("before: {0}").format(" / ".join(parts.before[-2:]) or "—"))
            self.after_lines.setText(self.tr("after: {0}").format(" / ".join(parts.after[:2]) or "—"))
            box = QWidget()
            lyr = QVBoxLayout(box)
            lyr.setContentsMargins(0, 0, 0, 0)
            lyr.setSpacing(2)
            lyr.addWidget(self.before_lines)
            lyr.addWidget(self.lyrics)
            lyr.addWidget(self.after_lines)
            form.addRow(self.tr("Lines sung here"), box)
        elif kind in (REPAINT, EXTEND, INTRO, REMIX, COMPLETE):
            form.addRow(self.tr("Lyrics"), self.lyrics)
            if setup.lyrics_note:
                note = QLabel(setup.lyrics_note)
                note.setObjectName("lyricsNote")
                note.setWordWrap(True)
                note.setStyleSheet("color: #e0b050;")
                form.addRow("", note)
        if kind != EXTRACT:
            form.addRow(self.tr("BPM · key · time"), row_of(self.bpm, (self.keyscale, 1), self.timesignature))

        self.mode = QComboBox()
        self.mode.setObjectName("repaintMode")
        for mode, text in zip(REPAINT_MODES, (self.tr("Balanced"), self.tr("Conservative (stay close)"),
                                              self.tr("Aggressive (free)")), strict=True):
            self.mode.addItem(text, mode)
        self.strength = _percent_slider("strengthSlider", 50)
        self.strength_label = QLabel()
        self.strength.valueChanged.connect(lambda v: self.strength_label.setText(self.tr("{0} %").format(v)))
        self.strength.valueChanged.emit(self.strength.value())
        if kind == REPAINT:
            form.addRow(self.tr("Mode"), self.mode)
            form.addRow(self.tr("Strength"), row_of((self.strength, 1), self.strength_label))
        if kind == REMIX:
            self.strength.setValue(70)
            form.addRow(self.tr("Keep of the original"), row_of((self.strength, 1), self.strength_label))
            self.reference = QLineEdit()
            self.reference.setObjectName("remixReference")
            self.reference.setPlaceholderText(self.tr("optional: an audio file whose sound to borrow"))
            form.addRow(self.tr("Reference"), self.reference)

        self.context = QSlider(Qt.Orientation.Horizontal)
        self.context.setObjectName("contextSlider")
        self.context.setRange(1, max(1, int(setup.context_max_s)))
        self.context.setValue(int(min(max(1.0, setup.context_default_s), setup.context_max_s)))
        self.context_label = QLabel()
        self.context.valueChanged.connect(lambda v: self.context_label.setText(self.tr("{0} s").format(v)))
        self.context.valueChanged.emit(self.context.value())
        self.context_mode = QComboBox()
        self.context_mode.setObjectName("contextMode")
        self.context_mode.addItem(self.tr("Around the window (faster)"), "bounded")
        self.context_mode.addItem(self.tr("Whole clip"), "full")
        self.context_mode.setToolTip(self.tr(
            "Around the window: the model hears and renders only the window plus the context below, so a "
            "short edit of a long song is quick. Whole clip: it hears the whole clip (slower, as upstream)."))
        self.context_mode.setCurrentIndex(max(0, self.context_mode.findData(setup.context_mode)))
        self.context_mode.currentIndexChanged.connect(self._on_context_mode)
        if kind in (REPAINT, EXTEND):
            form.addRow(self.tr("Listen to"), self.context_mode)
        if kind in (EXTEND, INTRO, REPAINT):
            text = (self.tr("How many seconds of the existing audio the model hears each side (up to {0} s)")
                    if kind == REPAINT else
                    self.tr("How many seconds of the existing audio the model hears (up to {0} s)"))
            self.context.setToolTip(text.format(int(setup.context_max_s)))
            form.addRow(self.tr("Context"), row_of((self.context, 1), self.context_label))
        self._on_context_mode()

        self.instrument = QComboBox()
        self.instrument.setObjectName("layerInstrument")
        for name in TRACK_NAMES:
            self.instrument.addItem(stem_label(name), name)
        if kind == LAYER:
            form.addRow(self.tr("Instrument"), self.instrument)

        self.stem_boxes: dict[str, QCheckBox] = {}
        if kind in (EXTRACT, COMPLETE):
            grid_box = QWidget()
            grid = QGridLayout(grid_box)
            grid.setContentsMargins(0, 0, 0, 0)
            for i, name in enumerate(TRACK_NAMES):
                box = QCheckBox(stem_label(name))
                box.setObjectName(f"stem_{name}")
                if kind == COMPLETE and name in setup.present_stems:
                    box.setEnabled(False)
                    box.setToolTip(self.tr("The selected tracks already are this"))
                self.stem_boxes[name] = box
                grid.addWidget(box, i // 3, i % 3)
            defaults = ("vocals", "drums", "bass") if kind == EXTRACT else ("drums", "bass", "keyboard")
            for name in defaults:
                if self.stem_boxes[name].isEnabled():
                    self.stem_boxes[name].setChecked(True)
            form.addRow(self.tr("Stems") if kind == EXTRACT else self.tr("Generate"), grid_box)
        form.addRow(self.tr("Seed"), self.seed)

        self.error = QLabel()
        self.error.setObjectName("regionError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.hide()
        col.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.run_button = buttons.addButton(self.tr("Run"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.run_button.setObjectName("regionRun")
        self.run_button.setEnabled(not setup.blocked)
        self.run_button.setDefault(True)
        buttons.accepted.connect(self._on_run)
        buttons.rejected.connect(self.reject)
        col.addWidget(buttons)

    def _on_context_mode(self) -> None:
        bounded = self.context_mode.currentData() == "bounded" or self.setup.kind == INTRO
        self.context.setEnabled(bounded)
        self.context_label.setEnabled(bounded)

    def _on_run(self) -> None:
        self.error.hide()
        self.run_requested.emit()

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def values(self) -> dict[str, Any]:
        """What the musician chose, in the engine's parameter names."""
        kind = self.setup.kind
        seed_text = self.seed.text().strip()
        out: dict[str, Any] = {
            "caption": self.caption.text().strip(),
            "bpm": self.bpm.value() or None,
            "keyscale": self.keyscale.text().strip(),
            "timesignature": self.timesignature.currentData() or "",
            "seed": seed_text,
        }
        if kind == REPAINT and self.setup.region_lyrics is not None:
            out["lyrics"] = self.setup.region_lyrics.rebuild(self.lyrics.toPlainText())
        elif kind in (REPAINT, EXTEND, INTRO, REMIX, COMPLETE):
            out["lyrics"] = self.lyrics.toPlainText()
        if kind == REPAINT:
            out["mode"] = self.mode.currentData()
            out["strength"] = self.strength.value() / 100.0
        if kind in (REPAINT, EXTEND):
            out["context"] = self.context_mode.currentData()
            out["context_s"] = float(self.context.value()) if out["context"] == "bounded" else None
        if kind == INTRO:
            out["context_s"] = float(self.context.value())
        if kind == REMIX:
            out["strength"] = self.strength.value() / 100.0
            out["reference"] = self.reference.text().strip()
        if kind == LAYER:
            out["instrument"] = self.instrument.currentData()
        if kind in (EXTRACT, COMPLETE):
            out["stems"] = [name for name, box in self.stem_boxes.items() if box.isChecked() and box.isEnabled()]
        return out


def _percent_slider(name: str, value: int) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setObjectName(name)
    slider.setRange(0, 100)
    slider.setValue(value)
    return slider
