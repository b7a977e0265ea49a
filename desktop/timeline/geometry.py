"""Zoom and scroll math for the timeline: seconds <-> pixels, lanes <-> y.

Kept free of Qt widgets so the arithmetic is testable on its own. The scene works in pixels
(x = seconds * pixels_per_second, y = lane index * lane height); zoom changes
`pixels_per_second` and every item recomputes its rectangle, so pens and text never scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIN_PIXELS_PER_SECOND = 0.5  # ~30 minutes across a 1000 px view
MAX_PIXELS_PER_SECOND = 4000.0  # ~12 samples per pixel at 48 kHz
ZOOM_STEP = 1.25


@dataclass
class TimelineGeometry:
    """The mapping between document time/lanes and scene pixels.

    Attributes:
        pixels_per_second: horizontal zoom.
        lane_height: height of one track lane in pixels.
        listeners: callables run after any change (scene relayout, ruler repaint).
    """

    pixels_per_second: float = 40.0
    lane_height: int = 84
    listeners: list = field(default_factory=list, repr=False)

    def x_of(self, seconds: float) -> float:
        return seconds * self.pixels_per_second

    def seconds_at(self, x: float) -> float:
        return x / self.pixels_per_second

    def lane_at(self, y: float) -> int:
        """Lane index under scene y (may be >= lane count: below the last track)."""
        return max(0, int(y // self.lane_height))

    def lane_top(self, index: int) -> float:
        return float(index * self.lane_height)

    def set_pixels_per_second(self, value: float) -> None:
        value = min(MAX_PIXELS_PER_SECOND, max(MIN_PIXELS_PER_SECOND, float(value)))
        if value != self.pixels_per_second:
            self.pixels_per_second = value
            self._notify()

    def zoom_by(self, factor: float) -> None:
        self.set_pixels_per_second(self.pixels_per_second * factor)

    def zoom_anchored(self, factor: float, anchor_x_view: float, scroll_x: float) -> float:
        """Zoom by `factor` keeping the time under `anchor_x_view` fixed.

        Args:
            factor: multiplicative zoom change (>1 zooms in).
            anchor_x_view: the anchor's x inside the viewport, in pixels.
            scroll_x: the current horizontal scroll offset (scene x at the viewport's left edge).

        Returns:
            The new scroll offset that keeps the anchor's time under the same viewport pixel.
        """
        anchor_s = self.seconds_at(scroll_x + anchor_x_view)
        self.zoom_by(factor)
        return max(0.0, self.x_of(anchor_s) - anchor_x_view)

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()
