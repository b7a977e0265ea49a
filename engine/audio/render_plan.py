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

Comps: a clip with comp segments becomes several ClipPlan pieces, one per run of one take
(`clip_pieces`). At each cut the two takes cross over with an equal-power crossfade (sin/cos of
the same phase, so g_in² + g_out² = 1) of `clip.crossfade` frames, clamped to half the segment,
lying INSIDE the segment: over [start, start+X) the segment's take fades in while what played
before fades out, and over [end-X, end) the reverse. Outside every segment the pieces compute
exactly what the unsegmented clip did, so the mix there is bit-identical. The clip's own fades
and gain apply to every piece over the whole clip (`ClipPlan.bounds`).

Public API (stable): ClipPlan, TrackPlan, RenderPlan (.tracks, .master_gain, .length,
.track_ids, .only_track(track_id), .only_clips(clip_ids)), build_render_plan(project),
clip_pieces, render_clip_source, clip_source_extent, db_to_gain, pan_gains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from engine.timebase import SAMPLE_RATE

if TYPE_CHECKING:
    from engine.project.model import Clip, Project


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def pan_gains(pan: float) -> tuple[float, float]:
    """Equal-power pan, normalised to unity at the centre (see the module docstring)."""
    theta = (pan + 1.0) * math.pi / 4.0
    return math.sqrt(2.0) * math.cos(theta), math.sqrt(2.0) * math.sin(theta)


@dataclass(frozen=True)
class ClipPlan:
    """One piece of a clip: a run of one take (a whole clip when it has no comp)."""

    start: int  # timeline frame of the piece's first frame
    end: int  # timeline frame after its last frame
    samples: np.ndarray  # the take's asset, [2, frames] float32, read-only
    source_start: int  # asset frame that sounds at `start` (< 0: silence until frame 0 sounds)
    gain: float  # linear clip gain
    fade_in: int  # frames (the clip's linear fade, over `bounds`)
    fade_out: int  # frames
    bounds: tuple[int, int] | None = None  # the whole clip's [start, end) for its fades; None = this piece
    xfade_in: tuple[int, int] = (0, 0)  # (first timeline frame, frames) of an equal-power fade-in
    xfade_out: tuple[int, int] = (0, 0)  # (timeline frame after it, frames) of an equal-power fade-out
    clip_id: str = ""

    @property
    def clip_start(self) -> int:
        return self.bounds[0] if self.bounds is not None else self.start

    @property
    def clip_end(self) -> int:
        return self.bounds[1] if self.bounds is not None else self.end


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

    def only_clips(self, clip_ids) -> RenderPlan:
        """A plan where just these clips sound, on their tracks (mute/solo ignored)."""
        wanted = set(clip_ids)
        tracks = []
        for track in self.tracks:
            clips = tuple(c for c in track.clips if c.clip_id in wanted)
            if clips:
                tracks.append(replace(track, audible=True, clips=clips))
        return replace(self, tracks=tuple(tracks))

    def only_tracks(self, track_ids) -> RenderPlan:
        """A plan of just these tracks, each audible (their own mute/solo ignored)."""
        wanted = set(track_ids)
        return replace(self, tracks=tuple(replace(t, audible=True) for t in self.tracks if t.track_id in wanted))

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
        clips: list[ClipPlan] = []
        for clip in sorted(track.clips, key=lambda c: c.position):
            clips.extend(clip_pieces(project, clip))
        clips.sort(key=lambda c: c.start)  # stable: a clip's pieces keep their order
        audible = not track.mute and (track.solo or not any_solo)
        tracks.append(TrackPlan(track.id, gain * left, gain * right, audible, tuple(clips)))
    return RenderPlan(tuple(tracks), db_to_gain(project.master_gain_db), project.end_frame)


_FOREVER = 1 << 62


def comp_runs(clip: Clip) -> list[tuple[str, int, int, bool]]:
    """(take id, start, end, is_segment) per run of one take between the cuts, in SOURCE frames,
    over the whole source timeline (the last run of the active take ends at a huge frame). What
    the mixer plays before crossfades, and what the take lanes light up."""
    active = clip.active_take_id
    runs: list[tuple[str, int, int, bool]] = []
    cursor = 0
    for seg in (s for s in clip.comp if s.take_id != active):
        if seg.start > cursor:
            runs.append((active, cursor, seg.start, False))
        runs.append((seg.take_id, seg.start, seg.end, True))
        cursor = seg.end
    runs.append((active, cursor, _FOREVER, False))
    return runs


def _runs(clip: Clip) -> list[tuple[str, int, int, int, int]]:
    """(take id, first, end, fade-in frames, fade-out frames) per run of one take, in SOURCE
    frames, over the whole source timeline; fades are the equal-power crossfades at the cuts
    (a run is extended past its cut by the length of the crossfade that lies beyond it)."""
    runs = comp_runs(clip)
    out = [[take, a, b, 0, 0] for take, a, b, _ in runs]
    for i in range(len(runs) - 1):
        cut = runs[i][2]
        if runs[i + 1][3]:  # into a segment: the crossfade lies inside the later segment's start
            x = min(clip.crossfade, (runs[i + 1][2] - runs[i + 1][1]) // 2)
            out[i][2] = cut + x
            out[i][4] = x
            out[i + 1][3] = x
        else:  # out of a segment back to the active take: inside the segment's end
            x = min(clip.crossfade, (runs[i][2] - runs[i][1]) // 2)
            out[i + 1][1] = cut - x
            out[i + 1][3] = x
            out[i][4] = x
    return [tuple(r) for r in out]


def clip_pieces(project: Project, clip: Clip, *, at_source: bool = False, plain: bool = False) -> list[ClipPlan]:
    """The ClipPlan pieces of `clip` over its visible window, sorted by start.

    at_source: positions in source frames instead of timeline frames. plain: unity gain and no
    clip fades (what a region edit hears, and what flatten writes)."""
    shift = 0 if at_source else clip.position - clip.source_offset
    lo, hi = clip.source_offset, clip.source_offset + clip.length
    bounds = (lo + shift, hi + shift)
    gain = 1.0 if plain else db_to_gain(clip.gain_db)
    fade_in, fade_out = (0, 0) if plain else (clip.fade_in, clip.fade_out)
    pieces = []
    takes = {t.id: t for t in clip.takes}
    for take_id, a, b, x_in, x_out in _runs(clip):
        first, end = max(a, lo), min(b, hi)
        if first >= end:
            continue
        take = takes[take_id]
        single = len(clip.comp) == 0
        pieces.append(ClipPlan(
            start=first + shift,
            end=end + shift,
            samples=project.assets[take.asset_id].samples,
            source_start=first - take.offset,
            gain=gain,
            fade_in=fade_in,
            fade_out=fade_out,
            bounds=None if single else bounds,
            xfade_in=(a + shift, x_in) if x_in else (0, 0),
            xfade_out=(b + shift, x_out) if x_out else (0, 0),
            clip_id=clip.id,
        ))
    return pieces


def clip_source_extent(project: Project, clip: Clip) -> tuple[int, int]:
    """[first, end) source frames holding audio of the active take or of a comp segment."""
    active = clip.active_take
    lo = active.offset
    hi = active.offset + project.assets[active.asset_id].frames
    for seg in clip.comp:
        take = clip.take(seg.take_id)
        lo = min(lo, max(seg.start, take.offset))
        hi = max(hi, min(seg.end, take.offset + project.assets[take.asset_id].frames))
    return lo, max(hi, lo + 1)


def render_clip_source(project: Project, clip: Clip, start: int | None = None, end: int | None = None) -> np.ndarray:
    """The clip's source-timeline audio over SOURCE frames [start, end) with the comp applied
    and no clip gain, fades or pan (never clipped): what a repaint of a comped clip hears and
    what flatten writes. Defaults: the clip's visible window. -> [2, end - start] float32."""
    from engine.audio.mixer import Mixer

    start = clip.source_offset if start is None else int(start)
    end = clip.source_offset + clip.length if end is None else int(end)
    if start < 0 or end <= start:
        raise ValueError(f"render_clip_source: bad source range {start}..{end}")
    widened = _widened(clip, start, end)
    pieces = tuple(clip_pieces(project, widened, at_source=True, plain=True))
    out = np.zeros((2, end - start), np.float32)
    block = 1 << 16
    for pos in range(start, end, block):
        n = min(block, end - pos)
        acc = out[:, pos - start : pos - start + n]
        Mixer._sum_clips(pieces, pos, acc)
    return out


def _widened(clip: Clip, start: int, end: int) -> Clip:
    """A copy of `clip` whose window is source frames [start, end) (same takes and comp)."""
    from engine.project.model import Clip as ClipType

    return ClipType(clip.takes, 0, end - start, source_offset=start, active_take_id=clip.active_take_id,
                    clip_id=clip.id, comp=clip.comp, crossfade=clip.crossfade)
