"""The one place the desktop calls the engine's file, export and autosave functions.

Adapter: if an engine piece this build lacks is called, it raises a LegatoError with a plain
message (shown in a dialog), instead of the desktop growing its own copy.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication

from engine.errors import LegatoError


def _tr(text: str) -> str:
    return QCoreApplication.translate("EngineIO", text)


def _io():
    try:
        from engine.project import io
    except ImportError as exc:  # pragma: no cover - depends on engine progress
        raise LegatoError(_tr("project files are not available in this build (engine.project.io missing)")) from exc
    return io


def load(path):
    return _io().load_project(path)


def save(project, path) -> None:
    _io().save_project(project, path)


def make_autosaver(project, folder):
    """The engine's Autosaver writing into `folder`; the desktop's QTimer sets the cadence, so
    its own interval is 0 (it still skips writes when nothing changed)."""
    from engine.project.io import Autosaver

    return Autosaver(project, folder, interval_s=0.0)


def find_recovery(folder):
    """(description, load(), discard()) for the newest autosave left by a crash, or None."""
    from engine.project.io import discard_recovery as engine_discard
    from engine.project.io import find_recoverable, restore

    found = find_recoverable(folder)
    if not found:
        return None
    rec = found[0]
    description = _tr("“{0}”, autosaved {1}").format(rec.project_name, rec.saved_at)

    def discard() -> None:
        for other in found:
            engine_discard(other)

    return description, (lambda: restore(rec)), discard


def format_for(path) -> str:
    suffix = Path(path).suffix.lower()
    return {".flac": "flac", ".mp3": "mp3"}.get(suffix, "wav24")


def _context(progress):
    from engine.jobs.context import JobContext

    # The dialog's callback raises Cancelled when the user presses Cancel; the exporter's
    # AudioWriter then removes its temp file, so no half-written file is left behind.
    return JobContext(on_progress=lambda p: progress(p.step, p.total))


def export_mix(project, path, fmt, progress) -> None:
    from engine.audio.export import export_mix as engine_export_mix
    from engine.audio.render_plan import build_render_plan

    engine_export_mix(build_render_plan(project), path, fmt, ctx=_context(progress))


def export_stems(project, folder, fmt, progress) -> None:
    from engine.audio.export import export_stems as engine_export_stems
    from engine.audio.render_plan import build_render_plan

    names = {t.id: t.name for t in project.tracks}
    engine_export_stems(build_render_plan(project), folder, fmt, names, ctx=_context(progress))
