"""Every modal question the app asks, in one place (tests replace or auto-close these)."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3 *.aif *.aiff);;All files (*)"
# The export dialog already chose the format; the file picker only filters for its suffix.
EXPORT_FILTERS = {"wav16": "WAV (*.wav)", "wav24": "WAV (*.wav)", "wav32f": "WAV (*.wav)",
                  "flac": "FLAC (*.flac)", "mp3": "MP3 (*.mp3)"}


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorDialog")
    box.exec()


def ask_save_changes(parent: QWidget | None, name: str, verb: str) -> str:
    """'save' | 'discard' | 'cancel'."""
    box = QMessageBox(parent)
    box.setObjectName("saveChangesDialog")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Unsaved changes")
    box.setText(f"“{name}” has unsaved changes.")
    box.setInformativeText(f"Save them before you {verb.lower()}?")
    box.setStandardButtons(
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
    )
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    return {QMessageBox.StandardButton.Save: "save", QMessageBox.StandardButton.Discard: "discard"}.get(
        QMessageBox.StandardButton(answer), "cancel"
    )


def ask_recover(parent: QWidget | None, description: str) -> bool:
    answer = QMessageBox.question(
        parent,
        "Recover unsaved project?",
        f"Legato did not close cleanly last time.\n\n{description}\n\nRecover the unsaved project?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_open_project(parent: QWidget | None) -> str:
    return QFileDialog.getExistingDirectory(parent, "Open project (a .legato folder)")


def ask_save_project(parent: QWidget | None, suggested: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, "Save project as", suggested, "Legato project (*.legato)")
    return path


def ask_import_paths(parent: QWidget | None) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, "Import audio", "", AUDIO_FILTER)
    return paths


def ask_export_path(parent: QWidget | None, suggested: str, fmt: str = "wav24") -> str:
    # No overwrite question here: the export dialog asks once, when Export is pressed.
    path, _ = QFileDialog.getSaveFileName(parent, "Export mix as", suggested, EXPORT_FILTERS.get(fmt, ""),
                                          options=QFileDialog.Option.DontConfirmOverwrite)
    return path


def ask_export_folder(parent: QWidget | None, start: str = "") -> str:
    return QFileDialog.getExistingDirectory(parent, "Export stems into folder", start)


def ask_overwrite(parent: QWidget | None, names: list[str]) -> bool:
    """True when the musician agrees to replace existing files (export writes them anew)."""
    listed = "\n".join(names[:6]) + (f"\n… and {len(names) - 6} more" if len(names) > 6 else "")
    what = "This file already exists" if len(names) == 1 else f"These {len(names)} files already exist"
    answer = QMessageBox.question(
        parent,
        "Replace existing files?",
        f"{what}:\n\n{listed}\n\nReplace {'it' if len(names) == 1 else 'them'}?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_audio_file(parent: QWidget | None, title: str = "Choose audio") -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, "", AUDIO_FILTER)
    return path


def ask_take_export_folder(parent: QWidget | None, start: str = "") -> str:
    return QFileDialog.getExistingDirectory(parent, "Export take into folder", start)


def ask_models_folder(parent: QWidget | None, start: str = "") -> str:
    return QFileDialog.getExistingDirectory(parent, "Choose the models (checkpoints) folder", start)
