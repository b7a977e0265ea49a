"""Bind the PeakService to the engine's peak pyramid (engine.audio.peaks).

Adapter, not reimplementation: the pyramid and its per-pixel reduction are the engine's
(`PeakPyramid.peaks_for_range` picks the level matching the zoom). The desktop only merges the
two channels into one envelope per pixel.
"""

from __future__ import annotations

import numpy as np

from desktop.timeline.peak_service import PeakService
from engine.timebase import SAMPLE_RATE


def _engine_compute(asset):
    from engine.audio.peaks import compute_peaks

    return compute_peaks(asset.samples, asset.id)


def read_pixels(pyramid, t0: float, t1: float, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per pixel, [n_pixels] each, over source time [t0, t1) in seconds."""
    mins, maxs = pyramid.peaks_for_range(int(round(t0 * SAMPLE_RATE)), int(round(t1 * SAMPLE_RATE)), n_pixels)
    return mins.min(axis=0), maxs.max(axis=0)  # [2, n] -> [n]


def make_peak_service(parent=None) -> PeakService:
    return PeakService(_engine_compute, read_pixels, parent)
