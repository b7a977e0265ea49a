"""The arrangement area: ruler on top, track headers at the left, lanes with clips.

Wires the pieces together (scroll sync, zoom, snap, playhead) and re-exposes the view's
intents; it holds no document state of its own.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from desktop.timeline.geometry import ZOOM_STEP, TimelineGeometry
from desktop.timeline.header_column import HeaderColumn
from desktop.timeline.range_selection import TimeSelection
from desktop.timeline.ruler import RULER_HEIGHT, RulerWidget
from desktop.timeline.scene import TimelineScene
from desktop.timeline.track_header import HEADER_WIDTH, TrackHeader
from desktop.timeline.view import TimelineView


class TimelineWidget(QWidget):
    """Ruler + headers + lanes for one project.

    Signals:
        header_created(TrackHeader): a new header exists (the controller connects its intents).
        selection_changed(object): TimeSelection or None.
    """

    header_created = Signal(object)
    selection_changed = Signal(object)

    def __init__(self, peaks=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.geometry_ = TimelineGeometry()
        self.scene = TimelineScene(self.geometry_, peaks=peaks, parent=self)
        self.view = TimelineView(self.scene, self)
        self.ruler = RulerWidget(self.geometry_, self)
        self.headers = HeaderColumn(self.geometry_.lane_height, self)
        corner = QLabel(self.tr("  Tracks"))
        corner.setObjectName("timelineCorner")
        corner.setFixedSize(HEADER_WIDTH, RULER_HEIGHT)
        corner.setAlignment(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(0)
        grid.addWidget(corner, 0, 0)
        grid.addWidget(self.ruler, 0, 1)
        grid.addWidget(self.headers, 1, 0)
        grid.addWidget(self.view, 1, 1)

        self.view.horizontalScrollBar().valueChanged.connect(self.ruler.set_scroll_x)
        self.view.verticalScrollBar().valueChanged.connect(self.headers.set_offset)
        self.view.zoom_requested.connect(self.zoom_at)
        self.view.range_changed.connect(self._on_range_changed)
        self.geometry_.listeners.append(self._on_zoom_changed)
        self.scene.tracks_changed.connect(self._rebuild_headers)
        self.scene.track_updated.connect(self._refresh_header)
        self.view.snap_fn = self._snap_seconds
        self.project = None

    # --- project -------------------------------------------------------------------------
    def set_project(self, project) -> None:
        self.project = project
        self.view.set_selection(None)
        self.scene.set_project(project)
        self.ruler.set_grid(self.scene.grid)
        self.view.horizontalScrollBar().setValue(0)

    def _rebuild_headers(self) -> None:
        self.headers.rebuild(self.project, self._make_header)
        self.ruler.set_grid(self.scene.grid)

    def _make_header(self, track_id: str) -> TrackHeader:
        header = TrackHeader(track_id)
        self.header_created.emit(header)
        return header

    def _refresh_header(self, track_id: str) -> None:
        if self.project is not None and self.project.has_track(track_id):
            self.headers.refresh(self.project.track(track_id))

    # --- zoom, snap, playhead ------------------------------------------------------------
    def zoom_at(self, factor: float, anchor_x: float | None = None) -> None:
        """Zoom keeping the time under `anchor_x` (viewport pixels; default: the playhead)."""
        bar = self.view.horizontalScrollBar()
        if anchor_x is None:
            anchor_x = self.geometry_.x_of(self.view.playhead_s) - bar.value()
            if not 0 <= anchor_x <= self.view.viewport().width():
                anchor_x = 0.0
        new_scroll = self.geometry_.zoom_anchored(factor, anchor_x, bar.value())
        bar.setValue(int(round(new_scroll)))
        self.ruler.set_scroll_x(bar.value())

    def zoom_in(self) -> None:
        self.zoom_at(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_at(1 / ZOOM_STEP)

    def zoom_to_fit(self) -> None:
        end = max(10.0, self.scene.content_end_s() * 1.05)
        self.geometry_.set_pixels_per_second(max(1, self.view.viewport().width()) / end)
        self.view.horizontalScrollBar().setValue(0)

    def _on_zoom_changed(self) -> None:
        self.ruler.update()
        self.view.viewport().update()

    def _snap_seconds(self, seconds: float) -> float:
        grid = self.scene.grid
        return grid.snap(seconds, grid.snap_step(self.geometry_.pixels_per_second))

    def set_snap_enabled(self, enabled: bool) -> None:
        self.view.snap_enabled = enabled

    def set_playhead(self, seconds: float, follow: bool = False) -> None:
        self.view.set_playhead(seconds)
        self.ruler.set_playhead(seconds)
        if follow:
            bar = self.view.horizontalScrollBar()
            x = self.geometry_.x_of(seconds)
            width = self.view.viewport().width()
            if not bar.value() <= x <= bar.value() + width * 0.95:
                bar.setValue(int(max(0.0, x - width * 0.1)))

    def set_loop_range(self, loop: tuple[float, float] | None) -> None:
        self.view.loop_range = loop
        self.ruler.set_loop_range(loop)
        self.view.viewport().update()

    def _on_range_changed(self, selection: TimeSelection | None) -> None:
        self.selection_changed.emit(selection)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.scene.set_view_width(self.view.viewport().width())
