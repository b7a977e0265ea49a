"""Commands: every change to a Project, as a small undoable object pushed on its history.

A command is built with ids and NEW values only; it records the old values itself the first
time it runs, so callers never have to read them first:

    history.push(MoveClip(clip_id, new_position=96_000, new_track_id=other_track_id))
    cmd = history.push(AddTrack("Drums", kind="stem", stem="drums")); cmd.track_id

Ids of created objects (AddTrack.track_id, AddClip.clip_id, SplitClip.new_clip_id,
DuplicateClip.new_clip_id, AddTake.take_id) are chosen at construction, so a caller can
select the new object right after pushing, and redo recreates the same object.

Selection is deliberately NOT a command and not part of the document: selecting is not an
edit (undo should not walk through clicks), must not mark the project unsaved, and differs
per view. It lives in `engine.project.selection.Selection` (plain, evented, not saved).

Public API (stable): Command (base), Group, AddTrack, RemoveTrack, MoveTrack, RenameTrack,
SetTrackColour, SetTrackGain, SetTrackPan, SetTrackMute, SetTrackSolo, AddClip, RemoveClips,
RemoveClip, MoveClip, TrimClip, SplitClip, DuplicateClip, SetClipGain, SetFades, RenameClip,
AddTake, SetActiveTake, SetTakeMeta, SetComp, SetCrossfade, ReshapeClip, SetTempo, SetTimeSignature,
SetMasterGain, RenameProject; comp_with (pure), add_region_take (a region take + its comp segment
as one step), ab_switch (the A/B key), flatten_comp (the comp rendered into one take).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import ValidationError
from engine.project.model import (
    MAX_CLIPS_PER_TRACK,
    MAX_TAKES_PER_CLIP,
    Clip,
    CompSegment,
    Take,
    Track,
    check_bool,
    check_colour,
    check_comp,
    check_crossfade,
    check_frames,
    check_gain_db,
    check_name,
    check_pan,
    new_id,
)
from engine.timebase import TimeSignature, check_bpm

if TYPE_CHECKING:
    from engine.project.model import Project


class Command:
    """Base: `text` is the user-facing verb phrase shown in Edit ▸ Undo."""

    text: str = ""
    merge_id: str | None = None

    def redo(self, project: Project) -> None:
        raise NotImplementedError

    def undo(self, project: Project) -> None:
        raise NotImplementedError

    def merge(self, newer: Command) -> bool:
        """Fold a newer command of the same type and merge_id into this one (slider drags).
        Return True if merged. The newer command has already been applied."""
        return False


@dataclass(eq=False)
class Group(Command):
    """Several commands as one undo step (built by `history.group(text)`)."""

    text: str
    children: list[Command] = field(default_factory=list)

    def redo(self, project: Project) -> None:
        for child in self.children:
            child.redo(project)

    def undo(self, project: Project) -> None:
        for child in reversed(self.children):
            child.undo(project)


class _SetValue(Command):
    """Shared shape of 'set one field on one object' commands, mergeable for sliders."""

    _field: str = ""
    new: Any
    _old: Any = None

    def _target(self, project: Project) -> Any:
        raise NotImplementedError

    def _check(self, value: Any) -> Any:
        return value

    def redo(self, project: Project) -> None:
        target = self._target(project)
        self.new = self._check(self.new)
        self._old = getattr(target, self._field)
        target._set(self._field, self.new)

    def undo(self, project: Project) -> None:
        self._target(project)._set(self._field, self._old)

    def merge(self, newer: Command) -> bool:
        if self._key() != newer._key():  # type: ignore[attr-defined]
            return False
        self.new = newer.new  # type: ignore[attr-defined]
        return True

    def _key(self) -> Any:
        return None


# ---------------------------------------------------------------- project-level


@dataclass(eq=False)
class SetTempo(_SetValue):
    new: float
    merge_id: str | None = None
    text: str = "Change tempo"
    _field = "tempo_bpm"

    def _target(self, project: Project) -> Any:
        return project

    def _check(self, value: Any) -> Any:
        return check_bpm(value)


@dataclass(eq=False)
class SetTimeSignature(_SetValue):
    new: TimeSignature
    merge_id: str | None = None
    text: str = "Change time signature"
    _field = "time_signature"

    def _target(self, project: Project) -> Any:
        return project

    def _check(self, value: Any) -> Any:
        if not isinstance(value, TimeSignature):
            raise ValidationError("time signature must be a TimeSignature")
        return value


@dataclass(eq=False)
class SetMasterGain(_SetValue):
    new: float
    merge_id: str | None = None
    text: str = "Change master gain"
    _field = "master_gain_db"

    def _target(self, project: Project) -> Any:
        return project

    def _check(self, value: Any) -> Any:
        return check_gain_db(value, "master gain")


@dataclass(eq=False)
class RenameProject(_SetValue):
    new: str
    text: str = "Rename project"
    _field = "name"

    def _target(self, project: Project) -> Any:
        return project

    def _check(self, value: Any) -> Any:
        return check_name(value, "project name")


# ---------------------------------------------------------------- tracks


@dataclass(eq=False)
class AddTrack(Command):
    """Add a new empty track (at `index`, default: the end)."""

    name: str
    kind: str = "audio"
    stem: str | None = None
    colour: str | None = None
    index: int | None = None
    track_id: str = field(default_factory=lambda: new_id("track"))
    text: str = "Add track"
    _track: Track | None = None

    def redo(self, project: Project) -> None:
        if self._track is None:
            self._track = Track(
                self.name,
                kind=self.kind,
                stem=self.stem,
                colour=self.colour or project.next_colour(),
                track_id=self.track_id,
            )
        project._insert_track(self._track, len(project.tracks) if self.index is None else self.index)

    def undo(self, project: Project) -> None:
        project._remove_track(self.track_id)


@dataclass(eq=False)
class RemoveTrack(Command):
    """Remove a track with its clips (undo puts the same objects back where they were)."""

    track_id: str
    text: str = "Delete track"
    _track: Track | None = None
    _index: int = 0

    def redo(self, project: Project) -> None:
        self._track = project.track(self.track_id)
        self._index = project._remove_track(self.track_id)

    def undo(self, project: Project) -> None:
        assert self._track is not None
        project._insert_track(self._track, self._index)


@dataclass(eq=False)
class MoveTrack(Command):
    """Reorder: put the track at `new_index`."""

    track_id: str
    new_index: int
    text: str = "Move track"
    _old_index: int = 0

    def redo(self, project: Project) -> None:
        self._old_index = project._move_track(self.track_id, self.new_index)

    def undo(self, project: Project) -> None:
        project._move_track(self.track_id, self._old_index)


@dataclass(eq=False)
class _TrackValue(_SetValue):
    track_id: str = ""

    def _target(self, project: Project) -> Any:
        return project.track(self.track_id)

    def _key(self) -> Any:
        return self.track_id


@dataclass(eq=False)
class RenameTrack(_TrackValue):
    track_id: str = ""
    new: str = ""
    text: str = "Rename track"
    _field = "name"

    def _check(self, value: Any) -> Any:
        return check_name(value, "track name")


@dataclass(eq=False)
class SetTrackColour(_TrackValue):
    track_id: str = ""
    new: str = "#888888"
    text: str = "Change track colour"
    _field = "colour"

    def _check(self, value: Any) -> Any:
        return check_colour(value)


@dataclass(eq=False)
class SetTrackGain(_TrackValue):
    track_id: str = ""
    new: float = 0.0
    merge_id: str | None = None
    text: str = "Change track gain"
    _field = "gain_db"

    def _check(self, value: Any) -> Any:
        return check_gain_db(value, "track gain")


@dataclass(eq=False)
class SetTrackPan(_TrackValue):
    track_id: str = ""
    new: float = 0.0
    merge_id: str | None = None
    text: str = "Change track pan"
    _field = "pan"

    def _check(self, value: Any) -> Any:
        return check_pan(value)


@dataclass(eq=False)
class SetTrackMute(_TrackValue):
    track_id: str = ""
    new: bool = True
    text: str = "Mute track"
    _field = "mute"

    def _check(self, value: Any) -> Any:
        return check_bool(value, "mute")


@dataclass(eq=False)
class SetTrackSolo(_TrackValue):
    track_id: str = ""
    new: bool = True
    text: str = "Solo track"
    _field = "solo"

    def _check(self, value: Any) -> Any:
        return check_bool(value, "solo")


# ---------------------------------------------------------------- clips


@dataclass(eq=False)
class AddClip(Command):
    """Place an asset on a track as a new clip with one take.

    `length` defaults to the rest of the asset after `source_offset`.
    """

    track_id: str
    asset_id: str
    position: int
    length: int | None = None
    source_offset: int = 0
    name: str = ""
    gain_db: float = 0.0
    take_meta: Mapping[str, Any] | None = None
    take_name: str = ""  # "" = the clip's name (or the asset's)
    clip_id: str = field(default_factory=lambda: new_id("clip"))
    text: str = "Add clip"
    _clip: Clip | None = None

    def redo(self, project: Project) -> None:
        if self._clip is None:
            asset = project.assets.get(self.asset_id)
            if asset is None:
                raise ValidationError(f"asset {self.asset_id!r} is not in the project")
            length = self.length if self.length is not None else asset.frames - self.source_offset
            take = Take.new(self.asset_id, self.take_name or self.name or asset.name, self.take_meta)
            self._clip = Clip(
                [take],
                self.position,
                length,
                source_offset=self.source_offset,
                name=self.name or asset.name,
                gain_db=self.gain_db,
                clip_id=self.clip_id,
            )
        project._add_clip(self.track_id, self._clip)

    def undo(self, project: Project) -> None:
        project._remove_clip(self.clip_id)


@dataclass(eq=False)
class RemoveClips(Command):
    """Delete clips (any tracks). Undo restores each at its old track and index."""

    clip_ids: tuple[str, ...]
    text: str = ""
    _removed: list[tuple[Clip, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clip_ids = tuple(self.clip_ids)
        if not self.text:
            n = len(self.clip_ids)
            self.text = "Delete clip" if n == 1 else f"Delete {n} clips"

    def redo(self, project: Project) -> None:
        for cid in self.clip_ids:  # check all first so a bad id changes nothing
            project.clip(cid)
        self._removed = []
        for cid in self.clip_ids:
            clip = project.clip(cid)
            track_id, index = project._remove_clip(cid)
            self._removed.append((clip, track_id, index))

    def undo(self, project: Project) -> None:
        for clip, track_id, index in reversed(self._removed):
            project._add_clip(track_id, clip, index)


def RemoveClip(clip_id: str) -> RemoveClips:  # noqa: N802 - reads as a command class
    """Delete one clip."""
    return RemoveClips((clip_id,))


@dataclass(eq=False)
class MoveClip(Command):
    """Move a clip in time and optionally to another track (pushed once, on mouse release)."""

    clip_id: str
    new_position: int
    new_track_id: str | None = None
    text: str = "Move clip"
    _old_position: int = 0
    _old_track_id: str = ""
    _old_index: int = 0

    def redo(self, project: Project) -> None:
        clip = project.clip(self.clip_id)
        check_frames(self.new_position, "clip position")
        self._old_position, self._old_track_id = clip.position, clip.track_id
        if self.new_track_id is not None and self.new_track_id != clip.track_id:
            target = project.track(self.new_track_id)  # raise before changing anything
            if len(target.clips) >= MAX_CLIPS_PER_TRACK:
                raise ValidationError(f"a track holds at most {MAX_CLIPS_PER_TRACK} clips")
            _, self._old_index = project._remove_clip(self.clip_id)
            clip._set_window(self.new_position, clip.length, clip.source_offset)
            project._add_clip(self.new_track_id, clip)
        else:
            clip._set_window(self.new_position, clip.length, clip.source_offset)

    def undo(self, project: Project) -> None:
        clip = project.clip(self.clip_id)
        if clip.track_id != self._old_track_id:
            project._remove_clip(self.clip_id)
            clip._set_window(self._old_position, clip.length, clip.source_offset)
            project._add_clip(self._old_track_id, clip, self._old_index)
        else:
            clip._set_window(self._old_position, clip.length, clip.source_offset)


def _longest_take_frames(project: Project, clip: Clip) -> int:
    """The source frame after the last take ends (a take's asset starts at its offset)."""
    return max(t.offset + project.assets[t.asset_id].frames for t in clip.takes)


@dataclass(eq=False)
class TrimClip(Command):
    """Move one edge of a clip to the timeline frame `new_edge` ("start" or "end").

    Trimming the start keeps the audio in place (source offset moves with it). The edge is
    clamped so the clip keeps at least one frame, cannot start before its audio does, and
    cannot end after its longest take ends.
    """

    clip_id: str
    edge: str
    new_edge: int
    text: str = "Trim clip"
    _old: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    def redo(self, project: Project) -> None:
        if self.edge not in ("start", "end"):
            raise ValidationError(f"trim edge must be 'start' or 'end', got {self.edge!r}")
        clip = project.clip(self.clip_id)
        self._old = (clip.position, clip.length, clip.source_offset, clip.fade_in, clip.fade_out)
        if self.edge == "start":
            earliest = clip.position - clip.source_offset
            start = max(earliest, 0, min(int(self.new_edge), clip.end - 1))
            offset = clip.source_offset + (start - clip.position)
            clip._set_window(start, clip.end - start, offset)
        else:
            latest = clip.position - clip.source_offset + _longest_take_frames(project, clip)
            end = min(latest, max(int(self.new_edge), clip.position + 1))
            clip._set_window(clip.position, end - clip.position, clip.source_offset)

    def undo(self, project: Project) -> None:
        clip = project.clip(self.clip_id)
        position, length, offset, fade_in, fade_out = self._old
        clip._set_window(position, length, offset)
        clip._set("fade_in", fade_in)
        clip._set("fade_out", fade_out)


@dataclass(eq=False)
class SplitClip(Command):
    """Cut a clip at timeline frame `at`: the clip keeps the left part, a new clip
    (`new_clip_id`) on the same track takes the right part. The left keeps its fade-in, the
    right its fade-out."""

    clip_id: str
    at: int
    new_clip_id: str = field(default_factory=lambda: new_id("clip"))
    text: str = "Split clip"
    _old: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    _right: Clip | None = None

    def redo(self, project: Project) -> None:
        clip = project.clip(self.clip_id)
        if not clip.position < self.at < clip.end:
            raise ValidationError("split point must be inside the clip")
        self._old = (clip.position, clip.length, clip.source_offset, clip.fade_in, clip.fade_out)
        if self._right is None:
            left_len = self.at - clip.position
            self._right = Clip(
                clip.takes,
                self.at,
                clip.end - self.at,
                source_offset=clip.source_offset + left_len,
                name=clip.name,
                gain_db=clip.gain_db,
                fade_in=0,
                fade_out=min(clip.fade_out, clip.end - self.at),
                active_take_id=clip.active_take_id,
                clip_id=self.new_clip_id,
                comp=clip.comp,  # source frames: both halves share the comp
                crossfade=clip.crossfade,
            )
        clip._set("fade_out", 0)
        clip._set_window(clip.position, self.at - clip.position, clip.source_offset)
        project._add_clip(clip.track_id, self._right)

    def undo(self, project: Project) -> None:
        project._remove_clip(self.new_clip_id)
        clip = project.clip(self.clip_id)
        position, length, offset, fade_in, fade_out = self._old
        clip._set_window(position, length, offset)
        clip._set("fade_in", fade_in)
        clip._set("fade_out", fade_out)


@dataclass(eq=False)
class DuplicateClip(Command):
    """Copy a clip (with all its takes) to `position` on `track_id`; by default right after
    the original on the same track."""

    clip_id: str
    position: int | None = None
    track_id: str | None = None
    new_clip_id: str = field(default_factory=lambda: new_id("clip"))
    text: str = "Duplicate clip"
    _copy: Clip | None = None

    def redo(self, project: Project) -> None:
        clip = project.clip(self.clip_id)
        if self._copy is None:
            self._copy = clip.copy(self.new_clip_id)
            position = clip.end if self.position is None else self.position
            self._copy._set_window(position, clip.length, clip.source_offset)
        project._add_clip(self.track_id or clip.track_id, self._copy)

    def undo(self, project: Project) -> None:
        project._remove_clip(self.new_clip_id)


@dataclass(eq=False)
class _ClipValue(_SetValue):
    clip_id: str = ""

    def _target(self, project: Project) -> Any:
        return project.clip(self.clip_id)

    def _key(self) -> Any:
        return self.clip_id


@dataclass(eq=False)
class SetClipGain(_ClipValue):
    clip_id: str = ""
    new: float = 0.0
    merge_id: str | None = None
    text: str = "Change clip gain"
    _field = "gain_db"

    def _check(self, value: Any) -> Any:
        return check_gain_db(value, "clip gain")


@dataclass(eq=False)
class RenameClip(_ClipValue):
    clip_id: str = ""
    new: str = ""
    text: str = "Rename clip"
    _field = "name"

    def _check(self, value: Any) -> Any:
        return check_name(value, "clip name")


@dataclass(eq=False)
class SetFades(Command):
    """Set a clip's fade-in and fade-out lengths in frames (None keeps that one).
    Mergeable, for dragging a fade handle."""

    clip_id: str
    fade_in: int | None = None
    fade_out: int | None = None
    merge_id: str | None = None
    text: str = "Change fades"
    _old: tuple[int, int] = (0, 0)

    def redo(self, project: Project) -> None:
        clip = project.clip(self.clip_id)
        fade_in = clip.fade_in if self.fade_in is None else check_frames(self.fade_in, "fade-in")
        fade_out = clip.fade_out if self.fade_out is None else check_frames(self.fade_out, "fade-out")
        if fade_in + fade_out > clip.length:
            raise ValidationError("fade-in plus fade-out cannot be longer than the clip")
        self._old = (clip.fade_in, clip.fade_out)
        clip._set("fade_in", fade_in)
        clip._set("fade_out", fade_out)

    def undo(self, project: Project) -> None:
        clip = project.clip(self.clip_id)
        clip._set("fade_in", self._old[0])
        clip._set("fade_out", self._old[1])

    def merge(self, newer: Command) -> bool:
        if not isinstance(newer, SetFades) or newer.clip_id != self.clip_id:
            return False
        if newer.fade_in is not None:
            self.fade_in = newer.fade_in
        if newer.fade_out is not None:
            self.fade_out = newer.fade_out
        return True


@dataclass(eq=False)
class AddTake(Command):
    """Add an alternative take (e.g. a finished generation) to a clip, active by default."""

    clip_id: str
    asset_id: str
    name: str = ""
    meta: Mapping[str, Any] | None = None
    make_active: bool = True
    offset: int = 0  # source frame of the asset's frame 0 (Take.offset)
    take_id: str = field(default_factory=lambda: new_id("take"))
    text: str = "Add take"
    _old: tuple[tuple[Take, ...], str] | None = None
    _take: Take | None = None

    def redo(self, project: Project) -> None:
        clip = project.clip(self.clip_id)
        if self.asset_id not in project.assets:
            raise ValidationError(f"asset {self.asset_id!r} is not in the project")
        if self._take is None:
            self._take = Take(self.take_id, self.asset_id, self.name, dict(self.meta or {}), self.offset)
        if len(clip.takes) >= MAX_TAKES_PER_CLIP:
            raise ValidationError(f"a clip holds at most {MAX_TAKES_PER_CLIP} takes")
        self._old = (clip.takes, clip.active_take_id)
        active = self.take_id if self.make_active else clip.active_take_id
        clip._set_takes(clip.takes + (self._take,), active)

    def undo(self, project: Project) -> None:
        assert self._old is not None
        project.clip(self.clip_id)._set_takes(*self._old)


@dataclass(eq=False)
class SetActiveTake(Command):
    """Switch which take of a clip sounds (A/B)."""

    clip_id: str
    take_id: str
    text: str = "Switch take"
    _old: str = ""

    def redo(self, project: Project) -> None:
        clip = project.clip(self.clip_id)
        clip.take(self.take_id)  # KeyError if unknown
        self._old = clip.active_take_id
        clip._set("active_take_id", self.take_id)

    def undo(self, project: Project) -> None:
        project.clip(self.clip_id)._set("active_take_id", self._old)


@dataclass(eq=False)
class SetComp(Command):
    """Replace a clip's whole comp (source-frame segments saying which take plays where).

    Segments that name the clip's active take are dropped and touching segments of the same
    take are merged, so painting the active take simply removes segments there."""

    clip_id: str
    comp: tuple[CompSegment, ...]
    text: str = "Comp takes"
    _old: tuple[CompSegment, ...] = ()

    def redo(self, project: Project) -> None:
        clip = project.clip(self.clip_id)
        comp = check_comp(tuple(self.comp), {t.id for t in clip.takes})
        self.comp = _normalised(comp, clip.active_take_id)
        self._old = clip.comp
        clip._set_comp(self.comp)

    def undo(self, project: Project) -> None:
        project.clip(self.clip_id)._set_comp(self._old)


@dataclass(eq=False)
class SetCrossfade(_ClipValue):
    """The length in frames of each comp cut's equal-power crossfade."""

    clip_id: str = ""
    new: int = 2400
    merge_id: str | None = None
    text: str = "Change crossfade"
    _field = "crossfade"

    def _check(self, value: Any) -> Any:
        return check_crossfade(value)


@dataclass(eq=False)
class ReshapeClip(Command):
    """Set a clip's window, takes (e.g. with shifted offsets), active take and comp in one step.

    Used when an edit changes the clip's source timeline (an intro shifts every take) or its
    length (extend). Take ids are kept, so the new takes replace the old ones by id."""

    clip_id: str
    position: int
    length: int
    source_offset: int
    takes: tuple[Take, ...]
    active_take_id: str
    comp: tuple[CompSegment, ...] = ()
    text: str = "Reshape clip"
    _old: tuple | None = None

    def redo(self, project: Project) -> None:
        clip = project.clip(self.clip_id)
        takes = tuple(self.takes)
        if not takes or len(takes) > MAX_TAKES_PER_CLIP:
            raise ValidationError(f"a clip holds 1..{MAX_TAKES_PER_CLIP} takes")
        ids = {t.id for t in takes}
        if self.active_take_id not in ids:
            raise ValidationError(f"active take {self.active_take_id!r} is not one of the clip's takes")
        for take in takes:
            if take.asset_id not in project.assets:
                raise ValidationError(f"take {take.id} references an asset that is not in the project")
        comp = check_comp(tuple(self.comp), ids)
        self._old = (clip.position, clip.length, clip.source_offset, clip.fade_in, clip.fade_out,
                     clip.takes, clip.active_take_id, clip.comp)
        clip._set_comp(())  # the old comp may name takes the new list lacks
        clip._set_takes(takes, self.active_take_id)
        clip._set_window(self.position, self.length, self.source_offset)
        clip._set_comp(_normalised(comp, self.active_take_id))

    def undo(self, project: Project) -> None:
        assert self._old is not None
        clip = project.clip(self.clip_id)
        position, length, offset, fade_in, fade_out, takes, active, comp = self._old
        clip._set_comp(())
        clip._set_takes(takes, active)
        clip._set_window(position, length, offset)
        clip._set("fade_in", fade_in)
        clip._set("fade_out", fade_out)
        clip._set_comp(comp)


def _normalised(comp: tuple[CompSegment, ...], active_take_id: str) -> tuple[CompSegment, ...]:
    out: list[CompSegment] = []
    for seg in comp:
        if seg.take_id == active_take_id:
            continue
        if out and out[-1].take_id == seg.take_id and out[-1].end == seg.start:
            out[-1] = CompSegment(out[-1].start, seg.end, seg.take_id)
        else:
            out.append(seg)
    return tuple(out)


def comp_with(comp: tuple[CompSegment, ...], start: int, end: int, take_id: str, *,
              active_take_id: str | None = None) -> tuple[CompSegment, ...]:
    """`comp` with source frames [start, end) painted with `take_id` (pure).

    Existing segments are trimmed or split around the range; painting `active_take_id` (when
    given) leaves the range to the active take, i.e. removes segments there. SetComp also drops
    segments of the active take, so callers may omit it."""
    if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int):
        raise ValidationError(f"comp range must be whole frames, got {start!r}..{end!r}")
    if end <= start:
        raise ValidationError(f"comp range end ({end}) must be after its start ({start})")
    out: list[CompSegment] = []
    for seg in comp:
        if seg.end <= start or seg.start >= end:
            out.append(seg)
            continue
        if seg.start < start:
            out.append(CompSegment(seg.start, start, seg.take_id))
        if seg.end > end:
            out.append(CompSegment(end, seg.end, seg.take_id))
    if take_id != active_take_id:
        out.append(CompSegment(max(0, start), end, take_id))
    out.sort(key=lambda s: s.start)
    merged: list[CompSegment] = []
    for seg in out:
        if merged and merged[-1].take_id == seg.take_id and merged[-1].end == seg.start:
            merged[-1] = CompSegment(merged[-1].start, seg.end, seg.take_id)
        else:
            merged.append(seg)
    return tuple(merged)


REGION_META_KEY = "region"  # take meta: [start, end) source frames of a region take


def region_of(take: Take) -> tuple[int, int] | None:
    """The [start, end) source frames a region take was made for (None for a whole-clip take)."""
    value = take.meta.get(REGION_META_KEY)
    if (isinstance(value, list | tuple) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value) and value[0] < value[1]):
        return int(value[0]), int(value[1])
    return None


def add_region_take(
    project: Project,
    clip_id: str,
    start: int,
    end: int,
    asset_id: str,
    *,
    offset: int | None = None,
    name: str = "",
    meta: Mapping[str, Any] | None = None,
    text: str = "Add take",
) -> str:
    """Give source frames [start, end) of a clip a new take, as ONE undo step; returns its id.

    The take is added (NOT made active) and a comp segment [start, end) plays it, so the audio
    outside the region stays exactly as it was and the original is never destroyed. `offset`:
    the source frame where the asset's frame 0 sounds (default `start`: the asset holds exactly
    the window). The take's meta records the region (`region_of`), for A/B and re-render.

    Thread: main. Raises ValidationError for an empty region or one outside the clip's audio.
    """
    clip = project.clip(clip_id)
    check_frames(start, "region start")
    check_frames(end, "region end", minimum=1)
    if end <= start:
        raise ValidationError(f"region end ({end}) must be after its start ({start})")
    lo, hi = clip.source_offset, clip.source_offset + clip.length
    if end <= lo or start >= hi:
        raise ValidationError("the region does not overlap the clip")
    offset = start if offset is None else check_frames(offset, "take offset")
    meta = {**dict(meta or {}), REGION_META_KEY: [start, end]}
    with project.history.group(text):
        cmd = project.history.push(AddTake(clip_id, asset_id, name=name, meta=meta, make_active=False,
                                           offset=offset))
        clip = project.clip(clip_id)
        project.history.push(SetComp(clip_id, comp_with(clip.comp, start, end, cmd.take_id,
                                                        active_take_id=clip.active_take_id)))
    return cmd.take_id


def ab_switch(project: Project, clip_id: str) -> bool:
    """The A/B key: switch between the clip's two most recent takes, one undo step.

    If the newest take is a region take, its region flips between that take and the take that
    played there before (the previous region take of the same range, else the active take);
    otherwise the active take flips between the newest two whole-clip takes. False if there is
    nothing to switch."""
    clip = project.clip(clip_id)
    newest = clip.takes[-1]
    region = region_of(newest)
    if region is not None:
        start, end = region
        earlier = [t for t in clip.takes[:-1] if region_of(t) == region and t.id != clip.active_take_id]
        other = earlier[-1].id if earlier else clip.active_take_id
        now = next((s.take_id for s in clip.comp if s.start == start and s.end == end), clip.active_take_id)
        target = other if now == newest.id else newest.id
        if target == now:
            return False
        project.history.push(SetComp(clip_id, comp_with(clip.comp, start, end, target,
                                                        active_take_id=clip.active_take_id),
                                     text="Switch take (A/B)"))
        return True
    whole = [t for t in clip.takes if region_of(t) is None]
    if len(whole) < 2:
        return False
    a, b = whole[-1].id, whole[-2].id
    project.history.push(SetActiveTake(clip_id, b if clip.active_take_id == a else a, text="Switch take (A/B)"))
    return True


def flatten_comp(project: Project, clip_id: str, name: str = "") -> str:
    """Render the clip's comp (no clip gain/fades) into a new asset and take, make it active and
    clear the comp, as one undo step. Returns the new take id.

    The take covers every source frame the active take or a segment's take has audio for, so
    trimming the clip afterwards still finds its audio."""
    from engine.audio.render_plan import clip_source_extent, render_clip_source
    from engine.project.assets import Asset

    clip = project.clip(clip_id)
    if not clip.comp:
        raise ValidationError(f"clip {clip.name or clip.id!r} has no comp to flatten")
    lo, hi = clip_source_extent(project, clip)
    audio = render_clip_source(project, clip, lo, hi)
    label = name or f"{clip.name or 'clip'} · comp"
    asset = project.assets.add_asset(Asset.from_samples(audio, label))
    with project.history.group("Flatten comp"):
        cmd = project.history.push(AddTake(clip_id, asset.id, name=label, meta={"flattened_from": [
            {"start": s.start, "end": s.end, "take": s.take_id} for s in clip.comp]}, offset=lo))
        project.history.push(SetComp(clip_id, ()))
    return cmd.take_id


@dataclass(eq=False)
class SetTakeMeta(Command):
    """Set (or, with None, remove) keys of one take's meta, e.g. its "scores" and "lrc".

    The take keeps its id, asset, name and offset; only the given keys change, in one undo step."""

    clip_id: str
    take_id: str
    values: Mapping[str, Any]
    text: str = "Set take info"
    _old: tuple[tuple[Take, ...], str] | None = None

    def redo(self, project: Project) -> None:
        from dataclasses import replace

        clip = project.clip(self.clip_id)
        old = clip.take(self.take_id)  # KeyError if unknown
        meta = dict(old.meta)
        for key, value in self.values.items():
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
        self._old = (clip.takes, clip.active_take_id)
        new = replace(old, meta=meta)
        clip._set_takes(tuple(new if t.id == old.id else t for t in clip.takes), clip.active_take_id)

    def undo(self, project: Project) -> None:
        assert self._old is not None
        project.clip(self.clip_id)._set_takes(*self._old)
