"""Colours and sizes of the arrangement (one place, so the theme stays consistent)."""

from __future__ import annotations

from PySide6.QtGui import QColor

BACKGROUND = QColor(0x23, 0x25, 0x2B)
LANE_ALT = QColor(0x27, 0x29, 0x30)
LANE_LINE = QColor(0x33, 0x36, 0x3E)
BAR_LINE = QColor(0x3A, 0x3E, 0x48)
BEAT_LINE = QColor(0x2D, 0x30, 0x37)
RULER_BG = QColor(0x1B, 0x1C, 0x21)
RULER_TEXT = QColor(0xC8, 0xCC, 0xD4)
RULER_TEXT_DIM = QColor(0x8A, 0x90, 0x9C)
PLAYHEAD = QColor(0xFF, 0x5A, 0x4E)
SELECTION_FILL = QColor(0x6C, 0xB4, 0xFF, 46)
SELECTION_EDGE = QColor(0x6C, 0xB4, 0xFF)
LOOP_FILL = QColor(0xF5, 0xC2, 0x42, 90)
CLIP_TEXT = QColor(0xF4, 0xF5, 0xF7)
CLIP_SELECTED_EDGE = QColor(0xFF, 0xFF, 0xFF)

# Track colours cycle through this list when the project gives none.
TRACK_COLOURS = (
    "#4F9DDE",
    "#E07A5F",
    "#81B29A",
    "#F2CC8F",
    "#B084CC",
    "#5FC9C9",
    "#E56B9F",
    "#9CC466",
)


def track_colour(colour: str | None, index: int) -> QColor:
    """The track's own colour if valid, else a stable one from the palette."""
    qc = QColor(colour) if colour else QColor()
    return qc if qc.isValid() else QColor(TRACK_COLOURS[index % len(TRACK_COLOURS)])
