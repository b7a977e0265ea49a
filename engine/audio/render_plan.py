"""RenderPlan: an immutable snapshot of what to play, built from the Project on the main thread.

The mixer (playback thread and offline export alike) reads only this — never the Project —
so the document can change while audio renders. When the Project changes, build a new plan
and swap the reference (Tracktion's "rebuild the graph", not live mutation); a plan holds
the assets' read-only arrays, so building one copies no audio.

Gains are resolved here: dB → linear, pan → equal-power left/right factors, mute/solo → an
`audible` flag. Pan law: L = √2·cos θ, R = √2·sin θ with θ = (pan+1)·π/4, so the centre is
unity on both sides (a single track exports at the level it was imported), L² + R² = 2 at every
pan position (equal power), and hard left is +3 dB on the left channel.

Solo/mute: if any track is soloed, only soloed tracks sound; a muted track never sounds (mute
wins over solo).

Public API (stable): ClipPlan, TrackPlan, RenderPlan (.tracks, .master_gain, .length,
.track_ids, .only_track(track_id)), build_render_plan(project), db_to_gain, pan_gains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from engine.timebase import SAMPLE_RATE

if TYPE_CHECKING:
    from engine.project.model import Project


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def pan_gains(pan: float) -> tuple[float, float]:
    """Equal-power pan, normalised to unity at the centre (see the module docstring)."""
    theta = (pan + 1.0) * math.pi / 4.0
    return math.sqrt(2.0) * math.cos(theta), math.sqrt(2.0) * math.sin(theta)


@dataclass(frozen=True)
class ClipPlan:
    start: int  # timeline frame of the clip's first frame
    end: int  # timeline frame after its last frame
    samples: np.ndarray  # the active take's asset, [2, frames] float32, read-only
    source_start: int  # asset frame that sounds at `start`
    gain: float  # linear clip gain
    fade_in: int  # frames
    fade_out: int  # frames


@dataclass(frozen=True)
class TrackPlan:
    track_id: str
    gain_left: float  # track gain × pan law, linear
    gain_right: float
    audible: bool  # after mute/solo rules
    clips: tuple[ClipPlan, ...]  # sorted by start

    @cached_property
    def gains(self) -> np.ndarray:
        """[[left], [right]] float32, to scale a [2, n] block in one multiply."""
        g = np.array([[self.gain_left], [self.gain_right]], np.float32)
        g.flags.writeable = False
        return g


@dataclass(frozen=True)
class RenderPlan:
    tracks: tuple[TrackPlan, ...]
    master_gain: float
    length: int  # frame after the last clip ends
    sample_rate: int = SAMPLE_RATE

    @property
    def track_ids(self) -> tuple[str, ...]:
        return tuple(t.track_id for t in self.tracks)

    def only_track(self, track_id: str) -> RenderPlan:
        """A plan where just this track sounds (its own mute/solo ignored): a stem."""
        track = next((t for t in self.tracks if t.track_id == track_id), None)
        if track is None:
            raise KeyError(f"no track {track_id!r} in the render plan")
        return replace(self, tracks=(replace(track, audible=True),))

    @classmethod
    def empty(cls) -> RenderPlan:
        return cls((), 1.0, 0)


def build_render_plan(project: Project) -> RenderPlan:
    """Snapshot the project for rendering. Thread: main (reads the document). Cheap: no audio
    is copied."""
    any_solo = any(t.solo for t in project.tracks)
    tracks = []
    for track in project.tracks:
        left, right = pan_gains(track.pan)
        gain = db_to_gain(track.gain_db)
        clips = []
        for clip in sorted(track.clips, key=lambda c: c.position):
            clips.append(
                ClipPlan(
                    start=clip.position,
                    end=clip.end,
                    samples=project.assets[clip.asset_id].samples,
                    source_start=clip.source_offset,
                    gain=db_to_gain(clip.gain_db),
                    fade_in=clip.fade_in,
                    fade_out=clip.fade_out,
                )
            )
        audible = not track.mute and (track.solo or not any_solo)
        tracks.append(TrackPlan(track.id, gain * left, gain * right, audible, tuple(clips)))
    return RenderPlan(tuple(tracks), db_to_gain(project.master_gain_db), project.end_frame)
