"""What the user has selected: clips and a time range. View state, not document state.

Not undoable and not saved (see engine.project.commands for why), but Qt-free and evented so
the timeline, the generate panel (repaint/lego windows) and the mixer can share one selection.
Thread: main.

Public API (stable): Selection(.clip_ids, .time_range, .track_id, .set_clips, .set_time_range,
.clear, .changed(selection)).
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.project.signals import Signal
from engine.timebase import TimeRange


class Selection:
    def __init__(self) -> None:
        self._clip_ids: frozenset[str] = frozenset()
        self._time_range: TimeRange | None = None
        self._track_id: str | None = None
        self.changed = Signal("Selection.changed")

    @property
    def clip_ids(self) -> frozenset[str]:
        return self._clip_ids

    @property
    def time_range(self) -> TimeRange | None:
        """A range in samples, e.g. dragged on a lane; drives repaint/lego windows."""
        return self._time_range

    @property
    def track_id(self) -> str | None:
        """The lane the time range was drawn on, if any."""
        return self._track_id

    def set_clips(self, clip_ids: Iterable[str]) -> None:
        ids = frozenset(clip_ids)
        if ids != self._clip_ids:
            self._clip_ids = ids
            self.changed.emit(self)

    def set_time_range(self, time_range: TimeRange | None, track_id: str | None = None) -> None:
        if (time_range, track_id) != (self._time_range, self._track_id):
            self._time_range, self._track_id = time_range, track_id
            self.changed.emit(self)

    def clear(self) -> None:
        if self._clip_ids or self._time_range is not None:
            self._clip_ids, self._time_range, self._track_id = frozenset(), None, None
            self.changed.emit(self)
