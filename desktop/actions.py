"""The window's QActions with their shortcuts, grouped by menu. Built once, wired by the window."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


def _tr(text: str) -> str:
    return QCoreApplication.translate("Actions", text)


def _action(parent: QWidget, text: str, shortcuts=(), tip: str = "", checkable: bool = False) -> QAction:
    action = QAction(text, parent)
    keys = [QKeySequence(s) if isinstance(s, str) else QKeySequence(s) for s in shortcuts]
    if keys:
        action.setShortcuts(keys)
        # Window-wide, so shortcuts work whichever child has focus (line edits still take text).
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.setCheckable(checkable)
    parent.addAction(action)
    return action


@dataclass
class Actions:
    new: QAction
    open: QAction
    save: QAction
    save_as: QAction
    import_audio: QAction
    export_mix: QAction
    export_stems: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    split: QAction
    delete: QAction
    duplicate: QAction
    clear_selection: QAction
    add_track: QAction
    zoom_in: QAction
    zoom_out: QAction
    zoom_fit: QAction
    snap: QAction
    play: QAction
    stop: QAction
    loop: QAction

    @classmethod
    def build(cls, w: QWidget) -> Actions:
        K = QKeySequence.StandardKey
        return cls(
            new=_action(w, _tr("&New Project"), [K.New], _tr("Start an empty project")),
            open=_action(w, _tr("&Open Project…"), [K.Open], _tr("Open a .legato project folder")),
            save=_action(w, _tr("&Save"), ["Ctrl+S"], _tr("Save the project")),
            save_as=_action(w, _tr("Save &As…"), ["Ctrl+Shift+S"], _tr("Save the project under a new name")),
            import_audio=_action(w, _tr("&Import Audio…"), ["Ctrl+I"], _tr("Import WAV/FLAC/OGG/MP3 as new tracks")),
            export_mix=_action(w, _tr("Export &Mix…"), ["Ctrl+E"], _tr("Render the mix to an audio file")),
            export_stems=_action(w, _tr("Export S&tems…"), [], _tr("Render each track to its own file")),
            quit=_action(w, _tr("&Quit"), [K.Quit], _tr("Quit Legato")),
            undo=_action(w, _tr("&Undo"), ["Ctrl+Z"], _tr("Undo the last edit")),
            redo=_action(w, _tr("&Redo"), ["Ctrl+Shift+Z", "Ctrl+Y"], _tr("Redo the edit undone last")),
            split=_action(w, _tr("S&plit at Playhead"), ["S"], _tr("Cut the selected clips (or all) at the playhead")),
            delete=_action(w, _tr("&Delete Clips"), [QKeySequence(Qt.Key.Key_Delete), "Backspace"],
                           _tr("Delete the selected clips")),
            duplicate=_action(w, _tr("D&uplicate Clips"), ["Ctrl+D"], _tr("Copy the selected clips after themselves")),
            clear_selection=_action(w, _tr("Clear Selection"), ["Escape"], _tr("Deselect clips and the time range")),
            add_track=_action(w, _tr("Add &Track"), ["Ctrl+T"], _tr("Add an empty audio track")),
            zoom_in=_action(w, _tr("Zoom &In"), ["+", "=", "Ctrl+="], _tr("Zoom in around the playhead")),
            zoom_out=_action(w, _tr("Zoom &Out"), ["-", "Ctrl+-"], _tr("Zoom out around the playhead")),
            zoom_fit=_action(w, _tr("Zoom to &Fit"), ["Ctrl+0"], _tr("Show the whole song")),
            snap=_action(w, _tr("S&nap to Grid"), ["Ctrl+G"], _tr("Snap edits to bars/beats"), checkable=True),
            play=_action(w, _tr("&Play / Pause"), ["Space"], _tr("Start or pause playback")),
            stop=_action(w, _tr("&Stop"), ["Shift+Space"], _tr("Stop and return to where playback started")),
            loop=_action(w, _tr("&Loop Selection"), ["L"], _tr("Loop the selected time range"), checkable=True),
        )
