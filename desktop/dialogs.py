"""Every modal question the app asks, in one place (tests replace or auto-close these)."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget


def _tr(text: str) -> str:
    return QCoreApplication.translate("Dialogs", text)


# Marked for translation here, translated when a dialog opens (a translator installed after
# import must still apply): so these are source texts, never shown as they are.
AUDIO_FILTER = QT_TRANSLATE_NOOP("Dialogs", "Audio files (*.wav *.flac *.ogg *.mp3 *.aif *.aiff);;All files (*)")
# The export dialog already chose the format; the file picker only filters for its suffix.
_WAV_FILTER = QT_TRANSLATE_NOOP("Dialogs", "WAV (*.wav)")
EXPORT_FILTERS = {"wav16": _WAV_FILTER, "wav24": _WAV_FILTER, "wav32f": _WAV_FILTER,
                  "flac": QT_TRANSLATE_NOOP("Dialogs", "FLAC (*.flac)"), "mp3": QT_TRANSLATE_NOOP("Dialogs", "MP3 (*.mp3)")}


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorDialog")
    box.exec()


def ask_save_changes(parent: QWidget | None, name: str, verb: str) -> str:
    """'save' | 'discard' | 'cancel'. `verb` is already translated by the caller."""
    box = QMessageBox(parent)
    box.setObjectName("saveChangesDialog")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(_tr("Unsaved changes"))
    box.setText(_tr("“{0}” has unsaved changes.").format(name))
    box.setInformativeText(_tr("Save them before you {0}?").format(verb.lower()))
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
        _tr("Recover unsaved project?"),
        _tr("Legato did not close cleanly last time.\n\n{0}\n\nRecover the unsaved project?").format(description),
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_open_project(parent: QWidget | None) -> str:
    return QFileDialog.getExistingDirectory(parent, _tr("Open project (a .legato folder)"))


def ask_save_project(parent: QWidget | None, suggested: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, _tr("Save project as"), suggested, _tr("Legato project (*.legato)"))
    return path


def ask_import_paths(parent: QWidget | None) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, _tr("Import audio"), "", _tr(AUDIO_FILTER))
    return paths


def ask_export_path(parent: QWidget | None, suggested: str, fmt: str = "wav24") -> str:
    # No overwrite question here: the export dialog asks once, when Export is pressed.
    filters = _tr(EXPORT_FILTERS[fmt]) if fmt in EXPORT_FILTERS else ""
    path, _ = QFileDialog.getSaveFileName(parent, _tr("Export mix as"), suggested, filters,
                                          options=QFileDialog.Option.DontConfirmOverwrite)
    return path


def ask_export_folder(parent: QWidget | None, start: str = "") -> str:
    return QFileDialog.getExistingDirectory(parent, _tr("Export stems into folder"), start)


def ask_overwrite(parent: QWidget | None, names: list[str]) -> bool:
    """True when the musician agrees to replace existing files (export writes them anew)."""
    more = len(names) - 6
    listed = "\n".join(names[:6]) + (_tr("\n… and {0} more").format(more) if more > 0 else "")
    if len(names) == 1:
        text = _tr("This file already exists:\n\n{0}\n\nReplace it?").format(listed)
    else:
        text = _tr("These {0} files already exist:\n\n{1}\n\nReplace them?").format(len(names), listed)
    answer = QMessageBox.question(
        parent,
        _tr("Replace existing files?"),
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_audio_file(parent: QWidget | None, title: str | None = None) -> str:
    caption = _tr("Choose audio") if title is None else title
    path, _ = QFileDialog.getOpenFileName(parent, caption, "", _tr(AUDIO_FILTER))
    return path


def ask_take_export_folder(parent: QWidget | None, start: str = "") -> str:
    return QFileDialog.getExistingDirectory(parent, _tr("Export take into folder"), start)


def ask_models_folder(parent: QWidget | None, start: str = "") -> str:
    return QFileDialog.getExistingDirectory(parent, _tr("Choose the models (checkpoints) folder"), start)
