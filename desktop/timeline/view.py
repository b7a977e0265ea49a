"""The arrangement view: lanes, grid, playhead, range selection, and every mouse gesture.

Gestures never touch the document. While the mouse moves, clip items show a preview; on
release the view emits ONE intent signal (move/trim/fade), which the edit controller turns
into one engine command (one undo step) — the Orange canvas pattern.

Gestures on a clip: drag the name bar to move (Alt+drag anywhere on it too), drag an edge to
trim, drag a fade handle (small square on the name bar), drag across the waveform to select a
time range. On an empty lane: drag selects a range, click clears the selection. Ctrl/Shift
click adds to the clip selection. Range edges can be dragged to edit the range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QPainter, QPen
from PySide6.QtWidgets import QGraphicsView, QWidget

from desktop.timeline import palette
from desktop.timeline.clip_item import ClipItem, ClipView
from desktop.timeline.geometry import ZOOM_STEP
from desktop.timeline.range_selection import NO_SELECTION, TimeSelection

DRAG_THRESHOLD_PX = 3
RANGE_EDGE_GRAB_PX = 5
MIN_CLIP_S = 0.01


@dataclass
class _Drag:
    kind: str  # move | trim_left | trim_right | fade_in | fade_out | range | range_start | range_end
    press: QPointF  # scene position of the press
    item: ClipItem | None = None
    items: list[ClipItem] = field(default_factory=list)
    anchor_s: float = 0.0
    anchor_lane: int = 0
    started: bool = False
    modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier


class TimelineView(QGraphicsView):
    """Emits intents; the scene (`TimelineScene`) supplies items and geometry.

    Signals:
        clips_moved(list): [(clip_id, new_start_s, new_track_id)] — one gesture.
        clip_trimmed(str, float, float, float): clip_id, new start_s, new offset_s, new length_s.
        clip_fades_changed(str, float, float): clip_id, fade_in_s, fade_out_s.
        range_changed(object): the TimeSelection (NO_SELECTION, length 0, when cleared).
        files_dropped(list, str, float): paths, track id ('' = new track), time in seconds.
        zoom_requested(float, float): factor, anchor x in the viewport.
        seek_requested(float): a double-click on the lanes moves the playhead.
        take_step_requested(str, int): clip_id, -1 / +1 from the clip's take switcher arrows.
        context_menu_requested(object): the global QPoint of a right-click, after the click
            has picked its target (a click outside the range on a clip selects that clip).
    """

    clips_moved = Signal(list)
    clip_trimmed = Signal(str, float, float, float)
    clip_fades_changed = Signal(str, float, float)
    range_changed = Signal(object)
    files_dropped = Signal(list, str, float)
    zoom_requested = Signal(float, float)
    seek_requested = Signal(float)
    take_step_requested = Signal(str, int)
    context_menu_requested = Signal(object)

    def __init__(self, scene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setObjectName("timelineView")
        self.tl_scene = scene
        self.geometry_ = scene.geometry_
        self.snap_enabled = True
        self.snap_fn = lambda s: s  # set by the timeline widget (grid + zoom)
        self.selection: TimeSelection | None = None
        self.playhead_s = 0.0
        self.loop_range: tuple[float, float] | None = None
        self._drag: _Drag | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setAcceptDrops(True)
        self.setMouseTracking(True)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setBackgroundBrush(QBrush(palette.BACKGROUND))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # --- helpers -------------------------------------------------------------------------
    def _snap(self, seconds: float, modifiers=None) -> float:
        # Holding Shift while dragging bypasses the grid (fine adjustment).
        if not self.snap_enabled or (modifiers is not None and modifiers & Qt.KeyboardModifier.ShiftModifier):
            return max(0.0, seconds)
        return self.snap_fn(max(0.0, seconds))

    def _clip_at(self, scene_pos: QPointF) -> ClipItem | None:
        for item in self.tl_scene.items(scene_pos):
            if isinstance(item, ClipItem):
                return item
        return None

    def _range_edge_at(self, scene_pos: QPointF) -> str | None:
        sel = self.selection
        if sel is None:
            return None
        lane = self.geometry_.lane_at(scene_pos.y())
        if not sel.first_lane <= lane <= sel.last_lane:
            return None
        for kind, t in (("range_start", sel.start_s), ("range_end", sel.end_s)):
            if abs(self.geometry_.x_of(t) - scene_pos.x()) <= RANGE_EDGE_GRAB_PX:
                return kind
        return None

    def set_selection(self, selection: TimeSelection | None) -> None:
        self.selection = selection
        self.viewport().update()
        self.range_changed.emit(selection if selection is not None else NO_SELECTION)

    def set_playhead(self, seconds: float) -> None:
        if seconds == self.playhead_s:
            return
        old_x = self.geometry_.x_of(self.playhead_s)
        self.playhead_s = seconds
        new_x = self.geometry_.x_of(seconds)
        # Repaint only the two thin strips the playhead left and entered.
        for x in (old_x, new_x):
            top_left = self.mapFromScene(QPointF(x, 0))
            self.viewport().update(int(top_left.x()) - 2, 0, 5, self.viewport().height())

    # --- mouse ---------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        pos = self.mapToScene(event.position().toPoint())
        mods = event.modifiers()
        edge = self._range_edge_at(pos)
        item = self._clip_at(pos)
        if edge is not None and (item is None or item.zone_at(item.mapFromScene(pos)) == "body"):
            self._drag = _Drag(edge, pos, modifiers=mods)
            return
        if item is not None:
            zone = item.zone_at(item.mapFromScene(pos))
            if zone in ("take_prev", "take_next"):
                if not item.isSelected():
                    self.tl_scene.clearSelection()
                    item.setSelected(True)
                self.take_step_requested.emit(item.view.clip_id, -1 if zone == "take_prev" else 1)
                return
            if mods & Qt.KeyboardModifier.AltModifier and zone == "body":
                zone = "move"
            additive = bool(mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
            if zone == "body":
                self._drag = _Drag("range", pos, item=item, modifiers=mods)
                self._drag.anchor_s = self._snap(self.geometry_.seconds_at(pos.x()), mods)
                self._drag.anchor_lane = item.lane
                return
            if not item.isSelected():
                if not additive:
                    self.tl_scene.clearSelection()
                item.setSelected(True)
            elif additive and zone == "move":
                item.setSelected(False)
                return
            items = [i for i in self.tl_scene.selectedItems() if isinstance(i, ClipItem)] if zone == "move" else [item]
            self._drag = _Drag(zone, pos, item=item, items=items, modifiers=mods)
            return
        # Empty lane: start a range selection.
        self._drag = _Drag("range", pos, modifiers=mods)
        self._drag.anchor_s = self._snap(self.geometry_.seconds_at(pos.x()), mods)
        self._drag.anchor_lane = self.geometry_.lane_at(pos.y())

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        drag = self._drag
        pos = self.mapToScene(event.position().toPoint())
        if drag is None:
            self._update_cursor(pos)
            return
        if not drag.started:
            if (pos - drag.press).manhattanLength() < DRAG_THRESHOLD_PX:
                return
            drag.started = True
        mods = event.modifiers()
        if drag.kind == "move":
            for item, (view, lane) in self._move_targets(drag, pos, mods).items():
                item.set_preview(view, lane)
        elif drag.kind in ("trim_left", "trim_right"):
            drag.item.set_preview(self._trimmed(drag, pos, mods))
        elif drag.kind in ("fade_in", "fade_out"):
            drag.item.set_preview(self._faded(drag, pos))
        elif drag.kind == "range":
            t = self._snap(self.geometry_.seconds_at(pos.x()), mods)
            lane = min(self.geometry_.lane_at(pos.y()), max(0, self.tl_scene.lane_count() - 1))
            self.set_selection(TimeSelection.spanning(drag.anchor_s, t, drag.anchor_lane, lane))
        elif drag.kind in ("range_start", "range_end") and self.selection is not None:
            t = self._snap(self.geometry_.seconds_at(pos.x()), mods)
            sel = self.selection
            a, b = (t, sel.end_s) if drag.kind == "range_start" else (sel.start_s, t)
            self.set_selection(TimeSelection.spanning(a, b, sel.first_lane, sel.last_lane))
            # Dragged past the other edge: keep editing the edge now under the pointer.
            if drag.kind == "range_start" and t > sel.end_s:
                drag.kind = "range_end"
            elif drag.kind == "range_end" and t < sel.start_s:
                drag.kind = "range_start"

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        drag, self._drag = self._drag, None
        if drag is None or event.button() != Qt.MouseButton.LeftButton:
            return super().mouseReleaseEvent(event)
        pos = self.mapToScene(event.position().toPoint())
        mods = event.modifiers()
        if not drag.started:
            self._click(drag, mods)
            return
        if drag.kind == "move":
            targets = self._move_targets(drag, pos, mods)
            moves = []
            for item, (view, lane) in targets.items():
                if view.start_s != item.view.start_s or lane != item.lane:
                    moves.append((item.view.clip_id, view.start_s, self.tl_scene.track_id_of_lane(lane)))
            for item in targets:
                item.set_preview(None)
            if moves:
                self.clips_moved.emit(moves)
        elif drag.kind in ("trim_left", "trim_right"):
            view = self._trimmed(drag, pos, mods)
            drag.item.set_preview(None)
            old = drag.item.view
            if (view.start_s, view.length_s) != (old.start_s, old.length_s):
                self.clip_trimmed.emit(old.clip_id, view.start_s, view.offset_s, view.length_s)
        elif drag.kind in ("fade_in", "fade_out"):
            view = self._faded(drag, pos)
            drag.item.set_preview(None)
            self.clip_fades_changed.emit(view.clip_id, view.fade_in_s, view.fade_out_s)
        elif drag.kind == "range" and self.selection is not None and self.selection.length_s <= 0:
            self.set_selection(None)

    def _click(self, drag: _Drag, mods) -> None:
        """A press and release without movement."""
        additive = bool(mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
        if drag.kind == "range":
            if drag.item is not None:  # click on a clip's waveform selects the clip
                if not additive:
                    self.tl_scene.clearSelection()
                drag.item.setSelected(not drag.item.isSelected() if additive else True)
            else:
                self.tl_scene.clearSelection()
                self.set_selection(None)

    def contextMenuEvent(self, event) -> None:  # noqa: N802
        """Right-click: inside the range keeps it (the region menu acts on it); elsewhere on a
        clip the clip becomes the target, like a left click; on an empty lane nothing changes."""
        pos = self.mapToScene(event.pos())
        sel = self.selection
        t = self.geometry_.seconds_at(pos.x())
        lane = self.geometry_.lane_at(pos.y())
        in_range = (sel is not None and sel.length_s > 0 and sel.start_s <= t <= sel.end_s
                    and sel.first_lane <= lane <= sel.last_lane)
        item = self._clip_at(pos)
        if not in_range and item is not None:
            if not item.isSelected():
                self.tl_scene.clearSelection()
                item.setSelected(True)
            self.set_selection(None)
        self.context_menu_requested.emit(event.globalPos())
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        pos = self.mapToScene(event.position().toPoint())
        self.seek_requested.emit(max(0.0, self.geometry_.seconds_at(pos.x())))

    def _update_cursor(self, pos: QPointF) -> None:
        if self._range_edge_at(pos):
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor)
            return
        item = self._clip_at(pos)
        zone = item.zone_at(item.mapFromScene(pos)) if item else None
        cursor = {
            "trim_left": Qt.CursorShape.SizeHorCursor,
            "trim_right": Qt.CursorShape.SizeHorCursor,
            "fade_in": Qt.CursorShape.PointingHandCursor,
            "fade_out": Qt.CursorShape.PointingHandCursor,
            "move": Qt.CursorShape.OpenHandCursor,
            "body": Qt.CursorShape.IBeamCursor,
        }.get(zone, Qt.CursorShape.IBeamCursor)
        self.viewport().setCursor(cursor)

    # --- gesture arithmetic (previews and final values share it) -------------------------
    def _move_targets(self, drag: _Drag, pos: QPointF, mods) -> dict[ClipItem, tuple[ClipView, int]]:
        g = self.geometry_
        lead = drag.item.view
        raw = lead.start_s + g.seconds_at(pos.x() - drag.press.x())
        delta_s = self._snap(raw, mods) - lead.start_s
        earliest = min(i.view.start_s for i in drag.items)
        delta_s = max(delta_s, -earliest)  # nothing moves before zero
        lanes = self.tl_scene.lane_count()
        lane_delta = g.lane_at(pos.y()) - g.lane_at(drag.press.y())
        lo = min(i.lane for i in drag.items)
        hi = max(i.lane for i in drag.items)
        lane_delta = max(-lo, min(lanes - 1 - hi, lane_delta))
        out = {}
        for item in drag.items:
            v = item.view
            out[item] = (_replace(v, start_s=v.start_s + delta_s), item.lane + lane_delta)
        return out

    def _trimmed(self, drag: _Drag, pos: QPointF, mods) -> ClipView:
        v = drag.item.view
        t = self._snap(self.geometry_.seconds_at(pos.x()), mods)
        if drag.kind == "trim_left":
            earliest = v.start_s - v.offset_s  # the asset's first sample
            new_start = min(max(t, earliest, 0.0), v.end_s - MIN_CLIP_S)
            shift = new_start - v.start_s
            return _replace(v, start_s=new_start, offset_s=v.offset_s + shift, length_s=v.length_s - shift,
                            fade_in_s=min(v.fade_in_s, v.length_s - shift))
        latest = v.start_s + (v.asset_length_s - v.offset_s)
        new_end = max(min(t, latest), v.start_s + MIN_CLIP_S)
        return _replace(v, length_s=new_end - v.start_s, fade_out_s=min(v.fade_out_s, new_end - v.start_s))

    def _faded(self, drag: _Drag, pos: QPointF) -> ClipView:
        v = drag.item.view
        local_s = self.geometry_.seconds_at(pos.x()) - v.start_s
        if drag.kind == "fade_in":
            return _replace(v, fade_in_s=min(max(0.0, local_s), v.length_s - v.fade_out_s))
        return _replace(v, fade_out_s=min(max(0.0, v.length_s - local_s), v.length_s - v.fade_in_s))

    # --- wheel: ctrl zooms around the pointer, shift scrolls sideways ---------------------
    def wheelEvent(self, event) -> None:  # noqa: N802
        delta = event.angleDelta().y() or event.angleDelta().x()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            factor = ZOOM_STEP if delta > 0 else 1 / ZOOM_STEP
            self.zoom_requested.emit(factor, event.position().x())
            event.accept()
            return
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            bar = self.horizontalScrollBar()
            bar.setValue(bar.value() - delta)
            event.accept()
            return
        super().wheelEvent(event)

    # --- drag & drop of audio files ------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [str(Path(u.toLocalFile())) for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            event.ignore()
            return
        pos = self.mapToScene(event.position().toPoint())
        lane = self.geometry_.lane_at(pos.y())
        track_id = self.tl_scene.track_id_of_lane(lane) if lane < self.tl_scene.lane_count() else ""
        t = self._snap(self.geometry_.seconds_at(pos.x()))
        event.acceptProposedAction()
        self.files_dropped.emit(paths, track_id or "", t)

    # --- background (lanes + grid) and foreground (range + loop + playhead) --------------
    def drawBackground(self, p: QPainter, rect: QRectF) -> None:  # noqa: N802
        g = self.geometry_
        p.fillRect(rect, palette.BACKGROUND)
        lanes = self.tl_scene.lane_count()
        first = max(0, g.lane_at(rect.top()))
        last = min(lanes - 1, g.lane_at(rect.bottom()))
        for lane in range(first, last + 1):
            top = g.lane_top(lane)
            if lane % 2:
                p.fillRect(QRectF(rect.left(), top, rect.width(), g.lane_height), palette.LANE_ALT)
        self.tl_scene.paint_grid(p, rect)
        p.setPen(QPen(palette.LANE_LINE))
        for lane in range(first, min(lanes, last + 2)):
            y = g.lane_top(lane + 1) - 0.5 if lane < lanes else 0
            p.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        if lanes == 0 or g.lane_top(lanes) < rect.bottom():
            hint_top = g.lane_top(lanes)
            p.setPen(QPen(palette.RULER_TEXT_DIM))
            visible = self.mapToScene(self.viewport().rect()).boundingRect()
            p.drawText(
                QRectF(visible.left() + 16, hint_top + 10, 600, 30),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                self.tr("Drop audio files here (or File ▸ Import Audio…) to add a track"),
            )

    def drawForeground(self, p: QPainter, rect: QRectF) -> None:  # noqa: N802
        g = self.geometry_
        if self.loop_range is not None:
            a, b = self.loop_range
            p.setPen(QPen(palette.LOOP_FILL, 1, Qt.PenStyle.DashLine))
            for t in (a, b):
                p.drawLine(QPointF(g.x_of(t), rect.top()), QPointF(g.x_of(t), rect.bottom()))
        sel = self.selection
        if sel is not None and sel.length_s > 0:
            top = g.lane_top(sel.first_lane)
            bottom = g.lane_top(sel.last_lane + 1)
            box = QRectF(g.x_of(sel.start_s), top, g.x_of(sel.length_s), bottom - top)
            p.fillRect(box, palette.SELECTION_FILL)
            p.setPen(QPen(palette.SELECTION_EDGE, 1.5))
            p.drawLine(box.topLeft(), box.bottomLeft())
            p.drawLine(box.topRight(), box.bottomRight())
        x = g.x_of(self.playhead_s)
        if rect.left() - 2 <= x <= rect.right() + 2:
            p.setPen(QPen(palette.PLAYHEAD, 1.5))
            p.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))


def _replace(view: ClipView, **changes) -> ClipView:
    from dataclasses import replace

    return replace(view, **changes)
