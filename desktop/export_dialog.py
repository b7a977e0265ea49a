"""The export options dialog: what to export (mix or stems), format, range, destination.

A thin form. It knows nothing about the engine: the controller gives it the texts to show
(project length, the time selection, the stem file names for a format) and reads back an
`ExportChoice`; the controller then maps that choice onto engine.audio.export. What was chosen
last time is kept in QSettings by `ExportMemory`, so the next export starts from it.

Range applies to the mix only: engine.audio.export.export_stems renders every stem over the
whole project (stems must line up when dragged into another DAW), so the dialog says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QSettings, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop import dialogs

# (engine format name, what a musician reads, a one-line hint). Order = menu order.
# The texts are marked for translation here and translated where the dialog shows them.
FORMATS: tuple[tuple[str, str, str], ...] = (
    ("wav16", QT_TRANSLATE_NOOP("ExportDialog", "WAV 16-bit"),
     QT_TRANSLATE_NOOP("ExportDialog", "CD quality; the most compatible WAV.")),
    ("wav24", QT_TRANSLATE_NOOP("ExportDialog", "WAV 24-bit"),
     QT_TRANSLATE_NOOP("ExportDialog", "Studio standard; more headroom than 16-bit.")),
    ("wav32f", QT_TRANSLATE_NOOP("ExportDialog", "WAV 32-bit float"),
     QT_TRANSLATE_NOOP("ExportDialog", "Exact copy of the mix; for further processing.")),
    ("flac", QT_TRANSLATE_NOOP("ExportDialog", "FLAC"),
     QT_TRANSLATE_NOOP("ExportDialog", "Lossless (24-bit), about half the size of WAV.")),
    ("mp3", QT_TRANSLATE_NOOP("ExportDialog", "MP3"),
     QT_TRANSLATE_NOOP("ExportDialog", "Lossy and small; for sharing, not for mastering.")),
)
SUFFIXES = {"wav16": ".wav", "wav24": ".wav", "wav32f": ".wav", "flac": ".flac", "mp3": ".mp3"}
DEFAULT_FORMAT = "wav24"
STEM_LINES = 6  # stem file names listed in the dialog before "… and N more"


@dataclass(frozen=True)
class ExportChoice:
    """What the musician asked for. `destination` is a file (mix) or a folder (stems);
    `use_selection` is only ever True for a mix when a time selection exists."""

    kind: str  # "mix" | "stems"
    fmt: str  # a key of FORMATS
    destination: Path
    use_selection: bool
    with_lrc: bool = False  # also write the timeline's synced lyrics as <mix>.lrc


def with_suffix_for(path: str, fmt: str) -> str:
    """'song.wav' + flac -> 'song.flac'; a name without a known audio suffix gets one added."""
    if not path.strip():
        return path
    p = Path(path)
    if p.suffix.lower() in (".wav", ".flac", ".mp3"):
        p = p.with_suffix("")
    return str(p) + SUFFIXES[fmt]


class ExportMemory:
    """Last export's choices in QSettings: format, mix folder, stems folder, range preference."""

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def _get(self, key: str, default: str) -> str:
        value = self.settings.value(f"export/{key}", default)
        return str(value) if value is not None else default

    @property
    def fmt(self) -> str:
        fmt = self._get("format", DEFAULT_FORMAT)
        return fmt if fmt in SUFFIXES else DEFAULT_FORMAT

    def folder(self, kind: str) -> str:
        return self._get(f"{kind}_folder", "")

    @property
    def use_selection(self) -> bool:
        return self._get("use_selection", "false") == "true"

    def remember(self, choice: ExportChoice) -> None:
        s = self.settings
        s.setValue("export/format", choice.fmt)
        folder = choice.destination if choice.kind == "stems" else choice.destination.parent
        s.setValue(f"export/{choice.kind}_folder", str(folder))
        if choice.kind == "mix":
            s.setValue("export/use_selection", "true" if choice.use_selection else "false")
        s.sync()


class ExportDialog(QDialog):
    """Mix or stems, format, range, destination; `choice()` after it is accepted.

    Args:
        kind: the preselected "mix" or "stems" (the menu item used).
        fmt: the preselected format.
        mix_path: suggested file for the mix.
        stems_folder: suggested folder for stems.
        whole_text: e.g. "0:00.000 – 0:10.000 (10.0 s)".
        selection_text: the time selection, described the same way, or None when there is none.
        use_selection: preselect the time selection (when there is one).
        stem_names: fmt -> the file names export_stems will write, in track order.
        empty: the project has no audio yet (nothing to export; said in the dialog).
    """

    def __init__(
        self,
        parent: QWidget | None,
        *,
        kind: str,
        fmt: str,
        mix_path: str,
        stems_folder: str,
        whole_text: str,
        selection_text: str | None,
        use_selection: bool,
        stem_names: Callable[[str], list[str]],
        empty: bool = False,
        has_lyrics: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle(self.tr("Export"))
        self._stem_names = stem_names
        self._has_selection = selection_text is not None
        self._empty = empty

        # What
        self.mix_radio = QRadioButton(self.tr("Mix — one file of everything you hear"))
        self.stems_radio = QRadioButton(self.tr("Stems — one file per track"))
        self._kind_group = QButtonGroup(self)
        for b in (self.mix_radio, self.stems_radio):
            self._kind_group.addButton(b)
        what = _column(self.mix_radio, self.stems_radio)

        # Format
        self.format_combo = QComboBox()
        for key, label, _hint in FORMATS:
            self.format_combo.addItem(self.tr(label), key)
        self.format_hint = _hint_label()
        fmt_box = _column(self.format_combo, self.format_hint)

        # Range
        self.whole_radio = QRadioButton(self.tr("Whole project   {0}").format(whole_text))
        self.selection_radio = QRadioButton(
            self.tr("Time selection   {0}").format(selection_text) if selection_text
            else self.tr("Time selection   (none — drag on the ruler or a lane to make one)")
        )
        self._range_group = QButtonGroup(self)
        for b in (self.whole_radio, self.selection_radio):
            self._range_group.addButton(b)
        self.range_hint = _hint_label()
        range_box = _column(self.whole_radio, self.selection_radio, self.range_hint)

        # Destination: a file for the mix, a folder for stems
        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("exportPath")
        self.path_edit.setMinimumWidth(420)
        self.browse_button = QPushButton(self.tr("Choose…"))
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        self.files_label = _hint_label()
        self.files_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        dest_box = QWidget()
        dest_col = QVBoxLayout(dest_box)
        dest_col.setContentsMargins(0, 0, 0, 0)
        dest_col.addLayout(row)
        dest_col.addWidget(self.files_label)

        self._has_lyrics = has_lyrics
        self.lrc_check = QCheckBox(self.tr("Also write the synced lyrics (.lrc) beside the mix"))
        self.lrc_check.setObjectName("exportLrc")
        self.lrc_check.setChecked(has_lyrics)
        self.lrc_check.setToolTip(self.tr("Players that show karaoke lyrics read this file") if has_lyrics else
                                  self.tr("No take on the timeline has synced lyrics yet: score the takes first"))
        dest_col.addWidget(self.lrc_check)

        self.error_label = QLabel()
        self.error_label.setObjectName("exportError")
        self.error_label.setStyleSheet("color: #ff7a7a;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setVerticalSpacing(14)
        form.addRow(self.tr("Export:"), what)
        form.addRow(self.tr("Format:"), fmt_box)
        form.addRow(self.tr("Range:"), range_box)
        self.dest_title = QLabel()
        form.addRow(self.dest_title, dest_box)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton(self.tr("Export"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        self.buttons.accepted.connect(self._try_accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        # The two destinations are kept apart so switching mix <-> stems loses neither.
        self._paths = {"mix": with_suffix_for(mix_path, fmt), "stems": stems_folder}
        self._kind = kind
        self._mix_uses_selection = use_selection and self._has_selection
        (self.stems_radio if kind == "stems" else self.mix_radio).setChecked(True)
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(fmt)))
        (self.selection_radio if self._mix_uses_selection and kind == "mix" else self.whole_radio).setChecked(True)
        self.path_edit.setText(self._paths[kind])

        self._kind_group.buttonToggled.connect(self._on_kind)
        self.format_combo.currentIndexChanged.connect(self._on_format)
        self.browse_button.clicked.connect(self._browse)
        self.path_edit.textChanged.connect(self._refresh_files)
        self._refresh()

    # --- reading back ----------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return "stems" if self.stems_radio.isChecked() else "mix"

    @property
    def fmt(self) -> str:
        return str(self.format_combo.currentData())

    def choice(self) -> ExportChoice:
        path = self.path_edit.text().strip()
        if self.kind == "mix":
            path = with_suffix_for(path, self.fmt)
        return ExportChoice(
            kind=self.kind,
            fmt=self.fmt,
            destination=Path(path).expanduser(),
            use_selection=self.kind == "mix" and self._has_selection and self.selection_radio.isChecked(),
            with_lrc=self.kind == "mix" and self._has_lyrics and self.lrc_check.isChecked(),
        )

    # --- reactions -------------------------------------------------------------------------
    def _on_kind(self, _button, checked: bool) -> None:
        if not checked:
            return
        self._paths[self._kind] = self.path_edit.text()
        self._kind = self.kind
        # Stems are whole-project: show that, and give the mix its own range choice back later.
        if self._kind == "stems":
            self._mix_uses_selection = self.selection_radio.isChecked()
            self.whole_radio.setChecked(True)
        elif self._mix_uses_selection:
            self.selection_radio.setChecked(True)
        self.path_edit.setText(self._paths[self._kind])
        self._refresh()

    def _on_format(self) -> None:
        if self.kind == "mix":
            self.path_edit.setText(with_suffix_for(self.path_edit.text(), self.fmt))
        self._refresh()

    def _refresh(self) -> None:
        stems = self.kind == "stems"
        self.format_hint.setText(self.tr(dict((k, h) for k, _l, h in FORMATS)[self.fmt]))
        self.dest_title.setText(self.tr("Folder:") if stems else self.tr("File:"))
        self.path_edit.setPlaceholderText(self.tr("a folder for the stem files") if stems else self.tr("the file to write"))
        # Stems always span the whole project so they line up; the range choice is for the mix.
        self.whole_radio.setEnabled(not stems)
        self.selection_radio.setEnabled(not stems and self._has_selection)
        if stems:
            self.range_hint.setText(self.tr("Stems always cover the whole project, so they line up when imported together."))
        else:
            self.range_hint.setText("")
        self.range_hint.setVisible(stems)
        self.export_button.setText(self.tr("Export Stems") if stems else self.tr("Export Mix"))
        self.lrc_check.setVisible(not stems)
        self.lrc_check.setEnabled(self._has_lyrics)
        self._refresh_files()
        self.adjustSize()

    def _refresh_files(self) -> None:
        self.error_label.hide()
        if self.kind == "mix":
            self.files_label.setVisible(False)
            return
        names = self._stem_names(self.fmt)
        if not names:
            text = self.tr("The project has no tracks: nothing to write.")
        else:
            # One name a line (they are what the musician will look for in the folder); a long
            # track list is cut so the dialog keeps its size.
            shown = names if len(names) <= STEM_LINES else names[: STEM_LINES - 1]
            heading = (self.tr("Writes {0} file into this folder:") if len(names) == 1
                       else self.tr("Writes {0} files into this folder:")).format(len(names))
            lines = [heading, *shown]
            if len(shown) < len(names):
                lines.append(self.tr("… and {0} more").format(len(names) - len(shown)))
            text = "\n".join(lines)
        self.files_label.setText(text)
        self.files_label.setVisible(True)

    def _browse(self) -> None:
        current = self.path_edit.text().strip()
        if self.kind == "stems":
            chosen = dialogs.ask_export_folder(self, current)
        else:
            chosen = dialogs.ask_export_path(self, current, self.fmt)
            chosen = with_suffix_for(chosen, self.fmt) if chosen else chosen
        if chosen:
            self.path_edit.setText(chosen)

    def _try_accept(self) -> None:
        """Accept only a usable destination; say what is wrong right here, not in a popup."""
        problem = self._problem()
        if problem:
            self.error_label.setText(problem)
            self.error_label.show()
            return
        self.accept()

    def _problem(self) -> str:
        text = self.path_edit.text().strip()
        if not text:
            return self.tr("Choose a folder for the stems.") if self.kind == "stems" else self.tr(
                "Choose a file name for the mix.")
        path = Path(text).expanduser()
        if self._empty:
            return self.tr("The project has no audio yet: import or generate some first.")
        if self.kind == "stems":
            if path.exists() and not path.is_dir():
                return self.tr("{0} is a file, not a folder.").format(path)
            if not self._stem_names(self.fmt):
                return self.tr("The project has no tracks, so there are no stems to export.")
            return ""
        if path.is_dir():
            return self.tr("{0} is a folder; type a file name for the mix.").format(path)
        if not path.parent.is_dir():
            return self.tr("The folder {0} does not exist.").format(path.parent)
        return ""


def _column(*widgets: QWidget) -> QWidget:
    box = QWidget()
    col = QVBoxLayout(box)
    col.setContentsMargins(0, 0, 0, 0)
    col.setSpacing(4)
    for w in widgets:
        col.addWidget(w)
    return box


def _hint_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    # A muted but readable grey on the dark theme (placeholder-text grey was near-invisible).
    label.setStyleSheet("color: #a8adb4;")
    return label
