"""Every modal question the app asks, in one place (tests replace or auto-close these)."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3 *.aif *.aiff);;All files (*)"
EXPORT_FILTER = "WAV (*.wav);;FLAC (*.flac);;MP3 (*.mp3)"


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


def ask_export_path(parent: QWidget | None, suggested: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, "Export mix", suggested, EXPORT_FILTER)
    return path


def ask_export_folder(parent: QWidget | None) -> str:
    return QFileDialog.getExistingDirectory(parent, "Export stems into folder")
