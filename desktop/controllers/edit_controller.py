"""UI intents on the arrangement -> engine commands on the project's history.

Every method here is one user gesture and pushes exactly one undo step (a command or a
`history.group`). Widgets stay thin: they emit intents; this turns them into commands; the
document's signals update the widgets. Errors from the engine (ValidationError) go to
`on_error` for the status bar instead of escaping into Qt.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication

from engine.errors import LegatoError
from engine.project.commands import (
    DuplicateClip,
    MoveClip,
    RemoveClips,
    RenameTrack,
    SetActiveTake,
    SetFades,
    SetMasterGain,
    SetTrackGain,
    SetTrackMute,
    SetTrackPan,
    SetTrackSolo,
    SplitClip,
    TrimClip,
)
from engine.timebase import SAMPLE_RATE, seconds_to_samples

_gesture_ids = itertools.count(1)


def _tr(text: str) -> str:
    return QCoreApplication.translate("EditController", text)


def frames(seconds: float) -> int:
    return max(0, int(seconds_to_samples(seconds)))


class EditController:
    """Owns no state but the project reference and the current slider gesture ids."""

    def __init__(self, on_error: Callable[[str], None] | None = None) -> None:
        self.project = None
        self.on_error = on_error or (lambda message: None)
        self._slider_gesture: dict[str, int] = {}

    def set_project(self, project) -> None:
        self.project = project
        self._slider_gesture.clear()

    def _push(self, command) -> bool:
        try:
            self.project.history.push(command)
        except (LegatoError, KeyError, ValueError) as exc:
            self.on_error(str(exc))
            return False
        return True

    # --- takes ---------------------------------------------------------------------------
    def choose_take(self, clip_id: str, take_id: str) -> None:
        """Make `take_id` the take that sounds (one undo step; nothing if it already does)."""
        clip = self.project.clip(clip_id)
        if clip.active_take_id != take_id:
            self._push(SetActiveTake(clip_id, take_id, text=_tr("Switch to take {0}").format(_take_number(clip, take_id))))

    def step_take(self, clip_id: str, delta: int) -> None:
        """The previous (-1) / next (+1) whole-clip take, wrapping around. Region takes are
        not stepped through: they play inside their window via the comp (take lanes, A/B)."""
        clip = self.project.clip(clip_id)
        from engine.project.commands import region_of

        ids = [t.id for t in clip.takes if region_of(t) is None]
        if len(ids) > 1 and clip.active_take_id in ids:
            self.choose_take(clip_id, ids[(ids.index(clip.active_take_id) + delta) % len(ids)])

    def paint_comp(self, clip_id: str, take_id: str, start: int, end: int) -> None:
        """A drag across a take lane: that take plays over source frames [start, end)."""
        from engine.project.commands import SetComp, comp_with

        clip = self.project.clip(clip_id)
        comp = comp_with(clip.comp, start, end, take_id, active_take_id=clip.active_take_id)
        if comp != clip.comp:
            self._push(SetComp(clip_id, comp, text=_tr("Comp take {0}").format(_take_number(clip, take_id))))

    # --- clips ---------------------------------------------------------------------------
    def move_clips(self, moves: list[tuple[str, float, str]]) -> None:
        """[(clip_id, new_start_s, new_track_id)] from one drag -> one undo step."""
        history = self.project.history
        text = _tr("Move clip") if len(moves) == 1 else _tr("Move {0} clips").format(len(moves))
        try:
            with history.group(text):
                for clip_id, start_s, track_id in moves:
                    clip = self.project.clip(clip_id)
                    new_track = track_id if track_id and track_id != clip.track_id else None
                    history.push(MoveClip(clip_id, frames(start_s), new_track))
        except (LegatoError, KeyError, ValueError) as exc:
            self.on_error(str(exc))

    def trim_clip(self, clip_id: str, start_s: float, offset_s: float, length_s: float) -> None:
        clip = self.project.clip(clip_id)
        start = frames(start_s)
        if start != clip.position:
            self._push(TrimClip(clip_id, "start", start))
        else:
            self._push(TrimClip(clip_id, "end", start + max(1, frames(length_s))))

    def set_fades(self, clip_id: str, fade_in_s: float, fade_out_s: float) -> None:
        clip = self.project.clip(clip_id)
        fade_in, fade_out = frames(fade_in_s), frames(fade_out_s)
        # Rounding can push the sum one frame past the clip: give it back from the longer fade.
        excess = fade_in + fade_out - clip.length
        if excess > 0:
            if fade_in >= fade_out:
                fade_in -= excess
            else:
                fade_out -= excess
        if (fade_in, fade_out) != (clip.fade_in, clip.fade_out):
            self._push(SetFades(clip_id, fade_in, fade_out))

    def split_at(self, seconds: float, clip_ids: list[str]) -> int:
        """Split the given clips (or, if none, every clip) under `seconds`. Returns how many."""
        at = frames(seconds)
        candidates = [self.project.clip(c) for c in clip_ids] if clip_ids else self.project.clips()
        targets = [c for c in candidates if c.position < at < c.end]
        if not targets:
            self.on_error(_tr("Nothing to split: put the playhead inside a clip"))
            return 0
        text = _tr("Split clip") if len(targets) == 1 else _tr("Split {0} clips").format(len(targets))
        with self.project.history.group(text):
            for clip in targets:
                self.project.history.push(SplitClip(clip.id, at))
        return len(targets)

    def delete_clips(self, clip_ids: list[str]) -> None:
        if clip_ids:
            self._push(RemoveClips(tuple(clip_ids)))

    def duplicate_clips(self, clip_ids: list[str]) -> list[str]:
        """Copy each clip right after the selection's end, keeping their relative layout."""
        if not clip_ids:
            return []
        clips = [self.project.clip(c) for c in clip_ids]
        first = min(c.position for c in clips)
        shift = max(c.end for c in clips) - first
        new_ids = []
        text = _tr("Duplicate clip") if len(clips) == 1 else _tr("Duplicate {0} clips").format(len(clips))
        with self.project.history.group(text):
            for clip in clips:
                cmd = self.project.history.push(DuplicateClip(clip.id, position=clip.position + shift))
                new_ids.append(cmd.new_clip_id)
        return new_ids

    # --- tracks --------------------------------------------------------------------------
    def set_mute(self, track_id: str, on: bool) -> None:
        self._push(SetTrackMute(track_id=track_id, new=on, text=_tr("Mute track") if on else _tr("Unmute track")))

    def set_solo(self, track_id: str, on: bool) -> None:
        self._push(SetTrackSolo(track_id=track_id, new=on, text=_tr("Solo track") if on else _tr("Unsolo track")))

    def set_gain(self, track_id: str, db: float) -> None:
        gesture = self._slider_gesture.setdefault(f"gain:{track_id}", next(_gesture_ids))
        self._push(SetTrackGain(track_id=track_id, new=db, merge_id=f"gain:{track_id}:{gesture}"))

    def set_pan(self, track_id: str, pan: float) -> None:
        gesture = self._slider_gesture.setdefault(f"pan:{track_id}", next(_gesture_ids))
        self._push(SetTrackPan(track_id=track_id, new=pan, merge_id=f"pan:{track_id}:{gesture}"))

    def set_master_gain(self, db: float) -> None:
        gesture = self._slider_gesture.setdefault("master", next(_gesture_ids))
        self._push(SetMasterGain(new=db, merge_id=f"master:{gesture}"))

    def end_slider_gesture(self, track_id: str = "") -> None:
        """Slider released: the next move starts a new undo step."""
        for key in [k for k in self._slider_gesture if k.endswith(track_id) or not track_id]:
            self._slider_gesture.pop(key)
        self.project.history.seal()

    def rename_track(self, track_id: str, name: str) -> None:
        if self.project.track(track_id).name != name:
            self._push(RenameTrack(track_id=track_id, new=name))


def _take_number(clip, take_id: str) -> int:
    return 1 + [t.id for t in clip.takes].index(take_id)


def seconds(frame_count: int) -> float:
    return frame_count / SAMPLE_RATE
