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
    Autosaver, Recoverable, find_recoverable, restore, discard_recovery, clean_recovery_root:
        defined in engine.project.autosave, re-exported here
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from engine.errors import LegatoError, ProjectFileError, ValidationError
from engine.project.assets import Asset, AssetStore, content_hash
from engine.project.model import (
    DEFAULT_CROSSFADE,
    MAX_CLIPS_PER_TRACK,
    MAX_COMP_SEGMENTS,
    MAX_TAKES_PER_CLIP,
    MAX_TRACKS,
    Clip,
    CompSegment,
    Project,
    Take,
    Track,
)
from engine.timebase import SAMPLE_RATE, TimeSignature

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FORMAT_NAME = "legato-project"
PROJECT_SUFFIX = ".legato"
PROJECT_FILE = "project.json"
AUDIO_DIR = "audio"
RECOVERY_FILE = "recovery.json"
MAX_PROJECT_JSON_BYTES = 16 * 1024 * 1024  # generous for lyrics/LRC in take metadata
# Hashing runs at ~0.25 GB/s here (a de-interleaving copy + SHA-256), so verifying by default is
# capped at ~1 s of work (~24 min of stereo audio); larger projects skip it with a warning.
VERIFY_BY_DEFAULT_BYTES = 256 * 1024 * 1024
_ASSET_FILE_RE = re.compile(r"^audio/([0-9a-f]{64})\.wav$")
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
# Take meta naming project assets a take was generated from (engine.studio.session): saved with
# the project even when no take plays them, so a repaint can be re-rendered after reopening.
META_ASSET_KEYS = ("source_asset", "reference_asset")


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


STALE_TEMP_AGE_S = 600.0  # a temp file this old belongs to a write that was killed
_TEMP_FILE_RE = re.compile(r"^\..+\.tmp$")  # ours: ".<name>.<random>.tmp"


def remove_stale_temp_files(folder: Path, min_age_s: float = STALE_TEMP_AGE_S) -> int:
    """Delete our temp files (in `folder` and its audio/) left by writes that were killed.

    Only names of our own pattern older than `min_age_s` go, so a write in progress in another
    process is never touched. Returns how many were removed.
    """
    now = time.time()
    return sum(remove_old_files(sub, lambda name: bool(_TEMP_FILE_RE.match(name)), min_age_s, now)
               for sub in (folder, folder / AUDIO_DIR))


def remove_old_files(folder: Path, wanted, min_age_s: float, now: float) -> int:
    """Delete the plain files (never links or folders) in `folder` whose name `wanted(name)` accepts
    and whose mtime is at least `min_age_s` before `now`. Unreadable entries are skipped."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        try:
            if (
                wanted(entry.name)
                and entry.is_file(follow_symlinks=False)
                and now - entry.stat(follow_symlinks=False).st_mtime >= min_age_s
            ):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


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
    where = f"{path.parent.parent.name}/{AUDIO_DIR}/{path.name}"  # "Song.legato/audio/<hash>.wav"
    try:
        offset, n = _wav_float_data(path)
    except (OSError, ValueError, struct.error) as exc:
        raise ProjectFileError(f"{where}: not a valid Legato audio asset ({exc})") from exc
    if n != frames:
        raise ProjectFileError(f"{where}: holds {n} frames but the project expects {frames}")
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
                for key in META_ASSET_KEYS:  # the source/reference a take was made from (re-render)
                    aid = take.meta.get(key)
                    if isinstance(aid, str) and aid in project.assets:
                        used[aid] = project.assets[aid]
                entry = {"id": take.id, "asset": take.asset_id, "name": take.name, "meta": dict(take.meta)}
                if take.offset:
                    entry["offset"] = take.offset  # absent = 0: files of older Legatos load unchanged
                takes.append(entry)
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
                    "comp": [[seg.start, seg.end, seg.take_id] for seg in clip.comp],
                    "crossfade": clip.crossfade,
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
                            r.get(kd, "offset", int, kctx, 0),
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
                    comp=_read_comp(r, cd, cctx),
                    crossfade=r.get(cd, "crossfade", int, cctx, DEFAULT_CROSSFADE),
                )
                project._add_clip(track.id, clip)
    except ValidationError as exc:
        raise ProjectFileError(f"{where}: {exc}") from exc
    project.history.clear()
    return project


def _read_comp(r: _Reader, cd: Any, ctx: str) -> tuple[CompSegment, ...]:
    """The clip's comp: [[start, end, take id], ...]; shape and types checked here, order,
    overlap and take ids by the Clip (a ValidationError, reported as a ProjectFileError)."""
    raw = r.get(cd, "comp", list, ctx, [])
    if len(raw) > MAX_COMP_SEGMENTS:
        raise ProjectFileError(f"{r.where}: {ctx} comp has {len(raw)} segments (at most {MAX_COMP_SEGMENTS})")
    segments = []
    for i, item in enumerate(raw):
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[2], str)
                and all(isinstance(v, int) and not isinstance(v, bool) for v in item[:2])):
            raise ProjectFileError(f"{r.where}: {ctx} comp segment {i + 1} must be [start, end, take id]")
        segments.append(CompSegment(item[0], item[1], item[2]))
    return tuple(segments)


# ---------------------------------------------------------------- save / load


def _project_folder(folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    return folder if folder.name.endswith(PROJECT_SUFFIX) else folder.with_name(folder.name + PROJECT_SUFFIX)


def _complete_asset_file(path: Path, frames: int) -> bool:
    try:
        return _wav_float_data(path)[1] == frames
    except (OSError, ValueError, struct.error):
        return False


def _link_asset(source: Path, path: Path, frames: int) -> bool:
    """Hard-link an already written, complete asset file (same content hash) into place.

    Why: an autosave after a save, or a Save As, would otherwise re-encode every asset (seconds
    and hundreds of MB); a link costs microseconds and no space. Safe because asset files are
    never changed in place (they are replaced by rename), so the two names cannot diverge.
    Returns False where links are impossible (another file system, FAT, Windows shares).
    """
    if not _complete_asset_file(source, frames):
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.link.tmp")
    try:
        tmp.unlink(missing_ok=True)
        os.link(source, tmp)
        os.replace(tmp, path)  # atomic: the name appears complete or not at all
        return True
    except OSError:
        tmp.unlink(missing_ok=True)
        return False


def _write_folder(
    folder: Path, doc: dict[str, Any], assets: dict[str, Asset], link_from: tuple[Path, ...] = ()
) -> None:
    """Assets first (each one complete under its name), then project.json by atomic rename.

    `link_from`: other project folders whose audio/ may already hold these assets.
    """
    (folder / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
    sources = [Path(src) / AUDIO_DIR for src in link_from if src and Path(src).resolve() != folder.resolve()]
    for aid, asset in assets.items():
        path = folder / AUDIO_DIR / f"{aid}.wav"
        if _complete_asset_file(path, asset.frames):
            continue  # named by content: an existing complete file is already right
        if any(_link_asset(src / path.name, path, asset.frames) for src in sources):
            continue
        _write_asset(path, asset)
    atomic_write_bytes(folder / PROJECT_FILE, encode_project_json(doc))


def encode_project_json(doc: dict[str, Any]) -> bytes:
    """UTF-8 JSON that never fails on text Python can hold.

    A lone surrogate (a name from a non-UTF-8 file name, or one a project file carried as
    "\\udc80") cannot be UTF-8 encoded; backslashreplace writes it as the JSON escape
    "\\udc80" (it only ever occurs inside JSON strings), so the text round-trips exactly.
    """
    return json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8", "backslashreplace")


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
        _write_folder(folder, doc, assets, link_from=(project.path,) if project.path else ())
        remove_stale_temp_files(folder)
    except (OSError, sf.LibsndfileError, RuntimeError) as exc:
        raise ProjectFileError(f"{folder.name}: cannot save ({exc})") from exc
    project.path = folder
    project.history.mark_clean()
    return folder


def load_project(folder: str | os.PathLike, lazy: bool = True, verify_hashes: bool | None = None) -> Project:
    """Open a project folder. Reads only; never writes; never reads outside `folder`.

    Args:
        lazy: memory-map assets (fast open) instead of reading them into memory.
        verify_hashes: recompute every asset's hash, so audio files changed behind Legato's
            back are refused. None (default): verify when the assets total at most
            VERIFY_BY_DEFAULT_BYTES (about a second of hashing), otherwise skip it and log a
            warning saying how much was not verified; True/False force it on/off.
    Raises:
        ProjectFileError: anything wrong, with the file and the problem in the message.
    """
    folder = Path(folder)
    where = f"{folder.name}/{PROJECT_FILE}"
    json_path = folder / PROJECT_FILE
    try:
        _check_inside(folder, json_path, where)
        if not json_path.is_file():
            raise ProjectFileError(f"{folder.name}: not a Legato project (no {PROJECT_FILE})")
        if json_path.stat().st_size > MAX_PROJECT_JSON_BYTES:
            raise ProjectFileError(f"{where}: file is too large to be a project")
        data = json.loads(json_path.read_bytes().decode("utf-8"))
    except ProjectFileError:
        raise
    except OSError as exc:  # e.g. PermissionError on the folder
        raise ProjectFileError(f"{where}: cannot be read ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError: JSONDecodeError, and Python's refusal of integers over 4,300 digits.
        raise ProjectFileError(f"{where}: not valid JSON ({str(exc)[:200]})") from exc
    try:
        store = _load_assets(folder, data, where, lazy, verify_hashes)
    except OSError as exc:  # an unreadable audio/ folder or file
        name = Path(exc.filename).name if getattr(exc, "filename", None) else AUDIO_DIR
        raise ProjectFileError(f"{folder.name}/{AUDIO_DIR}: cannot read {name} ({exc.strerror or exc})") from exc
    try:
        project = project_from_dict(data, store, where)
    except (LegatoError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ProjectFileError):
            raise
        raise ProjectFileError(f"{where}: {exc}") from exc
    project.path = folder
    return project


def _check_inside(folder: Path, path: Path, where: str) -> None:
    """Refuse a file that is a link to somewhere outside the project folder, BEFORE opening it
    (a project.json linked to /etc/passwd must not even be read)."""
    if path.is_symlink() and not path.resolve().is_relative_to(folder.resolve()):
        raise ProjectFileError(f"{where}: is a link to a file outside the project folder; not opened")


def _asset_bytes(entries: dict) -> int:
    frames = [e.get("frames") for e in entries.values() if isinstance(e, dict)]
    return sum(8 * f for f in frames if isinstance(f, int) and not isinstance(f, bool) and f > 0)


def _load_assets(folder: Path, data: Any, where: str, lazy: bool, verify: bool | None) -> AssetStore:
    r = _Reader(where)
    if not isinstance(data, dict):
        raise ProjectFileError(f"{where}: not a Legato project file")
    entries = r.get(data, "assets", dict, "project")
    if verify is None:
        total = _asset_bytes(entries)
        verify = total <= VERIFY_BY_DEFAULT_BYTES
        if not verify:
            log.warning(
                "%s: %d audio files (%.1f GB) opened without checking their hashes (too large to "
                "check quickly); open with verify_hashes=True to detect changed audio",
                folder.name, len(entries), total / 1e9,
            )
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
            raise ProjectFileError(
                f"{folder.name}/{rel}: the audio does not match its hash (the file was changed)"
            )
        store.add_asset(asset)
    return store


# ---------------------------------------------------------------- autosave and recovery
# They live in engine.project.autosave (which imports this module); this module's public API
# named them, so they stay importable from here, resolved on first use (PEP 562).
_AUTOSAVE_NAMES = frozenset(
    {"AutosaveSnapshot", "Autosaver", "Recoverable", "clean_recovery_root", "discard_recovery",
     "find_recoverable", "restore"}
)


def __getattr__(name: str) -> Any:
    if name in _AUTOSAVE_NAMES:
        from engine.project import autosave

        return getattr(autosave, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
