"""What a selection on the arrangement can be edited into: the rules behind the region menu.

The musician drags a time range over one or more lanes (or just selects a clip); which of
Repaint / Extend / Add intro / Add layer / Extract stems / Complete / Remix make sense follows
from where the range lies against the clips. The app's context menu, toolbar and shortcuts
all read `RegionTarget.available()`, and a disabled action says why (`why_not`). Headless (no
Qt) so scripts and tests use the very same rules.

Frames are timeline frames at 48 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.timebase import SAMPLE_RATE

if TYPE_CHECKING:
    from engine.project.model import Clip, Project

REPAINT, EXTEND, INTRO, LAYER, EXTRACT, COMPLETE, REMIX = (
    "repaint", "extend", "intro", "layer", "extract", "complete", "remix")
ACTIONS: tuple[str, ...] = (REPAINT, EXTEND, INTRO, LAYER, EXTRACT, COMPLETE, REMIX)


@dataclass(frozen=True)
class RegionTarget:
    """A selection resolved against the project.

    Attributes:
        start, end: the time range in timeline frames ([start, end); equal when only clips
            are selected, then the clip's span is used).
        track_ids: the tracks the range covers, top to bottom.
        clip_id: the clip the edit is about (under the range on its first track, or the
            selected clip), or None.
        reasons: action -> why it is not available (absent = available).
    """

    start: int
    end: int
    track_ids: tuple[str, ...]
    clip_id: str | None
    reasons: dict[str, str]

    def available(self, action: str) -> bool:
        return action not in self.reasons

    def why_not(self, action: str) -> str:
        return self.reasons.get(action, "")

    @property
    def seconds(self) -> tuple[float, float]:
        return self.start / SAMPLE_RATE, self.end / SAMPLE_RATE


def _clips_on(project: Project, track_id: str) -> list[Clip]:
    return sorted(project.track(track_id).clips, key=lambda c: c.position)


def _clip_for_range(project: Project, track_id: str, start: int, end: int) -> Clip | None:
    """The clip a range on this track is about: the one it overlaps most; else the clip whose
    end the range starts at or after (extend), else the clip the range ends at or before (intro)."""
    clips = _clips_on(project, track_id)
    overlapping = [c for c in clips if c.position < end and c.end > start]
    if overlapping:
        return max(overlapping, key=lambda c: min(c.end, end) - max(c.position, start))
    before = [c for c in clips if c.end <= start]
    after = [c for c in clips if c.position >= end]
    if before:
        return before[-1]
    return after[0] if after else None


def resolve_target(project: Project, start: int, end: int, track_ids: tuple[str, ...] | list[str],
                   selected_clip_ids: tuple[str, ...] | list[str] = ()) -> RegionTarget:
    """Resolve a range (or, with start == end, the selected clips) into what can be done."""
    track_ids = tuple(t for t in track_ids if project.has_track(t))
    clip: Clip | None = None
    selected = [project.clip(c) for c in selected_clip_ids if project.has_clip(c)]
    if end <= start:  # no range: the selected clip is the target, over its whole span
        if selected:
            clip = selected[0]
            start, end, track_ids = clip.position, clip.end, (clip.track_id,)
    elif track_ids:
        in_range = [c for c in selected if c.track_id in track_ids and c.position < end and c.end > start]
        clip = in_range[0] if in_range else _clip_for_range(project, track_ids[0], start, end)
    reasons: dict[str, str] = {}
    has_range = end > start
    sounding = has_range and any(c.position < end and c.end > start for t in track_ids for c in project.track(t).clips)
    if clip is None:
        for action in (REPAINT, EXTEND, INTRO, REMIX):
            reasons[action] = "select a time range on a clip (or a clip) first"
    else:
        overlap = clip.position < end and clip.end > start
        if not overlap:
            reasons[REPAINT] = "the range does not overlap a clip"
            reasons[REMIX] = "the range does not overlap a clip"
        if not (end > clip.end and start >= clip.position):
            reasons[EXTEND] = "drag a range from the clip to past its end"
        if not (start < clip.position and end <= clip.end):
            reasons[INTRO] = "drag a range from before the clip's start"
    if not has_range or not sounding:
        reasons[LAYER] = "select a time range over audio first"
        reasons[COMPLETE] = "select a time range over the track(s) to complete"
    if not sounding:
        reasons[EXTRACT] = "select a clip or a time range over audio first"
    return RegionTarget(start, end, track_ids, clip.id if clip is not None else None, reasons)
