"""The document: Project → Track → Clip → Take. Plain data with stable ids and change signals.

Read everything through properties; change anything only by pushing a command on
`project.history` (engine.project.commands). The setters here are underscored on purpose:
commands call them, views never do. No audio arrays live in these objects — a Take names an
immutable `Asset` by id and the Project's `AssetStore` holds the samples.

Positions, lengths, offsets and fades are integer frames at 48 kHz (engine.timebase.Samples).
A Clip plays `length` frames of its active take's asset, starting `source_offset` frames into
the asset, at timeline frame `position`. All takes of a clip share the clip's source timeline:
frame k of every take's asset sounds at the same musical moment, so switching takes (A/B)
keeps the edit. Frames past the end of an asset play as silence.

Signals (all emitted on the main thread, after the change is complete):
    Project.track_added(track, index), .track_removed(track, index), .track_moved(track, old, new),
    Project.changed(project, field)        field in {"name", "tempo_bpm", "time_signature",
                                           "master_gain_db"}
    Track.changed(track, field), Track.clip_added(clip), Track.clip_removed(clip)
    Clip.changed(clip, field)               field in {"position", "length", "source_offset",
                                           "gain_db", "fade_in", "fade_out", "name", "takes",
                                           "active_take_id", "track_id", "comp", "crossfade"}
    Project.history.changed()               (see engine.project.history)

Comping: a clip's `comp` is a tuple of `CompSegment(start, end, take_id)` in SOURCE frames
(frame k of the clip's source timeline sounds at timeline frame k + position - source_offset),
sorted and non-overlapping; inside a segment its take plays, elsewhere the active take. A take's
`offset` is the source frame where its asset frame 0 sounds (region takes hold only their
window). Cuts are equal-power crossfades of `crossfade` frames lying inside each segment
(engine.audio.render_plan), so the mix outside a segment is exactly the mix without it.

Public API (stable): Project, Track, Clip, Take, CompSegment, TrackKind, new_id, check_comp,
DEFAULT_CROSSFADE, and the limits below.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from engine.errors import ValidationError
from engine.project.assets import AssetStore
from engine.project.signals import Signal
from engine.timebase import SAMPLE_RATE, TempoMap, TimeSignature, check_bpm

if TYPE_CHECKING:
    from engine.project.history import History

# Limits: they keep a hostile project file (or a runaway script) from exhausting memory and
# keep every number the mixer sees finite and sane.
MAX_TRACKS = 512
MAX_CLIPS_PER_TRACK = 10_000
MAX_TAKES_PER_CLIP = 256
MAX_TIMELINE_FRAMES = 24 * 3600 * SAMPLE_RATE  # 24 hours
MIN_GAIN_DB, MAX_GAIN_DB = -120.0, 24.0
MAX_NAME_LEN = 200
MAX_COMP_SEGMENTS = 4096
DEFAULT_CROSSFADE = 2400  # frames: 50 ms at 48 kHz, the comp/region crossfade default
MAX_CROSSFADE = 10 * SAMPLE_RATE

TrackKind = str  # "audio" | "stem"
TRACK_KINDS = ("audio", "stem")
DEFAULT_COLOURS = ("#e0665a", "#e09f4f", "#d6c94f", "#7cc16a", "#4fb3c9", "#5a7fe0", "#9a6ae0", "#d66ab8")
_COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def new_id(prefix: str) -> str:
    """A stable, unique id such as 'clip-3f2a9c0d1e4b' (kept across save/load)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------- validators (ValidationError)


def check_id(value: Any, what: str) -> str:
    if not (isinstance(value, str) and _ID_RE.match(value)):
        raise ValidationError(f"{what} must be 1-64 characters of A-Z a-z 0-9 _ . -, got {value!r}")
    return value


def check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME_LEN:
        raise ValidationError(f"{what} must be text of at most {MAX_NAME_LEN} characters")
    return value


def check_gain_db(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{what} must be a finite number of dB, got {value!r}")
    if not MIN_GAIN_DB <= value <= MAX_GAIN_DB:
        raise ValidationError(f"{what} must be {MIN_GAIN_DB:g}..{MAX_GAIN_DB:g} dB, got {value!r}")
    return float(value)


def check_pan(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not -1.0 <= value <= 1.0:
        raise ValidationError(f"pan must be -1 (left) .. 1 (right), got {value!r}")
    return float(value)


def check_frames(value: Any, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{what} must be a whole number of frames, got {value!r}")
    if not minimum <= value <= MAX_TIMELINE_FRAMES:
        raise ValidationError(f"{what} must be {minimum}..{MAX_TIMELINE_FRAMES} frames, got {value}")
    return int(value)


def check_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{what} must be true or false, got {value!r}")
    return value


def check_colour(value: Any) -> str:
    if not (isinstance(value, str) and _COLOUR_RE.match(value)):
        raise ValidationError(f"colour must look like '#rrggbb', got {value!r}")
    return value.lower()


def _ro(name: str) -> property:
    return property(lambda self: getattr(self, "_" + name), doc=f"read-only; change via a command ({name})")


# ---------------------------------------------------------------- Take


@dataclass(frozen=True)
class Take:
    """One alternative for a clip: an asset plus where it came from.

    `meta` holds provenance (seed, params, model hash, scores, LRC...) as JSON-able values; it
    is frozen into a read-only mapping.
    """

    id: str
    asset_id: str
    name: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
    offset: int = 0  # source frame at which asset frame 0 sounds (region takes, intros)

    def __post_init__(self) -> None:
        check_id(self.id, "take id")
        check_id(self.asset_id, "take asset id")
        check_name(self.name, "take name")
        check_frames(self.offset, "take offset")
        if not isinstance(self.meta, MappingProxyType):
            object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    @classmethod
    def new(cls, asset_id: str, name: str = "", meta: Mapping[str, Any] | None = None, offset: int = 0) -> Take:
        return cls(new_id("take"), asset_id, name, dict(meta or {}), offset)


# ---------------------------------------------------------------- comp


@dataclass(frozen=True)
class CompSegment:
    """Source frames [start, end) of a clip where `take_id` plays instead of the active take."""

    start: int
    end: int
    take_id: str

    def __post_init__(self) -> None:
        check_frames(self.start, "comp segment start")
        check_frames(self.end, "comp segment end", minimum=1)
        if self.end <= self.start:
            raise ValidationError(f"comp segment end ({self.end}) must be after its start ({self.start})")
        check_id(self.take_id, "comp segment take id")


def check_comp(comp: Any, take_ids: set[str] | frozenset[str], what: str = "comp") -> tuple[CompSegment, ...]:
    """A valid comp: CompSegments, sorted, non-overlapping, each naming one of `take_ids`."""
    if not isinstance(comp, tuple | list):
        raise ValidationError(f"{what} must be a list of segments")
    if len(comp) > MAX_COMP_SEGMENTS:
        raise ValidationError(f"{what} holds at most {MAX_COMP_SEGMENTS} segments, got {len(comp)}")
    previous_end = -1
    for seg in comp:
        if not isinstance(seg, CompSegment):
            raise ValidationError(f"{what}: every segment must be a CompSegment, got {type(seg).__name__}")
        if seg.take_id not in take_ids:
            raise ValidationError(f"{what}: segment {seg.start}-{seg.end} uses take {seg.take_id!r}, "
                                  "which is not a take of the clip")
        if seg.start < previous_end:
            raise ValidationError(f"{what}: segments must be sorted and must not overlap "
                                  f"(segment at {seg.start} starts before {previous_end})")
        previous_end = seg.end
    return tuple(comp)


def check_crossfade(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CROSSFADE:
        raise ValidationError(f"crossfade must be 0..{MAX_CROSSFADE} frames, got {value!r}")
    return int(value)


# ---------------------------------------------------------------- Clip


class Clip:
    """A window onto the active take's asset, placed on a track. See the module docstring."""

    id = _ro("id")
    name = _ro("name")
    position = _ro("position")
    length = _ro("length")
    source_offset = _ro("source_offset")
    gain_db = _ro("gain_db")
    fade_in = _ro("fade_in")
    fade_out = _ro("fade_out")
    track_id = _ro("track_id")
    active_take_id = _ro("active_take_id")
    comp = _ro("comp")
    crossfade = _ro("crossfade")

    def __init__(
        self,
        takes: list[Take] | tuple[Take, ...],
        position: int,
        length: int,
        *,
        source_offset: int = 0,
        name: str = "",
        gain_db: float = 0.0,
        fade_in: int = 0,
        fade_out: int = 0,
        active_take_id: str | None = None,
        clip_id: str | None = None,
        comp: tuple[CompSegment, ...] = (),
        crossfade: int = DEFAULT_CROSSFADE,
    ) -> None:
        if not takes:
            raise ValidationError("a clip needs at least one take")
        if len(takes) > MAX_TAKES_PER_CLIP:
            raise ValidationError(f"a clip holds at most {MAX_TAKES_PER_CLIP} takes")
        self._id = check_id(clip_id or new_id("clip"), "clip id")
        self._takes: tuple[Take, ...] = tuple(takes)
        if len({t.id for t in self._takes}) != len(self._takes):
            raise ValidationError(f"clip {self._id} has two takes with the same id")
        self._active_take_id = active_take_id or self._takes[0].id
        if self._active_take_id not in {t.id for t in self._takes}:
            raise ValidationError(f"clip {self._id}: active take {active_take_id!r} is not one of its takes")
        self._name = check_name(name, "clip name")
        self._position = check_frames(position, "clip position")
        self._length = check_frames(length, "clip length", minimum=1)
        self._source_offset = check_frames(source_offset, "clip source offset")
        self._gain_db = check_gain_db(gain_db, "clip gain")
        self._fade_in = check_frames(fade_in, "fade-in")
        self._fade_out = check_frames(fade_out, "fade-out")
        if self._fade_in + self._fade_out > self._length:
            raise ValidationError("fade-in plus fade-out cannot be longer than the clip")
        self._comp = check_comp(comp, {t.id for t in self._takes}, f"clip {self._id} comp")
        self._crossfade = check_crossfade(crossfade)
        self._track_id: str | None = None
        self.changed = Signal("Clip.changed")

    # -- derived
    @property
    def end(self) -> int:
        """Timeline frame just after the clip (half-open)."""
        return self._position + self._length

    @property
    def takes(self) -> tuple[Take, ...]:
        return self._takes

    @property
    def active_take(self) -> Take:
        return next(t for t in self._takes if t.id == self._active_take_id)

    @property
    def asset_id(self) -> str:
        """The asset that sounds: the active take's."""
        return self.active_take.asset_id

    def take(self, take_id: str) -> Take:
        for t in self._takes:
            if t.id == take_id:
                return t
        raise KeyError(f"clip {self._id} has no take {take_id!r}")

    def copy(self, clip_id: str | None = None) -> Clip:
        """A new clip with the same content and a new id (not on any track)."""
        return Clip(
            self._takes,
            self._position,
            self._length,
            source_offset=self._source_offset,
            name=self._name,
            gain_db=self._gain_db,
            fade_in=self._fade_in,
            fade_out=self._fade_out,
            active_take_id=self._active_take_id,
            clip_id=clip_id,
            comp=self._comp,
            crossfade=self._crossfade,
        )

    def source_frame(self, timeline_frame: int) -> int:
        """The source-timeline frame that sounds at `timeline_frame`."""
        return timeline_frame - self._position + self._source_offset

    def timeline_frame(self, source_frame: int) -> int:
        return source_frame - self._source_offset + self._position

    # -- setters for commands only
    def _set(self, field_name: str, value: Any) -> None:
        if getattr(self, "_" + field_name) == value:
            return
        setattr(self, "_" + field_name, value)
        self.changed.emit(self, field_name)

    def _set_window(self, position: int, length: int, source_offset: int) -> None:
        """Move/trim in one step so views see a consistent clip; fades are clamped to fit."""
        check_frames(position, "clip position")
        check_frames(length, "clip length", minimum=1)
        check_frames(source_offset, "clip source offset")
        self._set("position", position)
        self._set("source_offset", source_offset)
        self._set("length", length)
        if self._fade_in + self._fade_out > length:
            fade_in = min(self._fade_in, length)
            self._set("fade_in", fade_in)
            self._set("fade_out", min(self._fade_out, length - fade_in))

    def _set_takes(self, takes: tuple[Take, ...], active_take_id: str) -> None:
        self._takes = takes
        self._active_take_id = active_take_id
        self.changed.emit(self, "takes")

    def _set_comp(self, comp: tuple[CompSegment, ...]) -> None:
        comp = check_comp(comp, {t.id for t in self._takes}, f"clip {self._id} comp")
        self._set("comp", comp)

    def __repr__(self) -> str:
        return f"<Clip {self._id} {self._name!r} @{self._position}+{self._length}>"


# ---------------------------------------------------------------- Track


class Track:
    """A lane of clips with its mixer settings. `kind` is "audio" or "stem" (then `stem` names
    the instrument, e.g. "drums")."""

    id = _ro("id")
    name = _ro("name")
    colour = _ro("colour")
    gain_db = _ro("gain_db")
    pan = _ro("pan")
    mute = _ro("mute")
    solo = _ro("solo")
    kind = _ro("kind")
    stem = _ro("stem")

    def __init__(
        self,
        name: str,
        *,
        kind: TrackKind = "audio",
        stem: str | None = None,
        colour: str = DEFAULT_COLOURS[0],
        gain_db: float = 0.0,
        pan: float = 0.0,
        mute: bool = False,
        solo: bool = False,
        track_id: str | None = None,
    ) -> None:
        if kind not in TRACK_KINDS:
            raise ValidationError(f"track kind must be one of {TRACK_KINDS}, got {kind!r}")
        if kind == "stem" and not stem:
            raise ValidationError("a stem track needs its stem name (e.g. 'drums')")
        self._id = check_id(track_id or new_id("track"), "track id")
        self._name = check_name(name, "track name")
        self._kind = kind
        self._stem = check_name(stem, "stem name") if stem is not None else None
        self._colour = check_colour(colour)
        self._gain_db = check_gain_db(gain_db, "track gain")
        self._pan = check_pan(pan)
        self._mute = check_bool(mute, "mute")
        self._solo = check_bool(solo, "solo")
        self._clips: list[Clip] = []
        self.changed = Signal("Track.changed")
        self.clip_added = Signal("Track.clip_added")
        self.clip_removed = Signal("Track.clip_removed")

    @property
    def clips(self) -> tuple[Clip, ...]:
        """Clips in the order they were added (sort by .position for time order)."""
        return tuple(self._clips)

    def _set(self, field_name: str, value: Any) -> None:
        if getattr(self, "_" + field_name) == value:
            return
        setattr(self, "_" + field_name, value)
        self.changed.emit(self, field_name)

    def __repr__(self) -> str:
        return f"<Track {self._id} {self._name!r} {len(self._clips)} clips>"


# ---------------------------------------------------------------- Project


class Project:
    """The whole document: tracks, tempo, master gain, the asset store and the undo history.

    Thread: main. Only commands pushed on `self.history` change it.
    """

    name = _ro("name")
    tempo_bpm = _ro("tempo_bpm")
    time_signature = _ro("time_signature")
    master_gain_db = _ro("master_gain_db")

    def __init__(
        self,
        name: str = "Untitled",
        *,
        tempo_bpm: float = 120.0,
        time_signature: TimeSignature | None = None,
        master_gain_db: float = 0.0,
        assets: AssetStore | None = None,
    ) -> None:
        from engine.project.history import History  # history imports commands' protocol only

        self._name = check_name(name, "project name")
        self._tempo_bpm = check_bpm(tempo_bpm)
        self._time_signature = time_signature or TimeSignature()
        self._master_gain_db = check_gain_db(master_gain_db, "master gain")
        self._tracks: list[Track] = []
        self._tracks_by_id: dict[str, Track] = {}
        self._clips_by_id: dict[str, Clip] = {}
        self.assets = assets if assets is not None else AssetStore()
        self.path: Path | None = None  # the .legato folder once saved/loaded (engine.project.io)
        self.changed = Signal("Project.changed")
        self.track_added = Signal("Project.track_added")
        self.track_removed = Signal("Project.track_removed")
        self.track_moved = Signal("Project.track_moved")
        self.history: History = History(self)

    # -- reading
    @property
    def tracks(self) -> tuple[Track, ...]:
        return tuple(self._tracks)

    @property
    def tempo_map(self) -> TempoMap:
        return TempoMap(self._tempo_bpm, self._time_signature)

    def track(self, track_id: str) -> Track:
        try:
            return self._tracks_by_id[track_id]
        except KeyError:
            raise KeyError(f"no track {track_id!r} in the project") from None

    def clip(self, clip_id: str) -> Clip:
        try:
            return self._clips_by_id[clip_id]
        except KeyError:
            raise KeyError(f"no clip {clip_id!r} in the project") from None

    def has_track(self, track_id: str) -> bool:
        return track_id in self._tracks_by_id

    def has_clip(self, clip_id: str) -> bool:
        return clip_id in self._clips_by_id

    def track_index(self, track_id: str) -> int:
        return self._tracks.index(self.track(track_id))

    def clips(self) -> list[Clip]:
        """Every clip, track by track."""
        return [c for t in self._tracks for c in t._clips]

    @property
    def end_frame(self) -> int:
        """Frame just after the last clip (0 for an empty project)."""
        return max((c.end for c in self._clips_by_id.values()), default=0)

    def next_colour(self) -> str:
        return DEFAULT_COLOURS[len(self._tracks) % len(DEFAULT_COLOURS)]

    # -- structural edits, for commands only
    def _set(self, field_name: str, value: Any) -> None:
        if getattr(self, "_" + field_name) == value:
            return
        setattr(self, "_" + field_name, value)
        self.changed.emit(self, field_name)

    def _insert_track(self, track: Track, index: int) -> None:
        if track.id in self._tracks_by_id:
            raise ValidationError(f"track id {track.id!r} is already in the project")
        if len(self._tracks) >= MAX_TRACKS:
            raise ValidationError(f"a project holds at most {MAX_TRACKS} tracks")
        index = max(0, min(index, len(self._tracks)))
        self._tracks.insert(index, track)
        self._tracks_by_id[track.id] = track
        for clip in track._clips:
            self._clips_by_id[clip.id] = clip
        self.track_added.emit(track, index)

    def _remove_track(self, track_id: str) -> int:
        track = self.track(track_id)
        index = self._tracks.index(track)
        del self._tracks[index]
        del self._tracks_by_id[track_id]
        for clip in track._clips:
            self._clips_by_id.pop(clip.id, None)
        self.track_removed.emit(track, index)
        return index

    def _move_track(self, track_id: str, new_index: int) -> int:
        track = self.track(track_id)
        old = self._tracks.index(track)
        new_index = max(0, min(new_index, len(self._tracks) - 1))
        self._tracks.insert(new_index, self._tracks.pop(old))
        self.track_moved.emit(track, old, new_index)
        return old

    def _add_clip(self, track_id: str, clip: Clip, index: int | None = None) -> None:
        track = self.track(track_id)
        if clip.id in self._clips_by_id:
            raise ValidationError(f"clip id {clip.id!r} is already in the project")
        if len(track._clips) >= MAX_CLIPS_PER_TRACK:
            raise ValidationError(f"a track holds at most {MAX_CLIPS_PER_TRACK} clips")
        for take in clip.takes:
            if take.asset_id not in self.assets:
                raise ValidationError(f"take {take.id} references an asset that is not in the project")
        track._clips.insert(len(track._clips) if index is None else index, clip)
        self._clips_by_id[clip.id] = clip
        clip._set("track_id", track_id)
        track.clip_added.emit(clip)

    def _remove_clip(self, clip_id: str) -> tuple[str, int]:
        """Remove a clip; returns (track id, index in that track) for undo."""
        clip = self.clip(clip_id)
        track = self.track(clip.track_id)
        index = track._clips.index(clip)
        del track._clips[index]
        del self._clips_by_id[clip_id]
        track.clip_removed.emit(clip)
        return track.id, index

    def __repr__(self) -> str:
        return f"<Project {self._name!r} {len(self._tracks)} tracks>"
