"""The time ruler above the lanes: bars/beats on top, minutes:seconds below.

Clicking (or dragging) on it seeks; the loop range and the playhead are drawn on it too.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.timeline import palette
from desktop.timeline.geometry import TimelineGeometry
from desktop.timeline.grid import MusicalGrid, format_seconds, seconds_tick_step

RULER_HEIGHT = 44


class RulerWidget(QWidget):
    """Paints the time axis for the current zoom and scroll.

    Signals:
        seek_requested(float): the user clicked/dragged at this time (seconds).
    """

    seek_requested = Signal(float)

    def __init__(self, geometry: TimelineGeometry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineRuler")
        self._geometry = geometry
        self.grid = MusicalGrid()
        self.scroll_x = 0.0
        self.playhead_s = 0.0
        self.loop_range: tuple[float, float] | None = None
        self.setFixedHeight(RULER_HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(self.tr("Click to move the playhead"))

    # --- state pushed in by the timeline -------------------------------------------------
    def set_scroll_x(self, x: float) -> None:
        self.scroll_x = float(x)
        self.update()

    def set_playhead(self, seconds: float) -> None:
        if seconds == self.playhead_s:
            return  # the 30 Hz timer calls this while stopped too: repaint only on change
        self.playhead_s = seconds
        self.update()

    def set_grid(self, grid: MusicalGrid) -> None:
        self.grid = grid
        self.update()

    def set_loop_range(self, loop: tuple[float, float] | None) -> None:
        self.loop_range = loop
        self.update()

    def seconds_at_x(self, x: float) -> float:
        return max(0.0, self._geometry.seconds_at(self.scroll_x + x))

    # --- input ---------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self.seek_requested.emit(self.seconds_at_x(event.position().x()))

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.seek_requested.emit(self.seconds_at_x(event.position().x()))

    # --- painting ------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        w, h = self.width(), self.height()
        p.fillRect(0, 0, w, h, palette.RULER_BG)
        pps = self._geometry.pixels_per_second
        t0 = self.seconds_at_x(0)
        t1 = self._geometry.seconds_at(self.scroll_x + w)
        mid = h // 2

        if self.loop_range is not None:
            a, b = self.loop_range
            xa = self._geometry.x_of(a) - self.scroll_x
            xb = self._geometry.x_of(b) - self.scroll_x
            p.fillRect(QRectF(xa, 0, xb - xa, mid), palette.LOOP_FILL)

        font = QFont(self.font())
        font.setPointSizeF(max(7.5, font.pointSizeF() * 0.9))
        p.setFont(font)
        self._paint_bars(p, t0, t1, pps, mid)
        self._paint_seconds(p, t0, t1, pps, mid, h)

        p.setPen(QPen(palette.LANE_LINE))
        p.drawLine(0, h - 1, w, h - 1)
        p.drawLine(0, mid, w, mid)

        x = self._geometry.x_of(self.playhead_s) - self.scroll_x
        if -8 <= x <= w + 8:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(palette.PLAYHEAD)
            p.drawPolygon(QPolygonF([QPointF(x - 6, h - 10), QPointF(x + 6, h - 10), QPointF(x, h)]))
        p.end()

    def _paint_bars(self, p: QPainter, t0: float, t1: float, pps: float, bottom: int) -> None:
        grid = self.grid
        every = grid.bar_label_every(pps)
        beat_px = grid.seconds_per_beat * pps
        first_bar = max(0, int(math.floor(t0 / grid.seconds_per_bar)))
        last_bar = int(math.ceil(t1 / grid.seconds_per_bar)) + 1
        for bar in range(first_bar, last_bar):
            bar_s = bar * grid.seconds_per_bar
            x = self._geometry.x_of(bar_s) - self.scroll_x
            if bar % every == 0:
                p.setPen(QPen(palette.RULER_TEXT_DIM))
                p.drawLine(int(x), 2, int(x), bottom)
                p.setPen(QPen(palette.RULER_TEXT))
                p.drawText(QRectF(x + 3, 0, 60, bottom), Qt.AlignmentFlag.AlignVCenter, str(bar + 1))
            if beat_px >= 8 and every == 1:
                p.setPen(QPen(palette.BAR_LINE))
                for beat in range(1, grid.beats_per_bar):
                    bx = x + beat * beat_px
                    p.drawLine(int(bx), bottom - 5, int(bx), bottom)

    def _paint_seconds(self, p: QPainter, t0: float, t1: float, pps: float, top: int, h: int) -> None:
        step = seconds_tick_step(pps)
        precise = step < 1
        k = int(math.floor(t0 / step))
        while k * step <= t1 + step:
            s = k * step
            x = self._geometry.x_of(s) - self.scroll_x
            p.setPen(QPen(palette.RULER_TEXT_DIM))
            p.drawLine(int(x), h - 6, int(x), h)
            label = format_seconds(s, precise=precise)
            if precise:
                label = label.rstrip("0").rstrip(".") if "." in label else label
            p.drawText(QRectF(x + 3, top, 80, h - top), Qt.AlignmentFlag.AlignVCenter, label)
            k += 1
