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

from PySide6.QtCore import QCoreApplication, QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QProgressDialog

from desktop import dialogs
from desktop.export_dialog import ExportChoice, ExportDialog, ExportMemory
from desktop.timeline.grid import format_seconds
from engine.errors import Cancelled, LegatoError
from engine.project import Project
from engine.project.commands import AddClip, AddTrack
from engine.timebase import samples_to_seconds, seconds_to_samples

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
        # Export choices are remembered here; tests point it at a temporary .ini file.
        self.export_settings = QSettings("Legato", "Legato")

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
            self.window.show_status(self.tr("Autosave failed: {0}").format(exc))

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
                dialogs.show_error(self.window, self.tr("Could not recover"), str(exc))
            else:
                self.set_project(project)
                self.window.show_status(self.tr("Recovered the unsaved project — save it to keep it"))
        discard()

    def maybe_save(self, verb: str) -> bool:
        """True when it is fine to throw the current project away (saved, discarded).

        `verb` (translated) ends the question: "Save them before you <verb>?"
        """
        if self.project is None or self.project.history.is_clean:
            return True
        answer = dialogs.ask_save_changes(self.window, self.project.name, verb)
        if answer == "save":
            return self.save()
        return answer == "discard"

    def new_project(self) -> None:
        if self.maybe_save(self.tr("start a new project")):
            self.set_project(Project(self.tr("Untitled")))

    def open_project(self, path: str | None = None) -> bool:
        if not self.maybe_save(self.tr("open another project")):
            return False
        path = path or dialogs.ask_open_project(self.window)
        if not path:
            return False
        from desktop.controllers import engine_io

        try:
            project = engine_io.load(path)
        except (LegatoError, OSError, ValueError) as exc:
            # The current project stays as it was: nothing was bound yet.
            dialogs.show_error(self.window, self.tr("Could not open project"), str(exc))
            return False
        self.set_project(project)
        self.window.show_status(self.tr("Opened {0}").format(path))
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
            dialogs.show_error(self.window, self.tr("Could not save project"), str(exc))
            return False
        self.project.history.mark_clean()
        if self._autosaver is not None:
            self._autosaver.discard()
        self.window.update_title()
        self.window.show_status(self.tr("Saved {0}").format(path))
        return True

    # --- import ----------------------------------------------------------------------------
    def add_track(self) -> None:
        self.project.history.push(AddTrack(self.tr("Track {0}").format(len(self.project.tracks) + 1)))

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
                dialogs.show_error(self.window, self.tr("Could not import audio"), str(exc))
            finally:
                QApplication.restoreOverrideCursor()
        if not assets:
            return []
        history = self.project.history
        position = int(seconds_to_samples(time_s))
        clip_ids = []
        text = self.tr("Import audio") if len(assets) == 1 else self.tr("Import {0} files").format(len(assets))
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
        self.window.show_status(self.tr("Imported {0} file(s)").format(len(assets)))
        return clip_ids

    # --- export ----------------------------------------------------------------------------
    def export_mix(self, path: str | None = None, fmt: str | None = None) -> bool | None:
        """Export the mix: to `path` directly (scripts, tests), or via the export dialog.

        With the dialog it returns None at once; the export runs when the dialog is accepted.
        """
        if path is None:
            self.open_export_dialog("mix")
            return None
        from desktop.controllers import engine_io

        return self._export(ExportChoice("mix", fmt or engine_io.format_for(path), Path(path), False))

    def export_stems(self, folder: str | None = None, fmt: str = "wav24") -> bool | None:
        """Export one file per track into `folder` directly, or via the export dialog."""
        if folder is None:
            self.open_export_dialog("stems")
            return None
        return self._export(ExportChoice("stems", fmt, Path(folder), False))

    def open_export_dialog(self, kind: str) -> ExportDialog:
        """Show the export options (window-modal, non-blocking); Export runs `_export`.

        The dialog starts from the last export's format and folders (QSettings) and offers
        the time selection when there is one.
        """
        from engine.audio.export import project_lrc
        from engine.audio.render_plan import build_render_plan

        memory = ExportMemory(self.export_settings)
        plan = build_render_plan(self.project)
        selection = self.window.selection.time_range
        mix_folder = memory.folder("mix") or _home()
        stems_folder = memory.folder("stems") or str(Path(mix_folder) / self.tr("{0} stems").format(self.project.name))
        dialog = ExportDialog(
            self.window,
            kind=kind,
            fmt=memory.fmt,
            mix_path=str(Path(mix_folder) / f"{self.project.name}.wav"),
            stems_folder=stems_folder,
            whole_text=_describe_range(0, plan.length),
            selection_text=_describe_range(selection.start, selection.end) if selection and selection.length else None,
            use_selection=memory.use_selection,
            stem_names=lambda fmt: _stem_names(plan, self.project, fmt),
            empty=plan.length == 0,
            has_lyrics=bool(project_lrc(self.project)),
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)

        def on_accepted() -> None:
            choice = dialog.choice()
            memory.remember(choice)
            self._export(choice)

        dialog.accepted.connect(on_accepted)
        dialog.open()
        return dialog

    def _export(self, choice: ExportChoice) -> bool:
        """Map a choice onto the engine's exporter, behind the progress dialog."""
        from desktop.controllers import engine_io

        project, fmt, dest = self.project, choice.fmt, choice.destination
        if choice.kind == "stems":
            from engine.audio.render_plan import build_render_plan

            names = _stem_names(build_render_plan(project), project, fmt)
            existing = [n for n in names if (dest / n).exists()]
            if existing and not dialogs.ask_overwrite(self.window, existing):
                return False
            try:
                dest.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                dialogs.show_error(self.window, self.tr("Export failed"),
                                   self.tr("Could not create the folder {0}: {1}").format(dest, exc))
                return False
            return self._with_progress(
                self.tr("Exporting stems…"),
                lambda cb: engine_io.export_stems(project, str(dest), fmt, cb),
                parts=len(names),
                done_text=self.tr("Exported {0} stems to {1}").format(len(names), dest),
            )
        if dest.exists() and not dialogs.ask_overwrite(self.window, [dest.name]):
            return False
        rng = self.window.selection.time_range if choice.use_selection else None
        if rng is None:
            work = lambda cb: engine_io.export_mix(project, str(dest), fmt, cb)  # noqa: E731
        else:
            work = lambda cb: _export_mix_range(project, dest, fmt, rng.start, rng.end, cb)  # noqa: E731
        done = self._with_progress(self.tr("Exporting mix…"), work, done_text=self.tr("Exported the mix to {0}").format(dest))
        if done and choice.with_lrc:
            from engine.audio.export import project_lrc, write_lrc_beside

            try:
                lrc = write_lrc_beside(dest, project_lrc(project, *(() if rng is None else (rng.start, rng.end))))
            except LegatoError as exc:
                dialogs.show_error(self.window, self.tr("Export failed"), str(exc))
                return False
            if lrc is not None:
                self.window.show_status(self.tr("Exported the mix to {0} and its synced lyrics to {1}").format(
                    dest, lrc.name))
        return done

    def _with_progress(self, label: str, work, parts: int = 1, done_text: str | None = None) -> bool:
        """Run an export on the main thread with a modal progress dialog that can cancel it.

        The exporter calls `progress(done, total)` per block; processing events there keeps
        the window alive and lets the Cancel button reach the exporter (Cancelled). Stems
        report per stem (done restarts at 1 for each), so with `parts` > 1 the bar shows the
        whole job: part index + fraction of the current part.
        """
        dialog = QProgressDialog(label, self.tr("Cancel"), 0, 1000, self.window)
        dialog.setObjectName("exportProgress")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setValue(0)

        state = {"part": 0, "finished": False}

        def progress(done: int, total: int) -> None:
            if state["finished"]:  # the last part reported done == total: this is the next one
                state["part"] = min(parts - 1, state["part"] + 1)
            state["finished"] = done >= total
            if parts > 1:
                dialog.setLabelText(self.tr("Exporting stem {0} of {1}…").format(state["part"] + 1, parts))
            fraction = (state["part"] + done / max(1, total)) / max(1, parts)
            dialog.setValue(int(1000 * fraction))
            QApplication.processEvents()
            if dialog.wasCanceled():
                raise Cancelled("export cancelled")

        try:
            work(progress)
        except Cancelled:
            self.window.show_status(self.tr("Export cancelled"))
            return False
        except (LegatoError, OSError) as exc:
            dialogs.show_error(self.window, self.tr("Export failed"), str(exc))
            return False
        finally:
            dialog.close()
            dialog.deleteLater()
        self.window.show_status(self.tr("Export finished") if done_text is None else done_text)
        return True

    def shutdown(self) -> None:
        self._autosave_timer.stop()
        if self._autosaver is not None:
            self._autosaver.discard()  # a clean exit leaves nothing to recover


def _export_mix_range(project, path: Path, fmt: str, start: int, end: int, progress) -> None:
    """The mix over [start, end) samples. engine_io.export_mix has no range argument (its owner
    may add one); engine.audio.export.export_mix does, so call it with the same context."""
    from engine.audio.export import export_mix as engine_export_mix
    from engine.audio.render_plan import build_render_plan
    from engine.jobs.context import JobContext

    ctx = JobContext(on_progress=lambda p: progress(p.step, p.total))
    engine_export_mix(build_render_plan(project), path, fmt, ctx=ctx, start=start, end=end)


def _stem_names(plan, project, fmt: str) -> list[str]:
    """The file names export_stems writes, in the same order, for the dialog and the overwrite check."""
    from engine.audio.export import stem_file_name

    names = {t.id: t.name for t in project.tracks}
    return [stem_file_name(i, names.get(tid, tid), fmt) for i, tid in enumerate(plan.track_ids)]


def _describe_range(start: int, end: int) -> str:
    """'0:04.000 – 0:12.000 (8.0 s)' for samples at 48 kHz."""
    a, b = samples_to_seconds(start), samples_to_seconds(end)
    return QCoreApplication.translate("DocumentController", "{0} – {1}  ({2:.1f} s)").format(
        format_seconds(a, True), format_seconds(b, True), b - a)


def _home() -> str:
    from PySide6.QtCore import QStandardPaths

    music = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MusicLocation)
    return music if music and Path(music).is_dir() else str(Path.home())


def _default_recovery_dir() -> Path:
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or os.path.expanduser("~/.legato")) / "recovery"
