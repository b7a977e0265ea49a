"""Autosave and crash recovery: snapshots of the open project in a recovery folder.

Layout: `<recovery_root>/autosave-<id>.legato/` is an ordinary project folder whose
project.json also carries a `"recovery"` object (original path, name, time, revision).

Why the marker lives INSIDE project.json: the snapshot and the "offer me after a crash" marker
must appear together. With a separate recovery.json, a kill between the two renames left newer
work that was never offered (or an old marker over a newer document). Now one atomic rename of
project.json publishes both; assets are written (or hard-linked) before it, so any
project.json that exists is complete. Folders written by older versions (recovery.json next to
project.json) are still offered.

Debris from killed writes (temp files, folders that never got a project.json, assets no
snapshot refers to) is removed by `clean_recovery_root`, which each new Autosaver runs once;
only things older than STALE_TEMP_AGE_S go, so another running Legato is never disturbed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf

from engine.errors import ProjectFileError
from engine.project.assets import Asset
from engine.project.io import (
    AUDIO_DIR,
    MAX_PROJECT_JSON_BYTES,
    PROJECT_FILE,
    PROJECT_SUFFIX,
    RECOVERY_FILE,
    STALE_TEMP_AGE_S,
    _write_folder,
    load_project,
    project_to_dict,
    remove_old_files,
    remove_stale_temp_files,
)
from engine.project.model import Project, new_id

RECOVERY_KEY = "recovery"
AUTOSAVE_PREFIX = "autosave-"


@dataclass(frozen=True)
class AutosaveSnapshot:
    """What the main thread captures for an autosave; immutable, so any thread may write it."""

    doc: dict[str, Any]
    assets: dict[str, Asset]
    original_path: str | None
    revision: int


class Autosaver:
    """Write the project to a recovery folder every `interval_s` seconds while it has changes.

    The app drives it: call `tick()` from a timer on the main thread (it writes synchronously;
    or call `capture()` on the main thread and `write(snapshot)` on a worker). Call `discard()`
    after a successful save or a clean close; a folder left behind means the app crashed, and
    `find_recoverable` offers it at the next start.
    """

    def __init__(self, project: Project, recovery_root: str | os.PathLike, interval_s: float = 60.0) -> None:
        self.project = project
        self.recovery_root = Path(recovery_root)
        self.interval_s = interval_s
        self.folder = self.recovery_root / f"{new_id(AUTOSAVE_PREFIX.rstrip('-'))}{PROJECT_SUFFIX}"
        self._last_time = time.monotonic()
        self._saved_revision: int | None = None  # unsaved work at start is worth saving
        clean_recovery_root(self.recovery_root, keep=(self.folder,))

    def tick(self, now: float | None = None) -> bool:
        """Autosave if the interval has passed and something changed. Returns True if saved."""
        now = time.monotonic() if now is None else now
        if now - self._last_time < self.interval_s:
            return False
        self._last_time = now
        if self.project.history.revision == self._saved_revision or self.project.history.is_clean:
            return False
        self.write(self.capture())
        return True

    def save_now(self) -> None:
        self.write(self.capture())

    def capture(self) -> AutosaveSnapshot:
        """Thread: main."""
        doc = project_to_dict(self.project)
        assets = {aid: self.project.assets[aid] for aid in doc["assets"]}
        path = str(self.project.path) if self.project.path else None
        return AutosaveSnapshot(doc, assets, path, self.project.history.revision)

    def write(self, snapshot: AutosaveSnapshot) -> None:
        """Thread: any. Raises ProjectFileError if the recovery folder cannot be written.

        Assets already in the saved project folder are hard-linked, not rewritten, so an
        autosave right after a save costs milliseconds.
        """
        info = {
            "original_path": snapshot.original_path,
            "project_name": snapshot.doc["name"],
            "saved_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
            "revision": snapshot.revision,
        }
        doc = dict(snapshot.doc, **{RECOVERY_KEY: info})  # marker and snapshot: one atomic rename
        link_from = (Path(snapshot.original_path),) if snapshot.original_path else ()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / RECOVERY_FILE).unlink(missing_ok=True)  # an old-format marker would mislead
            _write_folder(self.folder, doc, snapshot.assets, link_from=link_from)
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            raise ProjectFileError(f"autosave to {self.folder} failed ({exc})") from exc
        self._saved_revision = snapshot.revision

    def discard(self) -> None:
        """Remove this session's recovery folder (after a save or a clean close)."""
        if self.folder.is_dir():
            shutil.rmtree(self.folder, ignore_errors=True)
        self._saved_revision = self.project.history.revision


@dataclass(frozen=True)
class Recoverable:
    folder: Path
    project_name: str
    saved_at: str  # ISO 8601, UTC
    original_path: str | None
    revision: int | None = None  # the history revision the snapshot holds (None: older format)


def _read_json_object(path: Path) -> dict | None:
    try:
        if path.stat().st_size > MAX_PROJECT_JSON_BYTES:
            return None
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _recovery_info(folder: Path) -> dict | None:
    """The marker of a complete snapshot in `folder`, or None (half-written or foreign)."""
    doc = _read_json_object(folder / PROJECT_FILE)
    if doc is None:
        return None
    info = doc.get(RECOVERY_KEY)
    if info is None:  # written by an older Legato: marker in its own file
        info = _read_json_object(folder / RECOVERY_FILE)
    return info if isinstance(info, dict) else None


def _autosave_folders(root: Path) -> list[Path]:
    try:
        return [p for p in root.glob(f"{AUTOSAVE_PREFIX}*{PROJECT_SUFFIX}") if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def find_recoverable(recovery_root: str | os.PathLike) -> list[Recoverable]:
    """Autosaves left by sessions that did not close cleanly, newest first."""
    root = Path(recovery_root)
    found = []
    for folder in _autosave_folders(root):
        info = _recovery_info(folder)
        if info is None:
            continue
        revision = info.get("revision")
        found.append(
            Recoverable(
                folder,
                str(info.get("project_name", "Untitled"))[:200],
                str(info.get("saved_at", "")),
                info.get("original_path") if isinstance(info.get("original_path"), str) else None,
                revision if isinstance(revision, int) and not isinstance(revision, bool) else None,
            )
        )
    return sorted(found, key=lambda r: r.saved_at, reverse=True)


def clean_recovery_root(
    recovery_root: str | os.PathLike, keep: tuple[Path, ...] = (), min_age_s: float = STALE_TEMP_AGE_S
) -> int:
    """Remove what killed autosaves left behind; returns how many files/folders went.

    - our temp files (".<name>.<random>.tmp") older than `min_age_s`;
    - autosave folders with no complete snapshot whose newest file is older than `min_age_s`
      (a session killed before its first project.json: nothing in it was ever offered);
    - in folders with a snapshot, asset files that snapshot does not name (old takes).
    Folders in `keep` (the caller's own) and offered snapshots are never touched.
    """
    root = Path(recovery_root)
    keep_resolved = {Path(k).resolve() for k in keep}
    removed = 0
    now = time.time()
    for folder in _autosave_folders(root):
        if folder.resolve() in keep_resolved:
            continue
        idle_s = now - _newest_mtime(folder)  # before our own deletions touch the folder's mtime
        removed += remove_stale_temp_files(folder, min_age_s)
        info = _recovery_info(folder)
        if info is None:
            if idle_s >= min_age_s:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
            continue
        removed += _remove_unreferenced_assets(folder, min_age_s, now)
    return removed


def _newest_mtime(folder: Path) -> float:
    newest = 0.0
    for sub in (folder, folder / AUDIO_DIR):
        try:
            newest = max([newest, sub.stat().st_mtime] + [e.stat().st_mtime for e in os.scandir(sub)])
        except OSError:
            continue
    return newest


def _remove_unreferenced_assets(folder: Path, min_age_s: float, now: float) -> int:
    # A hard-linked asset keeps its old mtime, so age alone cannot tell a leftover from an asset
    # another live session has just linked in; a snapshot this old means that session is idle.
    try:
        if now - (folder / PROJECT_FILE).stat().st_mtime < min_age_s:
            return 0
    except OSError:
        return 0
    doc = _read_json_object(folder / PROJECT_FILE) or {}
    assets = doc.get("assets")
    if not isinstance(assets, dict):
        return 0
    named = {f"{aid}.wav" for aid in assets}
    return remove_old_files(folder / AUDIO_DIR, lambda name: name.endswith(".wav") and name not in named,
                            min_age_s, now)


def restore(rec: Recoverable) -> Project:
    """Load an autosave. The project keeps its original path (if it had one) and is marked
    unsaved, so the next ctrl+S writes it back where it belongs. Assets are read into memory,
    so the recovery folder can be discarded afterwards."""
    project = load_project(rec.folder, lazy=False)
    project.path = Path(rec.original_path) if rec.original_path else None
    project.history.mark_unsaved()
    return project


def discard_recovery(rec: Recoverable) -> None:
    if rec.folder.name.startswith(AUTOSAVE_PREFIX) and rec.folder.name.endswith(PROJECT_SUFFIX):
        shutil.rmtree(rec.folder, ignore_errors=True)
