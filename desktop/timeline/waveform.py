"""Waveform drawing from per-pixel min/max arrays: O(pixels) at any zoom.

The engine's peak pyramid reduces a source range to one (min, max) per pixel column at the
level matching the zoom (`PeakPyramid.peaks_for_range`); here the envelope becomes one closed
path, built with pyqtgraph's vectorised `arrayToQPath` (no per-point Python loop).
"""

from __future__ import annotations

import numpy as np
from pyqtgraph.functions import arrayToQPath
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPainterPath


def envelope_path(lo: np.ndarray, hi: np.ndarray, rect: QRectF, gain: float = 1.0) -> QPainterPath:
    """A closed path: the top envelope left-to-right, then the bottom right-to-left."""
    n = lo.shape[0]
    xs = rect.left() + np.arange(n, dtype=np.float64) + 0.5
    mid = rect.center().y()
    half = rect.height() / 2.0 * 0.92
    top = mid - np.clip(hi * gain, -1.0, 1.0) * half
    bottom = mid - np.clip(lo * gain, -1.0, 1.0) * half
    # Keep at least a hairline so silence still reads as "audio here".
    bottom = np.maximum(bottom, top + 1.0)
    x = np.concatenate([xs, xs[::-1]])
    y = np.concatenate([top, bottom[::-1]])
    path = arrayToQPath(x, y, connect="all")
    path.closeSubpath()
    return path


def paint_waveform(painter: QPainter, path: QPainterPath, colour: QColor) -> None:
    painter.fillPath(path, colour)
