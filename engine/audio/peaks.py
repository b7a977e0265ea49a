"""Waveform peaks: a min/max pyramid per asset, so drawing costs O(pixels) at any zoom.

Level 0 holds the min and max of every 64 frames, per channel; each next level merges 4 bins
of the one below (256, 1024, ... frames), up to a single bin. A 5-minute asset costs ~3.5 MB at
level 0 and ~1.2 MB for all the levels above. To draw `n_pixels` over a frame range,
`PeakPyramid.peaks_for_range` picks the coarsest level whose bin is no wider than a pixel, so
it reduces at most ~4 bins per pixel; zoomed in closer than 64 frames per pixel it reads the
raw samples, which is still at most 64 frames per pixel.

Computing a pyramid reads the whole asset (~0.1-0.3 s per 5-minute stereo asset): do it off
the UI thread. `PeakCache` is thread-safe: a worker calls `get_or_compute(asset)`, the UI
calls `get(asset_id)` and draws a placeholder until it is there. Pyramids are immutable
(read-only arrays) and hold no reference to any view (the SmartThumbnail mistake, aesthetics
§7.5).

Public API (stable): BASE_BIN, LEVEL_FACTOR, PeakLevel, PeakPyramid (.levels, .frames,
.peaks_for_range(start, end, n_pixels) -> (mins [2, n], maxs [2, n]), .level_for(fpp)),
compute_peaks(samples, asset_id="", ctx=None), PeakCache(max_items).get/.get_or_compute/.put
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.jobs.context import JobContext

if TYPE_CHECKING:
    from engine.project.assets import Asset

BASE_BIN = 64
LEVEL_FACTOR = 4
_CHUNK_BINS = 16_384  # level-0 bins per read: bounds memory when the asset is memory-mapped


@dataclass(frozen=True)
class PeakLevel:
    bin_frames: int
    mins: np.ndarray  # [2, bins] float32, read-only
    maxs: np.ndarray  # [2, bins] float32, read-only


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float32)
    a.flags.writeable = False
    return a


def _reduce_bins(mins: np.ndarray, maxs: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge every `factor` bins; a partial last group is merged over what it has."""
    n = mins.shape[1]
    full = n // factor * factor
    out_min = mins[:, :full].reshape(2, -1, factor).min(axis=2)
    out_max = maxs[:, :full].reshape(2, -1, factor).max(axis=2)
    if full < n:
        out_min = np.concatenate([out_min, mins[:, full:].min(axis=1, keepdims=True)], axis=1)
        out_max = np.concatenate([out_max, maxs[:, full:].max(axis=1, keepdims=True)], axis=1)
    return out_min, out_max


@dataclass(frozen=True)
class PeakPyramid:
    asset_id: str
    frames: int
    levels: tuple[PeakLevel, ...]
    samples: np.ndarray  # the asset's [2, frames] read-only samples, for close zoom

    def level_for(self, frames_per_pixel: float) -> PeakLevel | None:
        """The coarsest level whose bin fits in a pixel; None means 'read raw samples'."""
        chosen = None
        for level in self.levels:
            if level.bin_frames <= frames_per_pixel:
                chosen = level
            else:
                break
        return chosen

    def peaks_for_range(
        self, start_frame: int, end_frame: int, n_pixels: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Min and max per pixel for asset frames [start_frame, end_frame).

        Each pixel covers the bins (or frames) from the one containing its left edge up to
        the next pixel's; pixels outside the asset are 0. Cost: O(n_pixels).

        Returns:
            (mins, maxs), each [2, n_pixels] float32.
        """
        n_pixels = int(n_pixels)
        mins = np.zeros((2, max(n_pixels, 0)), np.float32)
        maxs = np.zeros((2, max(n_pixels, 0)), np.float32)
        if n_pixels <= 0 or end_frame <= start_frame:
            return mins, maxs
        fpp = (end_frame - start_frame) / n_pixels
        level = self.level_for(fpp)
        if level is None:
            bin_frames, lo_src, hi_src, total = 1, self.samples, self.samples, self.frames
        else:
            bin_frames, lo_src, hi_src, total = level.bin_frames, level.mins, level.maxs, level.mins.shape[1]
        edges = start_frame + np.arange(n_pixels + 1, dtype=np.float64) * fpp  # pixel edges in frames
        idx = np.floor(edges / bin_frames).astype(np.int64)
        idx[-1] = max(idx[-1], int(np.ceil(end_frame / bin_frames)))
        inside = (idx[:-1] < total) & (idx[1:] > 0)
        if not inside.any():
            return mins, maxs
        first, last = np.flatnonzero(inside)[[0, -1]]
        seg = np.clip(idx[first : last + 2], 0, total)
        starts = seg[:-1]
        ends = np.maximum(seg[1:], np.minimum(starts + 1, total))  # zoomed past 1 frame/pixel
        starts = np.minimum(starts, total - 1)
        lo_block = lo_src[:, starts[0] : ends[-1]]
        hi_block = hi_src[:, starts[0] : ends[-1]]
        rel = starts - starts[0]
        # reduceat over [rel[i], rel[i+1]); a repeated index yields that single element.
        mins[:, first : last + 1] = np.minimum.reduceat(lo_block, rel, axis=1)
        maxs[:, first : last + 1] = np.maximum.reduceat(hi_block, rel, axis=1)
        return mins, maxs


def compute_peaks(samples: np.ndarray, asset_id: str = "", ctx: JobContext | None = None) -> PeakPyramid:
    """Build the pyramid for [2, frames] samples. Thread: any (a worker). Cancellable."""
    ctx = ctx or JobContext.inline()
    frames = samples.shape[1]
    n_bins = -(-frames // BASE_BIN)
    mins = np.empty((2, n_bins), np.float32)
    maxs = np.empty((2, n_bins), np.float32)
    chunk = _CHUNK_BINS * BASE_BIN
    steps = -(-frames // chunk)
    for step, start in enumerate(range(0, frames, chunk)):
        ctx.check_cancelled()
        block = np.asarray(samples[:, start : start + chunk], dtype=np.float32)
        n = block.shape[1]
        full = n // BASE_BIN * BASE_BIN
        b0 = start // BASE_BIN
        if full:
            shaped = block[:, :full].reshape(2, -1, BASE_BIN)
            mins[:, b0 : b0 + full // BASE_BIN] = shaped.min(axis=2)
            maxs[:, b0 : b0 + full // BASE_BIN] = shaped.max(axis=2)
        if full < n:
            mins[:, -1] = block[:, full:].min(axis=1)
            maxs[:, -1] = block[:, full:].max(axis=1)
        ctx.progress("peaks", step + 1, steps)
    levels = [PeakLevel(BASE_BIN, _frozen(mins), _frozen(maxs))]
    while levels[-1].mins.shape[1] > 1:
        lo, hi = _reduce_bins(levels[-1].mins, levels[-1].maxs, LEVEL_FACTOR)
        levels.append(PeakLevel(levels[-1].bin_frames * LEVEL_FACTOR, _frozen(lo), _frozen(hi)))
    return PeakPyramid(asset_id, frames, tuple(levels), samples)


class PeakCache:
    """Pyramids by asset id (content hash), least recently used dropped first. Thread-safe;
    computing happens outside the lock, so the UI's `get` never waits for a computation."""

    def __init__(self, max_items: int = 256) -> None:
        self.max_items = max_items
        self._items: OrderedDict[str, PeakPyramid] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, asset_id: str) -> PeakPyramid | None:
        with self._lock:
            pyramid = self._items.get(asset_id)
            if pyramid is not None:
                self._items.move_to_end(asset_id)
            return pyramid

    def put(self, pyramid: PeakPyramid) -> PeakPyramid:
        with self._lock:
            existing = self._items.get(pyramid.asset_id)
            if existing is not None:
                return existing
            self._items[pyramid.asset_id] = pyramid
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
            return pyramid

    def get_or_compute(self, asset: Asset, ctx: JobContext | None = None) -> PeakPyramid:
        """Thread: a worker (computes if missing). Two racing workers both compute; the first
        stored wins, and both get the same object."""
        cached = self.get(asset.id)
        if cached is not None:
            return cached
        return self.put(compute_peaks(asset.samples, asset.id, ctx))

    def __contains__(self, asset_id: object) -> bool:
        with self._lock:
            return asset_id in self._items
