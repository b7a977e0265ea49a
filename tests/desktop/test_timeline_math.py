"""Zoom/scroll and grid arithmetic, plus waveform paths, with no window."""

import numpy as np
import pytest
from PySide6.QtCore import QRectF

from desktop.timeline.geometry import MAX_PIXELS_PER_SECOND, TimelineGeometry
from desktop.timeline.grid import MusicalGrid, format_seconds, seconds_tick_step
from desktop.timeline.range_selection import TimeSelection
from desktop.timeline.waveform import envelope_path


def test_zoom_anchored_keeps_time_under_pointer():
    g = TimelineGeometry(pixels_per_second=40.0)
    scroll = 400.0  # 10 s at the left edge
    anchor_x = 200.0  # pointer at 15 s
    new_scroll = g.zoom_anchored(2.0, anchor_x, scroll)
    assert g.pixels_per_second == 80.0
    assert g.seconds_at(new_scroll + anchor_x) == pytest.approx(15.0)
    g.set_pixels_per_second(1e9)
    assert g.pixels_per_second == MAX_PIXELS_PER_SECOND


def test_geometry_notifies_listeners_once_per_change():
    g = TimelineGeometry()
    calls = []
    g.listeners.append(lambda: calls.append(g.pixels_per_second))
    g.zoom_by(2.0)
    g.set_pixels_per_second(g.pixels_per_second)  # no change, no call
    assert calls == [80.0]


def test_grid_bars_beats_and_snap():
    grid = MusicalGrid(bpm=120, beats_per_bar=4)
    assert grid.format_bars(0.0) == "1.1.00"
    assert grid.format_bars(5.0) == "3.3.00"
    assert grid.format_bars(5.25) == "3.3.50"
    assert grid.snap(1.13, 0.25) == 1.25
    assert grid.snap_step(pixels_per_second=50) == 0.25  # 1/2 beat is the first >= 12 px
    assert grid.snap_step(pixels_per_second=1) == 16.0  # 2 s bars doubled to 8 bars = 16 px
    assert format_seconds(83.5, precise=True) == "1:23.500"
    assert seconds_tick_step(4.5) == 30  # zoomed out: labels every 30 s


def test_time_selection_normalises_and_describes():
    sel = TimeSelection.spanning(9.0, 5.0, 3, 1)
    assert (sel.start_s, sel.end_s, sel.first_lane, sel.last_lane) == (5.0, 9.0, 1, 3)
    assert sel.describe(MusicalGrid()) == "0:05.000 – 0:09.000 (4.000 s) · bars 3.3.00 – 5.3.00"


def test_envelope_path_covers_peaks(qapp):
    lo = np.array([-1.0, -0.5, 0.0, 0.0], np.float32)
    hi = np.array([1.0, 0.5, 0.0, 0.0], np.float32)
    path = envelope_path(lo, hi, QRectF(0, 0, 4, 100))
    box = path.boundingRect()
    assert box.top() == pytest.approx(50 - 46) and box.bottom() == pytest.approx(50 + 46)
    assert path.contains(QRectF(0.4, 10, 0.2, 80).center())
    assert not path.contains(QRectF(3.4, 10, 0.2, 10).center())  # silence: a hairline only
