"""Take lanes: one clip's takes stacked on the arrangement's time axis, for comping.

Like Cubase's and Reason's comp lanes: every take of the clip gets a lane (the original, the
whole-clip alternatives, and each region take over the window it was made for). The part of
each lane that sounds is drawn bright, the rest dim, with a marker at every cut. Dragging across
a lane makes that take play in the dragged range (a comp; the engine puts an equal-power
crossfade inside each cut), clicking a whole-clip take's name makes it the base take. The strip
shares the timeline's geometry and horizontal scroll, so a lane lines up with its clip above.

The widget never edits the document: it emits intents the window turns into commands.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.timeline import palette
from desktop.timeline.track_header import HEADER_WIDTH
from desktop.timeline.waveform import envelope_path
from engine.project.commands import region_of
from engine.timebase import SAMPLE_RATE

LANE_HEIGHT = 40
LABEL_PAD = 6


def playing_ranges(clip, take_id: str) -> list[tuple[int, int]]:
    """Source-frame ranges inside the clip's window where `take_id` is what sounds (the
    mixer's own runs between cuts, `engine.audio.render_plan.comp_runs`)."""
    from engine.audio.render_plan import comp_runs

    lo, hi = clip.source_offset, clip.source_offset + clip.length
    return [(max(a, lo), min(b, hi)) for t, a, b, _ in comp_runs(clip) if t == take_id and min(b, hi) > max(a, lo)]


def take_span(take, asset_frames: int) -> tuple[int, int]:
    """Source frames a take's audio covers (a region take holds only its window)."""
    return take.offset, take.offset + asset_frames


def lane_label(clip, index: int, take, tr) -> str:
    region = region_of(take)
    task = str(take.meta.get("task", ""))
    if index == 0:
        base = tr("Original")
    elif region:
        s, e = (v / SAMPLE_RATE for v in region)
        base = tr("{0} {1:.1f}–{2:.1f} s").format(task.capitalize() or tr("Region"), s, e)
    else:
        base = take.name or tr("Take {0}").format(index + 1)
    return ("▶ " if take.id == clip.active_take_id else "   ") + base


class TakeLanesCanvas(QWidget):
    """The lanes themselves (right of the label column).

    Signals:
        painted(str, int, int): take_id, source start, source end — a drag across a lane.
        base_chosen(str): a whole-clip take was clicked in the label column.
    """

    painted = Signal(str, int, int)

    def __init__(self, geometry, scroll_bar, peaks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("takeLanesCanvas")
        self.geometry_ = geometry
        self.scroll_bar = scroll_bar
        self.peaks = peaks
        self.project = None
        self.clip = None
        self.colour = QColor("#4F9DDE")
        self._drag: tuple[int, float, float] | None = None  # lane, x0, x1 (widget px)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.IBeamCursor)
        scroll_bar.valueChanged.connect(self.update)
        geometry.listeners.append(self.update)
        if peaks is not None:
            peaks.ready.connect(lambda _asset: self.update())

    # --- mapping ---------------------------------------------------------------------------
    def x_of_source(self, frame: int) -> float:
        clip = self.clip
        t = (clip.position + frame - clip.source_offset) / SAMPLE_RATE
        return self.geometry_.x_of(t) - self.scroll_bar.value()

    def source_at(self, x: float) -> int:
        clip = self.clip
        t = self.geometry_.seconds_at(x + self.scroll_bar.value())
        frame = int(round(t * SAMPLE_RATE)) - clip.position + clip.source_offset
        return max(clip.source_offset, min(clip.source_offset + clip.length, frame))

    def lane_at(self, y: float) -> int:
        return int(y // LANE_HEIGHT)

    def takes(self):
        return self.clip.takes if self.clip is not None else ()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(600, max(1, len(self.takes())) * LANE_HEIGHT)

    # --- gestures ---------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton or self.clip is None:
            return
        lane = self.lane_at(event.position().y())
        if 0 <= lane < len(self.takes()):
            x = event.position().x()
            self._drag = (lane, x, x)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._drag is not None:
            lane, x0, _ = self._drag
            self._drag = (lane, x0, event.position().x())
            self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        drag, self._drag = self._drag, None
        if drag is None or self.clip is None:
            return
        lane, x0, x1 = drag
        a, b = sorted((self.source_at(x0), self.source_at(x1)))
        take = self.takes()[lane]
        span = take_span(take, self._frames(take))
        a, b = max(a, span[0]), min(b, span[1])  # a take can only play where it has audio
        self.update()
        if b - a >= SAMPLE_RATE // 100:  # 10 ms: a click is not a comp
            self.painted.emit(take.id, a, b)

    def _frames(self, take) -> int:
        asset = self.project.assets.get(take.asset_id) if self.project is not None else None
        return asset.frames if asset is not None else 0

    # --- painting ----------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), palette.BACKGROUND)
        if self.clip is None:
            p.setPen(QPen(palette.RULER_TEXT_DIM))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.tr("Select a clip to see its takes"))
            return
        clip = self.clip
        left, right = self.x_of_source(clip.source_offset), self.x_of_source(clip.source_offset + clip.length)
        for lane, take in enumerate(self.takes()):
            top = lane * LANE_HEIGHT
            if lane % 2:
                p.fillRect(QRectF(0, top, self.width(), LANE_HEIGHT), palette.LANE_ALT)
            span = take_span(take, self._frames(take))
            x0, x1 = max(left, self.x_of_source(span[0])), min(right, self.x_of_source(span[1]))
            if x1 > x0:
                self._paint_take(p, take, QRectF(x0, top + 2, x1 - x0, LANE_HEIGHT - 4), span)
            p.setPen(QPen(palette.LANE_LINE))
            p.drawLine(QPointF(0, top + LANE_HEIGHT - 0.5), QPointF(self.width(), top + LANE_HEIGHT - 0.5))
        # Cuts: a line through every lane at each comp boundary (the crossfade lies inside the segment).
        p.setPen(QPen(QColor(0xF5, 0xC2, 0x42), 1.5))
        xfade = clip.crossfade
        for seg in clip.comp:
            for edge, inward in ((seg.start, 1), (seg.end, -1)):
                x = self.x_of_source(edge)
                p.drawLine(QPointF(x, 0), QPointF(x, len(self.takes()) * LANE_HEIGHT))
                xf = self.x_of_source(edge + inward * min(xfade, (seg.end - seg.start) // 2))
                p.fillRect(QRectF(min(x, xf), 0, abs(xf - x), len(self.takes()) * LANE_HEIGHT),
                           QColor(0xF5, 0xC2, 0x42, 40))
        if self._drag is not None:
            lane, a, b = self._drag
            p.fillRect(QRectF(min(a, b), lane * LANE_HEIGHT, abs(b - a), LANE_HEIGHT), palette.SELECTION_FILL)

    def _paint_take(self, p: QPainter, take, box: QRectF, span: tuple[int, int]) -> None:
        dim = QColor(self.colour).darker(330)
        p.fillRect(box, dim)
        asset = self.project.assets.get(take.asset_id)
        pyramid = self.peaks.get_or_request(asset) if (self.peaks is not None and asset is not None) else None
        wave_dim = QColor(self.colour).darker(170)
        wave_lit = QColor(self.colour).lighter(140)
        n = int(box.width())
        if pyramid is not None and n >= 1:
            t0 = (self.source_at(box.left()) - span[0]) / SAMPLE_RATE
            t1 = (self.source_at(box.left() + n) - span[0]) / SAMPLE_RATE
            lo, hi = self.peaks.reader(pyramid, t0, max(t1, t0 + 1e-6), n)
            path = envelope_path(lo, hi, QRectF(box.left(), box.top(), n, box.height()))
            p.fillPath(path, wave_dim)
        for a, b in playing_ranges(self.clip, take.id):
            xa, xb = max(box.left(), self.x_of_source(a)), min(box.right(), self.x_of_source(b))
            if xb <= xa:
                continue
            lit = QRectF(xa, box.top(), xb - xa, box.height())
            p.fillRect(lit, QColor(self.colour).darker(220))
            if pyramid is not None and n >= 1:
                p.save()
                p.setClipRect(lit)
                p.fillPath(path, wave_lit)
                p.restore()
            p.setPen(QPen(QColor(self.colour).lighter(120), 1))
            p.drawRect(lit.adjusted(0.5, 0.5, -0.5, -0.5))


class TakeLanes(QWidget):
    """The strip under the arrangement: a title row with the comp actions, labels, lanes.

    Signals:
        painted(str, str, int, int): clip_id, take_id, source start, source end.
        base_chosen(str, str): clip_id, take_id (a whole-clip take's label was clicked).
        closed(): the strip's close button.
    """

    painted = Signal(str, str, int, int)
    base_chosen = Signal(str, str)
    closed = Signal()

    def __init__(self, geometry, scroll_bar, peaks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("takeLanes")
        self.canvas = TakeLanesCanvas(geometry, scroll_bar, peaks, self)
        self.canvas.painted.connect(lambda take_id, a, b: self.painted.emit(self.canvas.clip.id, take_id, a, b))
        self.title = QLabel()
        self.title.setObjectName("takeLanesTitle")
        self.ab_button = QPushButton(self.tr("A/B"))
        self.flatten_button = QPushButton(self.tr("Flatten"))
        self.retake_button = QPushButton(self.tr("Retake"))
        self.close_button = QPushButton(self.tr("Close"))
        self.close_button.clicked.connect(self.closed)
        hint = QLabel(self.tr("Drag across a lane to make that take play there"))
        hint.setStyleSheet("color: #8a909c;")
        top = QHBoxLayout()
        top.setContentsMargins(LABEL_PAD, 2, LABEL_PAD, 2)
        top.addWidget(self.title)
        top.addSpacing(12)
        top.addWidget(hint, 1)
        for button in (self.ab_button, self.flatten_button, self.retake_button, self.close_button):
            top.addWidget(button)
        self.labels = _LabelColumn(self)
        self.labels.chosen.connect(self._on_label)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        body.addWidget(self.labels)
        body.addWidget(self.canvas, 1)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addLayout(top)
        col.addLayout(body, 1)

    def sizeHint(self) -> QSize:  # noqa: N802
        lanes = max(1, len(self.canvas.takes()))
        return QSize(800, self.title.sizeHint().height() + 12 + lanes * LANE_HEIGHT)

    def show_clip(self, project, clip, colour: QColor | None = None) -> None:
        self.canvas.project, self.canvas.clip = project, clip
        if colour is not None:
            self.canvas.colour = colour
        takes = clip.takes if clip is not None else ()
        self.labels.set_labels([lane_label(clip, i, t, self.tr) for i, t in enumerate(takes)])
        count = len(takes)
        self.title.setText(self.tr("Takes of “{0}” — {1} lane(s)").format(clip.name or clip.active_take.name, count)
                           if clip is not None else self.tr("Take lanes"))
        self.flatten_button.setEnabled(clip is not None and bool(clip.comp))
        height = max(1, count) * LANE_HEIGHT
        self.canvas.setMinimumHeight(height)
        self.labels.setMinimumHeight(height)
        self.canvas.update()

    def _on_label(self, lane: int) -> None:
        clip = self.canvas.clip
        if clip is None or not 0 <= lane < len(clip.takes):
            return
        take = clip.takes[lane]
        if region_of(take) is None:
            self.base_chosen.emit(clip.id, take.id)


class _LabelColumn(QWidget):
    chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedWidth(HEADER_WIDTH)
        self._labels: list[str] = []

    def set_labels(self, labels: list[str]) -> None:
        self._labels = labels
        self.update()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.chosen.emit(int(event.position().y() // LANE_HEIGHT))

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), palette.RULER_BG)
        font = QFont(p.font())
        font.setPointSizeF(8.5)
        p.setFont(font)
        for i, text in enumerate(self._labels):
            rect = QRectF(LABEL_PAD, i * LANE_HEIGHT, self.width() - 2 * LABEL_PAD, LANE_HEIGHT)
            p.setPen(QPen(palette.RULER_TEXT if text.startswith("▶") else palette.RULER_TEXT_DIM))
            p.drawText(rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
            p.setPen(QPen(palette.LANE_LINE))
            p.drawLine(QPointF(0, rect.bottom() - 0.5), QPointF(self.width(), rect.bottom() - 0.5))
