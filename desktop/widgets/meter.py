"""A peak meter: a bar in dBFS with a falling peak-hold line.

The widget only paints what it is given (`set_level`); the transport controller's timer reads
levels from the engine player and pushes them here.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

FLOOR_DB = -60.0
HOLD_DECAY_DB = 1.5  # per update (~30 Hz): about 45 dB/s fall of the hold line


def to_db(amplitude: float) -> float:
    return FLOOR_DB if amplitude <= 10 ** (FLOOR_DB / 20) else max(FLOOR_DB, 20 * math.log10(amplitude))


class PeakMeter(QWidget):
    """One or two channel meter; horizontal or vertical."""

    def __init__(self, orientation=Qt.Orientation.Horizontal, channels: int = 2, parent=None) -> None:
        super().__init__(parent)
        self.orientation = orientation
        self.levels_db = [FLOOR_DB] * channels
        self.hold_db = [FLOOR_DB] * channels
        if orientation == Qt.Orientation.Horizontal:
            self.setFixedHeight(8)
            self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        else:
            self.setFixedWidth(14)
            self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.setToolTip(self.tr("Peak level (dBFS)"))

    def set_levels(self, peaks: list[float] | tuple[float, ...]) -> None:
        """Linear peak amplitudes per channel (one value is shown on every channel)."""
        values = list(peaks) if len(peaks) == len(self.levels_db) else [max(peaks, default=0.0)] * len(self.levels_db)
        before = (list(self.levels_db), list(self.hold_db))
        for i, amp in enumerate(values):
            db = to_db(float(amp))
            self.levels_db[i] = db
            self.hold_db[i] = max(db, self.hold_db[i] - HOLD_DECAY_DB)
        if (self.levels_db, self.hold_db) != before:  # silent and settled: no repaint at 30 Hz
            self.update()

    def reset(self) -> None:
        self.levels_db = [FLOOR_DB] * len(self.levels_db)
        self.hold_db = [FLOOR_DB] * len(self.hold_db)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(0x15, 0x16, 0x1A))
        n = len(self.levels_db)
        horizontal = self.orientation == Qt.Orientation.Horizontal
        length = self.width() if horizontal else self.height()
        thick = (self.height() if horizontal else self.width()) / n
        grad = QLinearGradient(0, 0, length, 0) if horizontal else QLinearGradient(0, length, 0, 0)
        grad.setColorAt(0.0, QColor(0x3F, 0xB9, 0x6B))
        grad.setColorAt(0.75, QColor(0xD8, 0xC8, 0x3A))
        grad.setColorAt(1.0, QColor(0xE5, 0x48, 0x3F))
        for i in range(n):
            frac = (self.levels_db[i] - FLOOR_DB) / -FLOOR_DB
            hold = (self.hold_db[i] - FLOOR_DB) / -FLOOR_DB
            if horizontal:
                p.fillRect(QRectF(0, i * thick + 0.5, frac * length, thick - 1), grad)
                p.fillRect(QRectF(hold * length - 1, i * thick, 2, thick), QColor(0xEE, 0xEE, 0xEE))
            else:
                p.fillRect(QRectF(i * thick + 0.5, length * (1 - frac), thick - 1, frac * length), grad)
                p.fillRect(QRectF(i * thick, length * (1 - hold), thick, 2), QColor(0xEE, 0xEE, 0xEE))
        p.end()
