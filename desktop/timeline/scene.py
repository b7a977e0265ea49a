"""The arrangement scene: mirrors a Project's tracks and clips as items (Orange's CanvasScene).

`set_project` connects to the document's signals, builds items for what is already there and
keeps `clip_id -> ClipItem`. The scene never changes the document; gestures in the view become
commands in the edit controller, the document emits, and the scene follows.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import QGraphicsScene

from desktop.timeline import palette
from desktop.timeline.clip_item import ClipItem, ClipView
from desktop.timeline.geometry import TimelineGeometry
from desktop.timeline.grid import MusicalGrid
from engine.studio.scoring import take_score
from engine.timebase import SAMPLE_RATE

TAIL_SECONDS = 60.0  # room to the right of the last clip to drag into


def clip_view_of(clip, project) -> ClipView:
    """Snapshot an engine Clip (integer frames) as seconds for drawing."""
    from engine.project.commands import region_of

    asset = project.assets.get(clip.asset_id)
    whole = [t.id for t in clip.takes if region_of(t) is None]
    segments = tuple(
        (max(0, seg.start - clip.source_offset) / SAMPLE_RATE, min(clip.length, seg.end - clip.source_offset) / SAMPLE_RATE)
        for seg in clip.comp if seg.end > clip.source_offset and seg.start < clip.source_offset + clip.length)
    return ClipView(
        clip_id=clip.id,
        track_id=clip.track_id or "",
        asset_id=clip.asset_id,
        name=clip.name or (asset.name if asset else ""),
        start_s=clip.position / SAMPLE_RATE,
        length_s=clip.length / SAMPLE_RATE,
        offset_s=clip.source_offset / SAMPLE_RATE,
        gain=10 ** (clip.gain_db / 20),
        fade_in_s=clip.fade_in / SAMPLE_RATE,
        fade_out_s=clip.fade_out / SAMPLE_RATE,
        asset_length_s=asset.frames / SAMPLE_RATE if asset else float("inf"),
        take_number=1 + whole.index(clip.active_take_id) if clip.active_take_id in whole else 1,
        take_count=len(whole),
        comp_segments=segments,
        take_score=take_score(clip.active_take.meta),
    )


class TimelineScene(QGraphicsScene):
    """Items for every clip of the project; lanes follow the project's track order.

    Signals:
        tracks_changed(): tracks were added/removed/reordered (headers rebuild).
        track_updated(str): one track's mixer fields or name changed (its header refreshes).
        extent_changed(): the scene grew or shrank (scrollbars, ruler).
    """

    tracks_changed = Signal()
    track_updated = Signal(str)
    extent_changed = Signal()

    def __init__(self, geometry: TimelineGeometry, peaks=None, parent=None) -> None:
        super().__init__(parent)
        self.geometry_ = geometry
        self.grid = MusicalGrid()
        self.project = None
        self.peaks = peaks  # desktop.timeline.peak_service.PeakService or None
        self.items_by_clip: dict[str, ClipItem] = {}
        self._lane_of_track: dict[str, int] = {}
        self._watched_tracks: dict[str, object] = {}
        self._view_width_px = 1200.0
        geometry.listeners.append(self.relayout)
        if peaks is not None:
            peaks.ready.connect(self._on_peaks_ready)

    # --- document binding ----------------------------------------------------------------
    def set_project(self, project) -> None:
        if self.project is not None:
            self._disconnect(self.project)
        self.project = project
        self.clear()
        self.items_by_clip.clear()
        self._watched_tracks.clear()
        project.track_added.connect(self._on_track_added)
        project.track_removed.connect(self._on_track_removed)
        project.track_moved.connect(self._on_track_moved)
        project.changed.connect(self._on_project_changed)
        self._on_project_changed(project, "tempo_bpm")
        self._reindex_lanes()
        for track in project.tracks:
            self._watch_track(track)
        self._update_extent()
        self.tracks_changed.emit()

    def _disconnect(self, project) -> None:
        project.track_added.disconnect(self._on_track_added)
        project.track_removed.disconnect(self._on_track_removed)
        project.track_moved.disconnect(self._on_track_moved)
        project.changed.disconnect(self._on_project_changed)
        for track in list(self._watched_tracks.values()):
            self._unwatch_track(track)

    def _watch_track(self, track) -> None:
        self._watched_tracks[track.id] = track
        track.changed.connect(self._on_track_changed)
        track.clip_added.connect(self._on_clip_added)
        track.clip_removed.connect(self._on_clip_removed)
        for clip in track.clips:
            self._on_clip_added(clip)

    def _unwatch_track(self, track) -> None:
        self._watched_tracks.pop(track.id, None)
        track.changed.disconnect(self._on_track_changed)
        track.clip_added.disconnect(self._on_clip_added)
        track.clip_removed.disconnect(self._on_clip_removed)
        for clip in track.clips:
            self._on_clip_removed(clip)

    # --- document signals ----------------------------------------------------------------
    def _on_track_added(self, track, index) -> None:
        self._reindex_lanes()
        self._watch_track(track)
        self._relayout_clips()
        self.tracks_changed.emit()

    def _on_track_removed(self, track, index) -> None:
        self._unwatch_track(track)
        self._reindex_lanes()
        self._relayout_clips()
        self.tracks_changed.emit()

    def _on_track_moved(self, track, old, new) -> None:
        self._reindex_lanes()
        self._relayout_clips()
        self.tracks_changed.emit()

    def _on_track_changed(self, track, field) -> None:
        if field in ("colour", "mute"):
            for clip in track.clips:
                self._refresh_clip(clip)
        self.track_updated.emit(track.id)
        if field == "solo":
            # Solo on one track changes what every other track's clips sound like.
            for clip in self.project.clips():
                self._refresh_clip(clip)

    def _on_project_changed(self, project, field) -> None:
        if field in ("tempo_bpm", "time_signature"):
            self.grid = MusicalGrid(project.tempo_bpm, project.time_signature.numerator)
            self.update()

    def _on_clip_added(self, clip) -> None:
        item = ClipItem(self._view_of(clip), self._lane_of_track.get(clip.track_id, 0),
                        self._colour_of(clip.track_id), self.geometry_)
        self.items_by_clip[clip.id] = item
        clip.changed.connect(self._on_clip_changed)
        self.addItem(item)
        self._request_peaks(item)
        self._update_extent()

    def _on_clip_removed(self, clip) -> None:
        clip.changed.disconnect(self._on_clip_changed)
        item = self.items_by_clip.pop(clip.id, None)
        if item is not None:
            self.removeItem(item)
        self._update_extent()

    def _on_clip_changed(self, clip, field) -> None:
        item = self.items_by_clip.get(clip.id)
        if item is None:
            return
        old_asset = item.view.asset_id
        self._refresh_clip(clip)
        if item.view.asset_id != old_asset:
            item.set_peaks(None, None)
            self._request_peaks(item)
        self._update_extent()

    # --- helpers -------------------------------------------------------------------------
    def _view_of(self, clip) -> ClipView:
        view = clip_view_of(clip, self.project)
        track = self._watched_tracks.get(clip.track_id)
        if track is not None and self._is_silenced(track):
            from dataclasses import replace

            view = replace(view, muted=True)
        return view

    def _is_silenced(self, track) -> bool:
        if track.mute:
            return True
        any_solo = any(t.solo for t in self.project.tracks)
        return any_solo and not track.solo

    def _colour_of(self, track_id: str):
        lane = self._lane_of_track.get(track_id, 0)
        track = self._watched_tracks.get(track_id)
        return palette.track_colour(track.colour if track is not None else None, lane)

    def _refresh_clip(self, clip) -> None:
        item = self.items_by_clip.get(clip.id)
        if item is not None:
            item.set_view(self._view_of(clip), self._lane_of_track.get(clip.track_id, 0),
                          self._colour_of(clip.track_id))

    def _reindex_lanes(self) -> None:
        self._lane_of_track = {t.id: i for i, t in enumerate(self.project.tracks)} if self.project else {}

    def _relayout_clips(self) -> None:
        if self.project is None:
            return
        for clip in self.project.clips():
            self._refresh_clip(clip)
        self._update_extent()

    def relayout(self) -> None:
        """Zoom changed: every item recomputes its rectangle from the geometry."""
        for item in self.items_by_clip.values():
            item.relayout()
        self._update_extent()

    def _request_peaks(self, item: ClipItem) -> None:
        if self.peaks is None or self.project is None:
            return
        asset = self.project.assets.get(item.view.asset_id)
        if asset is None:
            return
        ready = self.peaks.get_or_request(asset)
        if ready is not None:
            item.set_peaks(ready, self.peaks.reader)

    def _on_peaks_ready(self, asset_id: str) -> None:
        pyramid = self.peaks.cached(asset_id)
        for item in self.items_by_clip.values():
            if item.view.asset_id == asset_id:
                item.set_peaks(pyramid, self.peaks.reader)

    # --- queries used by the view --------------------------------------------------------
    def lane_count(self) -> int:
        return len(self._lane_of_track)

    def track_id_of_lane(self, lane: int) -> str:
        tracks = self.project.tracks if self.project else ()
        return tracks[lane].id if 0 <= lane < len(tracks) else ""

    def selected_clip_ids(self) -> list[str]:
        return [i.view.clip_id for i in self.selectedItems() if isinstance(i, ClipItem)]

    def select_clips(self, clip_ids) -> None:
        self.clearSelection()
        for cid in clip_ids:
            item = self.items_by_clip.get(cid)
            if item is not None:
                item.setSelected(True)

    def content_end_s(self) -> float:
        return max((i.view.end_s for i in self.items_by_clip.values()), default=0.0)

    def set_view_width(self, width_px: float) -> None:
        self._view_width_px = width_px
        self._update_extent()

    def _update_extent(self) -> None:
        g = self.geometry_
        width = max(g.x_of(self.content_end_s() + TAIL_SECONDS), self._view_width_px)
        height = g.lane_top(self.lane_count() + 1)
        rect = QRectF(0, 0, width, height)
        if rect != self.sceneRect():
            self.setSceneRect(rect)
            self.extent_changed.emit()

    # --- grid drawing (called by the view's drawBackground) ------------------------------
    def paint_grid(self, p: QPainter, rect: QRectF) -> None:
        g = self.geometry_
        grid = self.grid
        pps = g.pixels_per_second
        beat_px = grid.seconds_per_beat * pps
        every = grid.bar_label_every(pps, min_pixels=24)
        bottom = g.lane_top(max(1, self.lane_count()))
        first_bar = max(0, int(math.floor(g.seconds_at(rect.left()) / grid.seconds_per_bar)))
        last_bar = int(math.ceil(g.seconds_at(rect.right()) / grid.seconds_per_bar)) + 1
        bar_pen, beat_pen = QPen(palette.BAR_LINE), QPen(palette.BEAT_LINE)
        for bar in range(first_bar, last_bar):
            x = g.x_of(bar * grid.seconds_per_bar)
            if bar % every == 0:
                p.setPen(bar_pen)
                p.drawLine(QPointF(x, rect.top()), QPointF(x, bottom))
            if beat_px >= 12 and every == 1:
                p.setPen(beat_pen)
                for beat in range(1, grid.beats_per_bar):
                    bx = x + beat * beat_px
                    p.drawLine(QPointF(bx, rect.top()), QPointF(bx, bottom))
