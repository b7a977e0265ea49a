"""The time-range selection: a window of time over one or more lanes.

UI state, not document state: it drives repaint/lego/loop requests, which then become
commands or jobs. Shown in seconds and bars.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication

from desktop.timeline.grid import MusicalGrid, format_seconds


@dataclass(frozen=True)
class TimeSelection:
    """[start_s, end_s) over lanes first_lane..last_lane (inclusive)."""

    start_s: float
    end_s: float
    first_lane: int
    last_lane: int

    @classmethod
    def spanning(cls, a_s: float, b_s: float, lane_a: int, lane_b: int) -> TimeSelection:
        return cls(max(0.0, min(a_s, b_s)), max(0.0, max(a_s, b_s)), min(lane_a, lane_b), max(lane_a, lane_b))

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    def describe(self, grid: MusicalGrid) -> str:
        """'0:04.000 – 0:12.000 (8.000 s) · bars 3.1.00 – 7.1.00'."""
        return QCoreApplication.translate("TimeSelection", "{0} – {1} ({2:.3f} s) · bars {3} – {4}").format(
            format_seconds(self.start_s, True), format_seconds(self.end_s, True), self.length_s,
            grid.format_bars(self.start_s), grid.format_bars(self.end_s),
        )


# An empty selection (length 0) means "nothing selected" everywhere, so range_changed always
# carries a TimeSelection and receivers need no None checks. (It was introduced while
# PySide6 6.12.0, now excluded in pyproject.toml, mis-counted None passed through signals.)
NO_SELECTION = TimeSelection(0.0, 0.0, 0, 0)
