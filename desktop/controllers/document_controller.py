"""Files: new/open/save/save-as, import (menu and drop), export with progress, autosave and
recovery, the unsaved-changes question on close.

Engine calls only: loading/saving is engine.project.io, decoding engine.audio.files, the
offline mix engine.audio's exporter; edits go through commands (AddTrack/AddClip in one
group per import). Errors arrive as LegatoError subclasses with user-facing messages and
are shown in a dialog; the current project is untouched when an open fails.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QProgressDialog

from desktop import dialogs
from engine.errors import Cancelled, LegatoError
from engine.project import Project
from engine.project.commands import AddClip, AddTrack
from engine.timebase import seconds_to_samples

AUTOSAVE_INTERVAL_MS = 30_000


class DocumentController(QObject):
    def __init__(self, window, autosave_dir=None) -> None:
        super().__init__(window)
        self.window = window
        self.project: Project | None = None
        self._autosave_dir = Path(autosave_dir) if autosave_dir else _default_recovery_dir()
        self._autosaved_revision = -1
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(AUTOSAVE_INTERVAL_MS)
        self._autosave_timer.timeout.connect(self.autosave_now)
        self._autosaver = None

    def wire_actions(self, a) -> None:
        a.new.triggered.connect(self.new_project)
        a.open.triggered.connect(lambda: self.open_project())
        a.save.triggered.connect(self.save)
        a.save_as.triggered.connect(lambda: self.save_as())
        a.import_audio.triggered.connect(self.import_from_menu)
        a.export_mix.triggered.connect(lambda: self.export_mix())
        a.export_stems.triggered.connect(lambda: self.export_stems())
        a.add_track.triggered.connect(self.add_track)

    # --- project lifecycle -----------------------------------------------------------------
    def set_project(self, project: Project) -> None:
        self.project = project
        self.window.bind_project(project)
        self._autosaved_revision = project.history.revision
        self._start_autosave()

    def _start_autosave(self) -> None:
        from desktop.controllers import engine_io

        if self._autosaver is not None:
            self._autosaver.discard()  # the previous project's recovery copy is moot now
        self._autosaver = engine_io.make_autosaver(self.project, self._autosave_dir)
        self._autosave_timer.start()

    def autosave_now(self) -> None:
        """Write the recovery copy if anything changed since the last one (timer slot)."""
        if self._autosaver is None or self.project is None:
            return
        if self.project.history.revision == self._autosaved_revision:
            return
        try:
            self._autosaver.tick()
            self._autosaved_revision = self.project.history.revision
        except LegatoError as exc:
            self.window.show_status(f"Autosave failed: {exc}")

    def offer_recovery(self) -> None:
        from desktop.controllers import engine_io

        found = engine_io.find_recovery(self._autosave_dir)
        if found is None:
            return
        description, load, discard = found
        if dialogs.ask_recover(self.window, description):
            try:
                project = load()
            except LegatoError as exc:
                dialogs.show_error(self.window, "Could not recover", str(exc))
            else:
                self.set_project(project)
                self.window.show_status("Recovered the unsaved project — save it to keep it")
        discard()

    def maybe_save(self, verb: str) -> bool:
        """True when it is fine to throw the current project away (saved, discarded)."""
        if self.project is None or self.project.history.is_clean:
            return True
        answer = dialogs.ask_save_changes(self.window, self.project.name, verb)
        if answer == "save":
            return self.save()
        return answer == "discard"

    def new_project(self) -> None:
        if self.maybe_save("start a new project"):
            self.set_project(Project("Untitled"))

    def open_project(self, path: str | None = None) -> bool:
        if not self.maybe_save("open another project"):
            return False
        path = path or dialogs.ask_open_project(self.window)
        if not path:
            return False
        from desktop.controllers import engine_io

        try:
            project = engine_io.load(path)
        except (LegatoError, OSError, ValueError) as exc:
            # The current project stays as it was: nothing was bound yet.
            dialogs.show_error(self.window, "Could not open project", str(exc))
            return False
        self.set_project(project)
        self.window.show_status(f"Opened {path}")
        return True

    def save(self) -> bool:
        if self.project.path is None:
            return self.save_as()
        return self._save_to(self.project.path)

    def save_as(self, path: str | None = None) -> bool:
        path = path or dialogs.ask_save_project(self.window, f"{self.project.name}.legato")
        if not path:
            return False
        if not str(path).endswith(".legato"):
            path = f"{path}.legato"
        return self._save_to(path)

    def _save_to(self, path) -> bool:
        from desktop.controllers import engine_io

        try:
            engine_io.save(self.project, path)
        except (LegatoError, OSError) as exc:
            dialogs.show_error(self.window, "Could not save project", str(exc))
            return False
        self.project.history.mark_clean()
        if self._autosaver is not None:
            self._autosaver.discard()
        self.window.update_title()
        self.window.show_status(f"Saved {path}")
        return True

    # --- import ----------------------------------------------------------------------------
    def add_track(self) -> None:
        self.project.history.push(AddTrack(f"Track {len(self.project.tracks) + 1}"))

    def import_from_menu(self) -> None:
        paths = dialogs.ask_import_paths(self.window)
        if paths:
            self.import_files(paths, "", self.window.transport.position_s())

    def import_files(self, paths: list[str], track_id: str, time_s: float) -> list[str]:
        """Decode each file and place it: on `track_id` (one after another) or on new tracks.

        One undo step for the whole drop. Returns the new clip ids.
        """
        from engine.audio.files import import_audio

        assets = []
        for path in paths:
            try:
                QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
                assets.append((path, import_audio(self.project.assets, path)))
            except LegatoError as exc:
                dialogs.show_error(self.window, "Could not import audio", str(exc))
            finally:
                QApplication.restoreOverrideCursor()
        if not assets:
            return []
        history = self.project.history
        position = int(seconds_to_samples(time_s))
        clip_ids = []
        text = "Import audio" if len(assets) == 1 else f"Import {len(assets)} files"
        with history.group(text):
            for path, asset in assets:
                name = Path(path).stem
                target = track_id
                if not target:
                    target = history.push(AddTrack(name)).track_id
                    pos = position
                else:
                    pos = position
                    position += asset.frames  # several files on one track: one after another
                clip_ids.append(history.push(AddClip(target, asset.id, pos, name=name)).clip_id)
        self.window.show_status(f"Imported {len(assets)} file(s)")
        return clip_ids

    # --- export ----------------------------------------------------------------------------
    def export_mix(self, path: str | None = None, fmt: str | None = None) -> bool:
        path = path or dialogs.ask_export_path(self.window, f"{self.project.name}.wav")
        if not path:
            return False
        from desktop.controllers import engine_io

        fmt = fmt or engine_io.format_for(path)
        return self._with_progress("Exporting mix…", lambda cb: engine_io.export_mix(self.project, path, fmt, cb))

    def export_stems(self, folder: str | None = None, fmt: str = "wav24") -> bool:
        folder = folder or dialogs.ask_export_folder(self.window)
        if not folder:
            return False
        from desktop.controllers import engine_io

        return self._with_progress(
            "Exporting stems…", lambda cb: engine_io.export_stems(self.project, folder, fmt, cb)
        )

    def _with_progress(self, label: str, work) -> bool:
        """Run an export on the main thread with a modal progress dialog that can cancel it.

        The exporter calls `progress(done, total)` per block; processing events there keeps
        the window alive and lets the Cancel button reach the exporter (Cancelled).
        """
        dialog = QProgressDialog(label, "Cancel", 0, 1000, self.window)
        dialog.setObjectName("exportProgress")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setValue(0)

        def progress(done: int, total: int) -> None:
            dialog.setValue(int(1000 * done / max(1, total)))
            QApplication.processEvents()
            if dialog.wasCanceled():
                raise Cancelled("export cancelled")

        try:
            work(progress)
        except Cancelled:
            self.window.show_status("Export cancelled")
            return False
        except (LegatoError, OSError) as exc:
            dialogs.show_error(self.window, "Export failed", str(exc))
            return False
        finally:
            dialog.close()
            dialog.deleteLater()
        self.window.show_status("Export finished")
        return True

    def shutdown(self) -> None:
        self._autosave_timer.stop()
        if self._autosaver is not None:
            self._autosaver.discard()  # a clean exit leaves nothing to recover


def _default_recovery_dir() -> Path:
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or os.path.expanduser("~/.legato")) / "recovery"
