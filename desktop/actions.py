"""The window's QActions with their shortcuts, grouped by menu. Built once, wired by the window."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


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
            new=_action(w, "&New Project", [K.New], "Start an empty project"),
            open=_action(w, "&Open Project…", [K.Open], "Open a .legato project folder"),
            save=_action(w, "&Save", ["Ctrl+S"], "Save the project"),
            save_as=_action(w, "Save &As…", ["Ctrl+Shift+S"], "Save the project under a new name"),
            import_audio=_action(w, "&Import Audio…", ["Ctrl+I"], "Import WAV/FLAC/OGG/MP3 as new tracks"),
            export_mix=_action(w, "Export &Mix…", ["Ctrl+E"], "Render the mix to an audio file"),
            export_stems=_action(w, "Export S&tems…", [], "Render each track to its own file"),
            quit=_action(w, "&Quit", [K.Quit], "Quit Legato"),
            undo=_action(w, "&Undo", ["Ctrl+Z"], "Undo the last edit"),
            redo=_action(w, "&Redo", ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo the edit undone last"),
            split=_action(w, "S&plit at Playhead", ["S"], "Cut the selected clips (or all) at the playhead"),
            delete=_action(w, "&Delete Clips", [QKeySequence(Qt.Key.Key_Delete), "Backspace"],
                           "Delete the selected clips"),
            duplicate=_action(w, "D&uplicate Clips", ["Ctrl+D"], "Copy the selected clips after themselves"),
            clear_selection=_action(w, "Clear Selection", ["Escape"], "Deselect clips and the time range"),
            add_track=_action(w, "Add &Track", ["Ctrl+T"], "Add an empty audio track"),
            zoom_in=_action(w, "Zoom &In", ["+", "=", "Ctrl+="], "Zoom in around the playhead"),
            zoom_out=_action(w, "Zoom &Out", ["-", "Ctrl+-"], "Zoom out around the playhead"),
            zoom_fit=_action(w, "Zoom to &Fit", ["Ctrl+0"], "Show the whole song"),
            snap=_action(w, "S&nap to Grid", ["Ctrl+G"], "Snap edits to bars/beats", checkable=True),
            play=_action(w, "&Play / Pause", ["Space"], "Start or pause playback"),
            stop=_action(w, "&Stop", ["Shift+Space"], "Stop and return to where playback started"),
            loop=_action(w, "&Loop Selection", ["L"], "Loop the selected time range", checkable=True),
        )
