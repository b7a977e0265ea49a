"""A clip on the arrangement: coloured body, name bar, waveform, fade handles.

The item draws a `ClipView` (a frozen snapshot the scene builds from the engine's clip) and
never edits the document: the view turns gestures into commands on mouse release, the
document changes, and the scene hands the item a fresh snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from desktop.timeline import palette
from desktop.timeline.geometry import TimelineGeometry
from desktop.timeline.waveform import envelope_path

NAME_BAR_HEIGHT = 17
EDGE_GRAB_PX = 6
FADE_HANDLE_PX = 8
LANE_MARGIN = 2
TAKE_ARROW_PX = 16  # each of the take switcher's ◀ ▶ buttons on the name bar
TAKE_SWITCHER_PX = 2 * TAKE_ARROW_PX + 34
COMP_BAND = QColor(0xF5, 0xC2, 0x42, 38)
COMP_EDGE = QColor(0xF5, 0xC2, 0x42, 200)


def _tr(text: str, disambiguation: str | None = None) -> str:
    # ClipItem is a QGraphicsItem, not a QObject: it has no self.tr().
    return QCoreApplication.translate("ClipItem", text, disambiguation)


@dataclass(frozen=True)
class ClipView:
    """What a clip item shows, in seconds (converted once from the document's samples)."""

    clip_id: str
    track_id: str
    asset_id: str
    name: str
    start_s: float
    length_s: float
    offset_s: float  # where in the asset the clip starts
    gain: float = 1.0  # linear
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    muted: bool = False
    asset_length_s: float = float("inf")  # bounds how far the edges can be trimmed out
    take_number: int = 1  # the active whole-clip take, 1-based
    take_count: int = 1  # whole-clip takes (region takes play inside their comp segments)
    comp_segments: tuple[tuple[float, float], ...] = ()  # seconds from the clip start: region takes
    take_score: float | None = None  # the active take's score in [0, 1] (None = not scored)

    @property
    def end_s(self) -> float:
        return self.start_s + self.length_s


class ClipItem(QGraphicsItem):
    """One clip. Position/size follow `geometry`; `lane` is its track's row.

    Attributes:
        view: the current snapshot.
        peaks: a peak pyramid (engine) or None while it is being computed.
        preview: a temporary ClipView shown during a drag (None when idle).
    """

    def __init__(self, view: ClipView, lane: int, colour: QColor, geometry: TimelineGeometry) -> None:
        super().__init__()
        self.view = view
        self.lane = lane
        self.colour = colour
        self.peaks = None
        self.preview: ClipView | None = None
        self.preview_lane: int | None = None
        self._geometry = geometry
        self._peak_reader = None
        self._path_cache = None  # (key, QPainterPath) of the last waveform drawn
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.relayout()

    # --- document -> item ----------------------------------------------------------------
    def set_view(self, view: ClipView, lane: int, colour: QColor) -> None:
        self.view, self.lane, self.colour = view, lane, colour
        self.preview = None
        self.preview_lane = None
        self.relayout()

    def set_peaks(self, peaks, reader) -> None:
        """`reader(peaks, t0, t1, n_pixels) -> (lo, hi)` picks the level and reduces it."""
        self.peaks = peaks
        self._peak_reader = reader
        self.update()

    def set_preview(self, view: ClipView | None, lane: int | None = None) -> None:
        """Show where a drag would put the clip (not the document)."""
        self.preview = view
        self.preview_lane = lane
        self.relayout()

    @property
    def shown(self) -> ClipView:
        return self.preview or self.view

    def relayout(self) -> None:
        shown = self.shown
        lane = self.preview_lane if self.preview_lane is not None else self.lane
        self.prepareGeometryChange()
        self.setPos(self._geometry.x_of(shown.start_s), self._geometry.lane_top(lane) + LANE_MARGIN)
        self._width = max(2.0, self._geometry.x_of(shown.length_s))
        self._height = float(self._geometry.lane_height - 2 * LANE_MARGIN)
        self.update()

    # --- hit testing (used by the view's gesture logic) ----------------------------------
    def switcher_rect(self) -> QRectF | None:
        """Where the take switcher (◀ 2/4 ▶) sits on the name bar, or None (one take / too narrow)."""
        w = self._width
        if self.view.take_count < 2 or w < TAKE_SWITCHER_PX + 60:
            return None
        return QRectF(w - EDGE_GRAB_PX - TAKE_SWITCHER_PX, 0, TAKE_SWITCHER_PX, NAME_BAR_HEIGHT)

    def zone_at(self, local: QPointF) -> str:
        """'fade_in', 'fade_out', 'trim_left', 'trim_right', 'take_prev', 'take_next',
        'move' (name bar) or 'body'."""
        x, y = local.x(), local.y()
        w = self._width
        switcher = self.switcher_rect()
        if switcher is not None and switcher.contains(local):
            if x < switcher.left() + TAKE_ARROW_PX:
                return "take_prev"
            if x > switcher.right() - TAKE_ARROW_PX:
                return "take_next"
            return "move"
        grab = min(EDGE_GRAB_PX, w / 4)
        if y <= FADE_HANDLE_PX + 2:
            fi = self._geometry.x_of(self.view.fade_in_s)
            fo = w - self._geometry.x_of(self.view.fade_out_s)
            if abs(x - fi) <= FADE_HANDLE_PX and x < w / 2:
                return "fade_in"
            if abs(x - fo) <= FADE_HANDLE_PX and x >= w / 2:
                return "fade_out"
        if x <= grab:
            return "trim_left"
        if x >= w - grab:
            return "trim_right"
        if y <= NAME_BAR_HEIGHT:
            return "move"
        return "body"

    # --- painting ------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(0, 0, self._width, self._height)

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        shown = self.shown
        w, h = self._width, self._height
        rect = QRectF(0, 0, w, h)
        base = QColor(self.colour)
        body = QColor(base).darker(260 if not shown.muted else 400)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.fillRect(rect, body)
        bar = QColor(base) if not shown.muted else QColor(base).darker(200)
        p.fillRect(QRectF(0, 0, w, NAME_BAR_HEIGHT), bar)

        exposed = self._visible_part(p, option, rect)
        wave_rect = QRectF(0, NAME_BAR_HEIGHT, w, h - NAME_BAR_HEIGHT)
        if self.peaks is not None and self._peak_reader is not None and exposed.width() >= 1:
            x0 = max(0.0, exposed.left())
            x1 = min(w, exposed.right() + 1)
            n = max(1, int(x1 - x0))
            t0 = shown.offset_s + self._geometry.seconds_at(x0)
            t1 = shown.offset_s + self._geometry.seconds_at(x0 + n)
            key = (x0, n, t0, t1, wave_rect.height(), shown.gain, id(self.peaks))
            if self._path_cache is None or self._path_cache[0] != key:
                # Repaints at the same zoom (playhead, selection, hover) reuse the path.
                lo, hi = self._peak_reader(self.peaks, t0, t1, n)
                rect_ = QRectF(x0, wave_rect.top(), n, wave_rect.height())
                self._path_cache = (key, envelope_path(lo, hi, rect_, shown.gain))
            path = self._path_cache[1]
            wave = QColor(base).lighter(135)
            p.fillPath(path, wave)
        elif self.peaks is None:
            p.setPen(QPen(palette.RULER_TEXT_DIM))
            p.drawText(wave_rect, Qt.AlignmentFlag.AlignCenter, _tr("computing waveform…"))

        self._paint_comp(p, h)
        self._paint_fades(p, w, h)
        p.setPen(QPen(QColor(0x10, 0x10, 0x12)))
        font = QFont(p.font())
        font.setPointSizeF(8.5)
        font.setBold(True)
        p.setFont(font)
        switcher = self.switcher_rect()
        name_right = (switcher.left() - 4) if switcher is not None else w - 4
        if shown.take_score is not None and name_right > 110:
            # The active take's score beside the switcher, so A/B-ing takes shows which is judged best.
            badge = QRectF(name_right - 44, 0, 42, NAME_BAR_HEIGHT)
            p.drawText(badge, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                       _tr("★ {0}", "take score out of 100").format(round(100 * shown.take_score)))
            name_right = badge.left() - 2
        if w > 24:
            p.drawText(QRectF(6, 0, name_right - 6, NAME_BAR_HEIGHT), Qt.AlignmentFlag.AlignVCenter, shown.name)
        if switcher is not None:
            self._paint_switcher(p, switcher)
        edge = palette.CLIP_SELECTED_EDGE if self.isSelected() else QColor(base).darker(150)
        p.setPen(QPen(edge, 2 if self.isSelected() else 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(rect.adjusted(0.5, 0.5, -0.5, -0.5))

    def _paint_comp(self, p: QPainter, h: float) -> None:
        """Where another take plays (a repaint, a comp): a light band with a line at each cut."""
        for a, b in self.shown.comp_segments:
            x0, x1 = self._geometry.x_of(a), self._geometry.x_of(b)
            p.fillRect(QRectF(x0, NAME_BAR_HEIGHT, max(1.0, x1 - x0), h - NAME_BAR_HEIGHT), COMP_BAND)
            p.setPen(QPen(COMP_EDGE, 1.5))
            for x in (x0, x1):
                p.drawLine(QPointF(x, NAME_BAR_HEIGHT), QPointF(x, h))

    def _paint_switcher(self, p: QPainter, r: QRectF) -> None:
        """◀ n/N ▶: which take plays; the arrows flip takes (so do the [ and ] keys)."""
        p.fillRect(r, QColor(0, 0, 0, 70))
        p.setPen(QPen(QColor(0xf4, 0xf4, 0xf6)))
        left = QRectF(r.left(), r.top(), TAKE_ARROW_PX, r.height())
        right = QRectF(r.right() - TAKE_ARROW_PX, r.top(), TAKE_ARROW_PX, r.height())
        middle = QRectF(left.right(), r.top(), r.width() - 2 * TAKE_ARROW_PX, r.height())
        p.drawText(left, Qt.AlignmentFlag.AlignCenter, "◀")
        p.drawText(right, Qt.AlignmentFlag.AlignCenter, "▶")
        p.drawText(middle, Qt.AlignmentFlag.AlignCenter, _tr("{0}/{1}", "take n of N").format(self.view.take_number, self.view.take_count))

    def _visible_part(self, p: QPainter, option: QStyleOptionGraphicsItem, rect: QRectF) -> QRectF:
        """The part of the item worth drawing a waveform for: exposed AND inside the view.

        NOTE: QGraphicsView.render() (offscreen grabs) reports the whole item as exposed; a
        60 000 px wide clip at close zoom would then build a 60 000-point path per paint.
        Intersecting with the view's visible scene rect keeps the cost O(visible pixels).
        """
        exposed = option.exposedRect.intersected(rect)
        if p.hasClipping():
            exposed = exposed.intersected(p.clipBoundingRect())
        scene = self.scene()
        if scene is not None:
            for view in scene.views():
                visible = view.mapToScene(view.viewport().rect()).boundingRect()
                exposed = exposed.intersected(self.mapFromScene(visible).boundingRect())
                break
        return exposed

    def _paint_fades(self, p: QPainter, w: float, h: float) -> None:
        shown = self.shown
        fi = min(w, self._geometry.x_of(shown.fade_in_s))
        fo = min(w, self._geometry.x_of(shown.fade_out_s))
        shade = QColor(0, 0, 0, 90)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if fi > 1:
            path = QPainterPath(QPointF(0, NAME_BAR_HEIGHT))
            path.lineTo(fi, NAME_BAR_HEIGHT)
            path.lineTo(0, h)
            path.closeSubpath()
            p.fillPath(path, shade)
            p.setPen(QPen(QColor(255, 255, 255, 160), 1))
            p.drawLine(QPointF(0, h), QPointF(fi, NAME_BAR_HEIGHT))
        if fo > 1:
            path = QPainterPath(QPointF(w, NAME_BAR_HEIGHT))
            path.lineTo(w - fo, NAME_BAR_HEIGHT)
            path.lineTo(w, h)
            path.closeSubpath()
            p.fillPath(path, shade)
            p.setPen(QPen(QColor(255, 255, 255, 160), 1))
            p.drawLine(QPointF(w - fo, NAME_BAR_HEIGHT), QPointF(w, h))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        # Fade handles: small squares on the name bar at the fade ends.
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(255, 255, 255, 200))
        if w > 3 * FADE_HANDLE_PX:
            p.drawRect(QRectF(max(0.0, fi - 3), 1, 6, 6))
            p.drawRect(QRectF(min(w - 6, w - fo - 3), 1, 6, 6))
