"""Bind the PeakService to the engine's peak pyramid (engine.audio.peaks).

Adapter, not reimplementation: the pyramid is the engine's. The only desktop-side logic here is
the `reader` — pick the level whose bucket is closest below one pixel and reduce it to one
(min, max) per pixel with `waveform.pixel_envelope`.
"""

from __future__ import annotations

import numpy as np

from desktop.timeline.peak_service import PeakService
from desktop.timeline.waveform import pixel_envelope
from engine.timebase import SAMPLE_RATE


def _engine_compute(asset):
    try:
        from engine.audio import peaks
    except ImportError:  # engine.audio.peaks not landed yet: a stop-gap pyramid (see below)
        return _StopGapPyramid(asset.samples)
    return peaks.compute_peaks(asset.samples)


class _Level:
    def __init__(self, mins, maxs, bucket_frames):
        self.mins, self.maxs, self.bucket_frames = mins, maxs, bucket_frames


class _StopGapPyramid:
    """Only used while the engine's peak module is missing; same reading interface."""

    def __init__(self, samples: np.ndarray) -> None:
        mono_min = samples.min(axis=0)  # [frames]
        mono_max = samples.max(axis=0)
        self.levels = []
        bucket = 256
        n = mono_min.shape[0] // bucket * bucket
        mins = mono_min[:n].reshape(-1, bucket).min(axis=1)
        maxs = mono_max[:n].reshape(-1, bucket).max(axis=1)
        while True:
            self.levels.append(_Level(mins, maxs, bucket))
            if mins.shape[0] < 4:
                break
            m = mins.shape[0] // 4 * 4
            mins = mins[:m].reshape(-1, 4).min(axis=1)
            maxs = maxs[:m].reshape(-1, 4).max(axis=1)
            bucket *= 4

    def level_for(self, frames_per_pixel: float) -> _Level:
        best = self.levels[0]
        for level in self.levels:
            if level.bucket_frames <= frames_per_pixel:
                best = level
        return best


def read_pixels(pyramid, t0: float, t1: float, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per pixel over source time [t0, t1) from the best pyramid level."""
    frames_per_pixel = max(1.0, (t1 - t0) * SAMPLE_RATE / max(1, n_pixels))
    level = pyramid.level_for(frames_per_pixel)
    return pixel_envelope(level.mins, level.maxs, level.bucket_frames / SAMPLE_RATE, t0, t1, n_pixels)


def make_peak_service(parent=None) -> PeakService:
    return PeakService(_engine_compute, read_pixels, parent)
