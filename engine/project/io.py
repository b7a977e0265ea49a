"""Save and load a project folder, autosave, and crash recovery.

A project is a folder `Name.legato/`:

    project.json            the document (schema below), written atomically
    audio/<sha256>.wav      one file per referenced asset, 32-bit float WAV, 48 kHz stereo,
                            named by its content hash (so it is written once, never changed)

Assets are stored as float WAV rather than FLAC because FLAC is integer-only (≤ 24 bit): the
float32 samples — and so their hash and every mix — survive a save/reopen exactly. On load,
assets are memory-mapped (read-only) instead of read, so opening a 32-track project is quick
and the OS pages audio in as it plays.

Atomic writes: every file is written to a temp name in the same folder, fsynced, then renamed
over the old one; assets are written before project.json, and old assets are never deleted,
so a crash mid-save leaves the previous save loadable.

Loading never trusts the file: bad JSON, wrong types, unknown schema versions, absurd values
(negative lengths, 1e30 dB, a billion tracks), asset paths outside the folder or missing
assets all raise ProjectFileError naming the file and the problem. Loading writes nothing.

Public API (stable):
    SCHEMA_VERSION, PROJECT_SUFFIX (".legato")
    save_project(project, folder) -> Path       (sets project.path, marks history clean)
    load_project(folder, lazy=True) -> Project  (ProjectFileError)
    project_to_dict(project) -> dict, project_from_dict(data, assets) -> Project
    Autosaver(project, recovery_root, interval_s=60): .tick(now) -> bool, .save_now(),
        .capture() (main thread) + .write(snapshot) (any thread), .discard()
    Recoverable, find_recoverable(recovery_root) -> list[Recoverable], restore(rec) -> Project,
    discard_recovery(rec)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from engine.errors import LegatoError, ProjectFileError, ValidationError
from engine.project.assets import Asset, AssetStore, content_hash
from engine.project.model import (
    MAX_CLIPS_PER_TRACK,
    MAX_TAKES_PER_CLIP,
    MAX_TRACKS,
    Clip,
    Project,
    Take,
    Track,
    new_id,
)
from engine.timebase import SAMPLE_RATE, TimeSignature

SCHEMA_VERSION = 1
FORMAT_NAME = "legato-project"
PROJECT_SUFFIX = ".legato"
PROJECT_FILE = "project.json"
AUDIO_DIR = "audio"
RECOVERY_FILE = "recovery.json"
MAX_PROJECT_JSON_BYTES = 16 * 1024 * 1024  # generous for lyrics/LRC in take metadata
_ASSET_FILE_RE = re.compile(r"^audio/([0-9a-f]{64})\.wav$")
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


# ---------------------------------------------------------------- atomic file helpers


def _fsync_dir(folder: Path) -> None:
    if os.name == "posix":  # directory fsync makes the rename durable; not possible on Windows
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via temp + fsync + rename (all in path's folder)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _write_asset(path: Path, asset: Asset) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with sf.SoundFile(tmp, "w", SAMPLE_RATE, 2, "FLOAT", format="WAV") as f:
            step = 1 << 20
            for start in range(0, asset.frames, step):
                f.write(np.ascontiguousarray(asset.samples[:, start : start + step].T))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _wav_float_data(path: Path) -> tuple[int, int]:
    """(byte offset, frames) of the sample data of a 48 kHz stereo float32 WAV, by walking its
    RIFF chunks; raises ValueError for anything else."""
    with open(path, "rb") as fh:
        header = fh.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            raise ValueError("not a RIFF/WAVE file")
        fmt_ok = False
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                raise ValueError("no data chunk")
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                body = fh.read(size + (size & 1))
                if len(body) < 16:
                    raise ValueError("truncated format chunk")
                tag, channels, rate = struct.unpack("<HHI", body[:8])
                bits = struct.unpack("<H", body[14:16])[0]
                if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: real tag in the GUID
                    tag = struct.unpack("<H", body[24:26])[0]
                fmt_ok = (tag, channels, rate, bits) == (3, 2, SAMPLE_RATE, 32)
                if not fmt_ok:
                    raise ValueError(
                        f"not 48 kHz stereo float32 (format {tag}, {channels} ch, {rate} Hz, {bits} bit)"
                    )
            elif cid == b"data":
                if not fmt_ok:
                    raise ValueError("data before format")
                offset = fh.tell()
                available = os.path.getsize(path) - offset
                return offset, min(size, available) // 8
            else:
                fh.seek(size + (size & 1), os.SEEK_CUR)  # RIFF chunks are padded to even sizes


def _read_asset(path: Path, asset_id: str, frames: int, name: str, lazy: bool) -> Asset:
    try:
        offset, n = _wav_float_data(path)
    except (OSError, ValueError, struct.error) as exc:
        raise ProjectFileError(f"{path.name}: not a valid Legato audio asset ({exc})") from exc
    if n != frames:
        raise ProjectFileError(f"{path.name}: holds {n} frames but the project expects {frames}")
    if lazy:
        samples = np.memmap(path, dtype="<f4", mode="r", offset=offset, shape=(frames, 2)).T  # [2, frames]
    else:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = np.fromfile(fh, dtype="<f4", count=frames * 2)
        samples = np.ascontiguousarray(data.reshape(frames, 2).T)
        samples.flags.writeable = False
    return Asset(asset_id, samples, name)


# ---------------------------------------------------------------- document <-> dict


def project_to_dict(project: Project) -> dict[str, Any]:
    """The JSON document (assets listed for every take, active or not)."""
    used: dict[str, Asset] = {}
    tracks = []
    for track in project.tracks:
        clips = []
        for clip in track.clips:
            takes = []
            for take in clip.takes:
                used[take.asset_id] = project.assets[take.asset_id]
                takes.append(
                    {"id": take.id, "asset": take.asset_id, "name": take.name, "meta": dict(take.meta)}
                )
            clips.append(
                {
                    "id": clip.id,
                    "name": clip.name,
                    "position": clip.position,
                    "length": clip.length,
                    "source_offset": clip.source_offset,
                    "gain_db": clip.gain_db,
                    "fade_in": clip.fade_in,
                    "fade_out": clip.fade_out,
                    "active_take": clip.active_take_id,
                    "takes": takes,
                }
            )
        tracks.append(
            {
                "id": track.id,
                "name": track.name,
                "kind": track.kind,
                "stem": track.stem,
                "colour": track.colour,
                "gain_db": track.gain_db,
                "pan": track.pan,
                "mute": track.mute,
                "solo": track.solo,
                "clips": clips,
            }
        )
    return {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "name": project.name,
        "sample_rate": SAMPLE_RATE,
        "tempo_bpm": project.tempo_bpm,
        "time_signature": [project.time_signature.numerator, project.time_signature.denominator],
        "master_gain_db": project.master_gain_db,
        "assets": {
            aid: {"file": f"{AUDIO_DIR}/{aid}.wav", "frames": a.frames, "name": a.name}
            for aid, a in used.items()
        },
        "tracks": tracks,
    }


class _Reader:
    """Typed access to untrusted JSON; every failure names where it happened."""

    def __init__(self, where: str) -> None:
        self.where = where

    def get(self, obj: Any, key: str, kind: type | tuple[type, ...], ctx: str, default: Any = ...) -> Any:
        if not isinstance(obj, dict):
            raise ProjectFileError(f"{self.where}: {ctx} must be an object")
        if key not in obj:
            if default is not ...:
                return default
            raise ProjectFileError(f"{self.where}: {ctx} is missing '{key}'")
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # JSON true/false are Python bools, which are ints: never accept them as numbers.
        if isinstance(value, bool) and bool not in kinds:
            raise ProjectFileError(f"{self.where}: {ctx}.{key} has the wrong type (bool)")
        if not isinstance(value, kinds):
            raise ProjectFileError(f"{self.where}: {ctx}.{key} has the wrong type ({type(value).__name__})")
        return value


def project_from_dict(data: Any, assets: AssetStore, where: str = PROJECT_FILE) -> Project:
    """Build a Project from parsed JSON, validating everything. Raises ProjectFileError."""
    r = _Reader(where)
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ProjectFileError(f"{where}: not a Legato project file")
    version = r.get(data, "schema_version", int, "project")
    if version > SCHEMA_VERSION:
        raise ProjectFileError(
            f"{where}: made by a newer Legato (schema {version}; this one reads {SCHEMA_VERSION})"
        )
    if version < 1:
        raise ProjectFileError(f"{where}: unknown schema version {version}")
    if r.get(data, "sample_rate", int, "project") != SAMPLE_RATE:
        raise ProjectFileError(f"{where}: sample rate must be {SAMPLE_RATE}")
    tracks_data = r.get(data, "tracks", list, "project")
    if len(tracks_data) > MAX_TRACKS:
        raise ProjectFileError(f"{where}: {len(tracks_data)} tracks (at most {MAX_TRACKS})")
    try:
        ts = r.get(data, "time_signature", list, "project")
        if len(ts) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in ts):
            raise ProjectFileError(f"{where}: time_signature must be [numerator, denominator]")
        project = Project(
            r.get(data, "name", str, "project"),
            tempo_bpm=r.get(data, "tempo_bpm", (int, float), "project"),
            time_signature=TimeSignature(ts[0], ts[1]),
            master_gain_db=r.get(data, "master_gain_db", (int, float), "project"),
            assets=assets,
        )
        for ti, td in enumerate(tracks_data):
            ctx = f"track {ti + 1}"
            track = Track(
                r.get(td, "name", str, ctx),
                kind=r.get(td, "kind", str, ctx),
                stem=r.get(td, "stem", (str, type(None)), ctx, None),
                colour=r.get(td, "colour", str, ctx),
                gain_db=r.get(td, "gain_db", (int, float), ctx),
                pan=r.get(td, "pan", (int, float), ctx),
                mute=r.get(td, "mute", bool, ctx),
                solo=r.get(td, "solo", bool, ctx),
                track_id=r.get(td, "id", str, ctx),
            )
            clips_data = r.get(td, "clips", list, ctx)
            if len(clips_data) > MAX_CLIPS_PER_TRACK:
                raise ProjectFileError(f"{where}: {ctx} has too many clips")
            project._insert_track(track, ti)
            for ci, cd in enumerate(clips_data):
                cctx = f"{ctx} clip {ci + 1}"
                takes_data = r.get(cd, "takes", list, cctx)
                if not 1 <= len(takes_data) <= MAX_TAKES_PER_CLIP:
                    raise ProjectFileError(f"{where}: {cctx} needs 1..{MAX_TAKES_PER_CLIP} takes")
                takes = []
                for ki, kd in enumerate(takes_data):
                    kctx = f"{cctx} take {ki + 1}"
                    asset_id = r.get(kd, "asset", str, kctx)
                    if asset_id not in assets:
                        raise ProjectFileError(
                            f"{where}: {kctx} uses asset {asset_id[:12]}… which is not listed"
                        )
                    takes.append(
                        Take(
                            r.get(kd, "id", str, kctx),
                            asset_id,
                            r.get(kd, "name", str, kctx, ""),
                            r.get(kd, "meta", dict, kctx, {}),
                        )
                    )
                clip = Clip(
                    takes,
                    r.get(cd, "position", int, cctx),
                    r.get(cd, "length", int, cctx),
                    source_offset=r.get(cd, "source_offset", int, cctx),
                    name=r.get(cd, "name", str, cctx, ""),
                    gain_db=r.get(cd, "gain_db", (int, float), cctx),
                    fade_in=r.get(cd, "fade_in", int, cctx, 0),
                    fade_out=r.get(cd, "fade_out", int, cctx, 0),
                    active_take_id=r.get(cd, "active_take", str, cctx),
                    clip_id=r.get(cd, "id", str, cctx),
                )
                project._add_clip(track.id, clip)
    except ValidationError as exc:
        raise ProjectFileError(f"{where}: {exc}") from exc
    project.history.clear()
    return project


# ---------------------------------------------------------------- save / load


def _project_folder(folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    return folder if folder.name.endswith(PROJECT_SUFFIX) else folder.with_name(folder.name + PROJECT_SUFFIX)


def _write_folder(folder: Path, doc: dict[str, Any], assets: dict[str, Asset]) -> None:
    (folder / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
    for aid, asset in assets.items():
        path = folder / AUDIO_DIR / f"{aid}.wav"
        try:
            if _wav_float_data(path)[1] == asset.frames:
                continue  # named by content: an existing complete file is already right
        except (OSError, ValueError, struct.error):
            pass
        _write_asset(path, asset)
    atomic_write_bytes(folder / PROJECT_FILE, json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8"))


def save_project(project: Project, folder: str | os.PathLike) -> Path:
    """Save into `folder` (".legato" is appended if missing). Thread: main. Blocking: writes
    new assets (seconds for long new audio; unchanged assets are skipped).

    Returns the folder; sets `project.path` and marks the history clean.
    Raises: ProjectFileError when the folder cannot be written.
    """
    folder = _project_folder(folder)
    doc = project_to_dict(project)
    assets = {aid: project.assets[aid] for aid in doc["assets"]}
    try:
        _write_folder(folder, doc, assets)
    except (OSError, sf.LibsndfileError, RuntimeError) as exc:
        raise ProjectFileError(f"{folder.name}: cannot save ({exc})") from exc
    project.path = folder
    project.history.mark_clean()
    return folder


def load_project(folder: str | os.PathLike, lazy: bool = True, verify_hashes: bool = False) -> Project:
    """Open a project folder. Reads only; never writes.

    Args:
        lazy: memory-map assets (fast open) instead of reading them into memory.
        verify_hashes: recompute every asset's hash (slow; detects edited audio files).
    Raises:
        ProjectFileError: anything wrong, with the file and the problem in the message.
    """
    folder = Path(folder)
    where = f"{folder.name}/{PROJECT_FILE}"
    json_path = folder / PROJECT_FILE
    if not json_path.is_file():
        raise ProjectFileError(f"{folder.name}: not a Legato project (no {PROJECT_FILE})")
    try:
        if json_path.stat().st_size > MAX_PROJECT_JSON_BYTES:
            raise ProjectFileError(f"{where}: file is too large to be a project")
        data = json.loads(json_path.read_bytes().decode("utf-8"))
    except ProjectFileError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProjectFileError(f"{where}: not valid JSON ({exc})") from exc
    store = _load_assets(folder, data, where, lazy, verify_hashes)
    try:
        project = project_from_dict(data, store, where)
    except (LegatoError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ProjectFileError):
            raise
        raise ProjectFileError(f"{where}: {exc}") from exc
    project.path = folder
    return project


def _load_assets(folder: Path, data: Any, where: str, lazy: bool, verify: bool) -> AssetStore:
    r = _Reader(where)
    if not isinstance(data, dict):
        raise ProjectFileError(f"{where}: not a Legato project file")
    entries = r.get(data, "assets", dict, "project")
    root = folder.resolve()
    store = AssetStore()
    for aid, entry in entries.items():
        if not _HASH_RE.match(aid):
            raise ProjectFileError(f"{where}: asset id {aid[:70]!r} is not a content hash")
        rel = r.get(entry, "file", str, f"asset {aid[:12]}")
        match = _ASSET_FILE_RE.match(rel)
        if not match or match.group(1) != aid:
            raise ProjectFileError(
                f"{where}: asset file {rel[:100]!r} must be '{AUDIO_DIR}/<hash>.wav' inside the project"
            )
        path = (folder / rel).resolve()
        if not path.is_relative_to(root):  # a symlink pointing out of the folder
            raise ProjectFileError(f"{where}: asset file {rel} points outside the project folder")
        if not path.is_file():
            raise ProjectFileError(f"{where}: asset file {rel} is missing")
        frames = r.get(entry, "frames", int, f"asset {aid[:12]}")
        if not 1 <= frames <= 24 * 3600 * SAMPLE_RATE:
            raise ProjectFileError(f"{where}: asset {aid[:12]} has an impossible length {frames}")
        name = r.get(entry, "name", str, f"asset {aid[:12]}", "")
        asset = _read_asset(path, aid, frames, name[:200], lazy)
        if verify and content_hash(asset.samples) != aid:
            raise ProjectFileError(f"{rel}: the audio does not match its hash (the file was changed)")
        store.add_asset(asset)
    return store


# ---------------------------------------------------------------- autosave and recovery


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
        self.folder = self.recovery_root / f"{new_id('autosave')}{PROJECT_SUFFIX}"
        self._last_time = time.monotonic()
        self._saved_revision: int | None = None  # unsaved work at start is worth saving

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
        """Thread: any. Raises ProjectFileError if the recovery folder cannot be written."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_folder(self.folder, snapshot.doc, snapshot.assets)
            info = {
                "original_path": snapshot.original_path,
                "project_name": snapshot.doc["name"],
                "saved_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            }
            atomic_write_bytes(self.folder / RECOVERY_FILE, json.dumps(info).encode("utf-8"))
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


def find_recoverable(recovery_root: str | os.PathLike) -> list[Recoverable]:
    """Autosaves left by sessions that did not close cleanly, newest first."""
    root = Path(recovery_root)
    found = []
    if not root.is_dir():
        return found
    for folder in root.glob(f"autosave-*{PROJECT_SUFFIX}"):
        try:
            info = json.loads((folder / RECOVERY_FILE).read_text("utf-8"))
            found.append(
                Recoverable(
                    folder,
                    str(info.get("project_name", "Untitled"))[:200],
                    str(info.get("saved_at", "")),
                    info.get("original_path") if isinstance(info.get("original_path"), str) else None,
                )
            )
        except (OSError, ValueError, AttributeError):
            continue  # half-written or foreign: not offered
    return sorted(found, key=lambda r: r.saved_at, reverse=True)


def restore(rec: Recoverable) -> Project:
    """Load an autosave. The project keeps its original path (if it had one) and is marked
    unsaved, so the next ctrl+S writes it back where it belongs. Assets are read into memory,
    so the recovery folder can be discarded afterwards."""
    project = load_project(rec.folder, lazy=False)
    project.path = Path(rec.original_path) if rec.original_path else None
    project.history.mark_unsaved()
    return project


def discard_recovery(rec: Recoverable) -> None:
    if rec.folder.name.startswith("autosave-") and rec.folder.name.endswith(PROJECT_SUFFIX):
        shutil.rmtree(rec.folder, ignore_errors=True)
