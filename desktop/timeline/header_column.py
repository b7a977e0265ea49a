"""The column of track headers at the left, one per lane, scrolled with the lanes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

from desktop.timeline import palette
from desktop.timeline.track_header import HEADER_WIDTH, TrackHeader


class HeaderColumn(QScrollArea):
    """Holds a TrackHeader per track; its vertical offset follows the lanes' scrollbar."""

    def __init__(self, lane_height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("headerColumn")
        self.lane_height = lane_height
        self.setFixedWidth(HEADER_WIDTH)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setWidgetResizable(False)
        self._inner = QWidget()
        self._inner.setObjectName("headerColumnInner")
        self._layout = QVBoxLayout(self._inner)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self._layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.setWidget(self._inner)
        self.headers: dict[str, TrackHeader] = {}
        self._order: list[str] = []

    def rebuild(self, project, make_header) -> None:
        """Match the project's track order; reuse headers of tracks that stay."""
        wanted = [t.id for t in project.tracks] if project is not None else []
        for tid in list(self.headers):
            if tid not in wanted:
                header = self.headers.pop(tid)
                self._layout.removeWidget(header)
                header.deleteLater()
        for tid in wanted:
            if tid not in self.headers:
                header = make_header(tid)
                header.setFixedHeight(self.lane_height)
                self.headers[tid] = header
        for i, tid in enumerate(wanted):
            self._layout.removeWidget(self.headers[tid])
            self._layout.insertWidget(i, self.headers[tid])
        self._order = wanted
        # One spare lane of room so the last header can scroll level with the drop hint.
        self._inner.setFixedSize(HEADER_WIDTH, self.lane_height * (len(wanted) + 1) + 400)
        for tid in wanted:
            track = project.track(tid)
            self.refresh(track, wanted.index(tid))

    def refresh(self, track, lane: int | None = None) -> None:
        header = self.headers.get(track.id)
        if header is None:
            return
        lane = self._order.index(track.id) if lane is None else lane
        header.show_track(track.name, palette.track_colour(track.colour, lane), track.gain_db, track.pan,
                          track.mute, track.solo)

    def set_offset(self, y: int) -> None:
        self.verticalScrollBar().setValue(y)
