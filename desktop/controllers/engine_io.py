"""The one place the desktop calls the engine's file, export and autosave functions.

Adapter: if an engine piece this build lacks is called, it raises a LegatoError with a plain
message (shown in a dialog), instead of the desktop growing its own copy.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import LegatoError


def _io():
    try:
        from engine.project import io
    except ImportError as exc:  # pragma: no cover - depends on engine progress
        raise LegatoError("project files are not available in this build (engine.project.io missing)") from exc
    return io


def load(path):
    return _io().load_project(path)


def save(project, path) -> None:
    _io().save_project(project, path)


def make_autosaver(project, folder):
    try:
        from engine.project.io import Autosaver
    except ImportError:
        return None
    return Autosaver(project, folder) if folder is not None else Autosaver(project)


def find_recovery(folder):
    """(description, load()) of a recovery file left by a crash, or None."""
    try:
        from engine.project.io import find_recovery as engine_find
    except ImportError:
        return None
    return engine_find(folder) if folder is not None else engine_find()


def discard_recovery(folder) -> None:
    try:
        from engine.project.io import discard_recovery as engine_discard
    except ImportError:
        return
    engine_discard(folder) if folder is not None else engine_discard()


def format_for(path) -> str:
    suffix = Path(path).suffix.lower()
    return {".flac": "flac", ".mp3": "mp3"}.get(suffix, "wav24")


def _export():
    try:
        from engine.audio import export
    except ImportError as exc:  # pragma: no cover
        raise LegatoError("export is not available in this build (engine.audio.export missing)") from exc
    return export


def export_mix(project, path, fmt, progress) -> None:
    _export().export_mix(project, path, fmt=fmt, progress=progress)


def export_stems(project, folder, fmt, progress) -> None:
    _export().export_stems(project, folder, fmt=fmt, progress=progress)
