"""Waveform drawing from min/max peak arrays: O(pixels) at any zoom.

The engine's peak pyramid gives, per level, min and max per bucket of `bucket_frames` samples.
Here we pick the level whose bucket is closest below one pixel, reduce it to exactly one
(min, max) pair per pixel column, and fill the envelope as one path.
"""

from __future__ import annotations

import numpy as np
from pyqtgraph.functions import arrayToQPath
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPainterPath


def pixel_envelope(
    mins: np.ndarray,
    maxs: np.ndarray,
    bucket_s: float,
    t_start: float,
    t_end: float,
    n_pixels: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce per-bucket (min, max) to one pair per pixel over [t_start, t_end).

    Args:
        mins, maxs: [n_buckets] (or [channels, n_buckets], merged here) peak values in [-1, 1].
        bucket_s: seconds per bucket at this level.
        t_start, t_end: source-time window (seconds) the pixels span.
        n_pixels: number of pixel columns (>= 1).

    Returns:
        (lo, hi): [n_pixels] float32 each; silence (0, 0) where the window has no audio.
    """
    mins = np.asarray(mins, dtype=np.float32)
    maxs = np.asarray(maxs, dtype=np.float32)
    if mins.ndim == 2:  # [C, N] -> [N]: one envelope for all channels
        mins, maxs = mins.min(axis=0), maxs.max(axis=0)
    n = max(1, int(n_pixels))
    lo = np.zeros(n, dtype=np.float32)
    hi = np.zeros(n, dtype=np.float32)
    total = mins.shape[0]
    if total == 0 or t_end <= t_start:
        return lo, hi
    # Bucket index at each pixel edge; the epsilon keeps exact multiples from flooring down.  # [n + 1]
    edges = t_start + (t_end - t_start) * np.arange(n + 1, dtype=np.float64) / n
    idx = np.floor(edges / bucket_s + 1e-6).astype(np.int64)
    start = idx[:-1]
    valid = (start >= 0) & (start < total)
    if not valid.any():
        return lo, hi
    s_valid = start[valid]
    buckets_per_pixel = (t_end - t_start) / n / bucket_s
    if buckets_per_pixel <= 1.0:
        # Zoomed in past this level's resolution: each pixel shows the bucket it falls in.
        seg_min, seg_max = mins[s_valid], maxs[s_valid]
    else:
        # Contiguous, strictly increasing starts: reduceat gives each pixel its own buckets;
        # its last segment runs to the array end, so bound it by the window's end.
        seg_min = np.minimum.reduceat(mins, s_valid)
        seg_max = np.maximum.reduceat(maxs, s_valid)
        end = int(min(total, max(idx[-1], s_valid[-1] + 1)))
        seg_min[-1] = mins[s_valid[-1] : end].min()
        seg_max[-1] = maxs[s_valid[-1] : end].max()
    lo[valid] = seg_min
    hi[valid] = seg_max
    return lo, hi


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
