"""Peak pyramid against brute force, level choice (O(pixels)), and the thread-safe cache."""

from __future__ import annotations

import math
import threading
from fractions import Fraction

import numpy as np
import pytest

from engine.audio.peaks import BASE_BIN, LEVEL_FACTOR, PeakCache, compute_peaks
from engine.errors import Cancelled
from engine.jobs.context import JobContext
from engine.project.assets import Asset


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 1_000_003)).astype(np.float32)  # not a multiple of any bin
    x.flags.writeable = False
    return x


def test_every_level_matches_brute_force(audio):
    pyramid = compute_peaks(audio, "a")
    assert pyramid.levels[0].bin_frames == BASE_BIN and pyramid.levels[-1].mins.shape[1] == 1
    for level in pyramid.levels:
        b = level.bin_frames
        n = level.mins.shape[1]
        assert n == -(-audio.shape[1] // b)
        for i in sorted({0, min(1, n - 1), n // 2, n - 1}):
            chunk = audio[:, i * b : (i + 1) * b]
            np.testing.assert_array_equal(level.mins[:, i], chunk.min(axis=1))
            np.testing.assert_array_equal(level.maxs[:, i], chunk.max(axis=1))
        assert not level.mins.flags.writeable
    np.testing.assert_array_equal(pyramid.levels[-1].maxs[:, 0], audio.max(axis=1))


def _spec_bin_width(frames_per_pixel: Fraction) -> int:
    """The module's rule written out independently: the widest 64·4^k bin that still fits in
    one pixel; 1 (raw samples) when even 64 frames are wider than a pixel."""
    width = 1
    candidate = 64
    while candidate <= frames_per_pixel:
        width, candidate = candidate, candidate * 4
    return width


@pytest.mark.parametrize(
    "start, end, pixels",
    [(0, 1_000_003, 800), (12_345, 612_345, 1000), (500, 20_500, 700), (1000, 1100, 400),
     (0, 256 * 500, 500), (7, 7 + 255 * 300 + 100, 300)],
)
def test_peaks_for_range_matches_an_independent_brute_force(audio, start, end, pixels):
    """Every pixel against min/max of the raw samples over its own frames, computed with exact
    fractions and the bin width from the spec (not from the code under test)."""
    pyramid = compute_peaks(audio, "a")
    mins, maxs = pyramid.peaks_for_range(start, end, pixels)
    fpp = Fraction(end - start, pixels)
    b = _spec_bin_width(fpp)
    assert b <= max(fpp, 1), "a bin must never be wider than one pixel (a frame is the floor)"
    frames = audio.shape[1]
    prev_hi = None
    for i in range(pixels):
        left, right = start + i * fpp, start + (i + 1) * fpp  # the pixel's exact extent
        first_bin = math.floor(left / b)  # the bin holding the left edge ...
        end_bin = math.ceil(end / b) if i == pixels - 1 else math.floor(right / b)  # ... up to the next pixel's
        lo, hi = first_bin * b, min(max(end_bin, first_bin + 1) * b, frames)
        assert lo <= left < lo + b and hi - lo <= fpp + 2 * b  # reads at most a pixel and a bin
        if prev_hi is not None and prev_hi < hi:
            assert lo <= prev_hi, f"pixel {i}: frames {prev_hi}..{lo} belong to no pixel"
        prev_hi = hi
        chunk = audio[:, lo:hi]
        np.testing.assert_array_equal(mins[:, i], chunk.min(axis=1), err_msg=f"pixel {i}")
        np.testing.assert_array_equal(maxs[:, i], chunk.max(axis=1), err_msg=f"pixel {i}")


def test_level_choice_keeps_cost_proportional_to_pixels(audio):
    pyramid = compute_peaks(audio, "a")
    for pixels in (100, 1000, 4000):
        for span in (10_000, 100_000, 1_000_003):
            level = pyramid.level_for(span / pixels)
            bins_read = span / (1 if level is None else level.bin_frames)
            assert bins_read <= max(BASE_BIN, LEVEL_FACTOR) * pixels + 2


def test_out_of_range_pixels_are_silent_and_tiny_requests_work(audio):
    pyramid = compute_peaks(audio, "a")
    mins, maxs = pyramid.peaks_for_range(audio.shape[1] - 1000, audio.shape[1] + 1000, 20)
    assert (maxs[:, 11:] == 0).all() and (maxs[:, :10] != 0).all()  # pixel 10 may hold the last bin
    mins, maxs = pyramid.peaks_for_range(-500, 500, 10)
    assert (maxs[:, :5] == 0).all()
    assert pyramid.peaks_for_range(0, 10, 0)[0].shape == (2, 0)
    mins, maxs = pyramid.peaks_for_range(100, 110, 40)  # more pixels than frames
    assert mins.shape == (2, 40) and set(np.unique(maxs[0])) <= set(audio[0, 100:111])


def test_cache_is_shared_and_thread_safe(audio):
    cache = PeakCache(max_items=2)
    asset = Asset("f" * 64, audio, "x")
    results = []
    workers = [threading.Thread(target=lambda: results.append(cache.get_or_compute(asset))) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert all(r is results[0] for r in results) and cache.get(asset.id) is results[0]
    small = np.zeros((2, 100), np.float32)
    cache.put(compute_peaks(small, "b"))
    cache.put(compute_peaks(small, "c"))  # evicts the least recently used
    assert asset.id not in cache and "b" in cache and "c" in cache


def test_computation_is_cancellable(audio):
    ctx = JobContext()
    ctx.cancel_token.cancel()
    with pytest.raises(Cancelled):
        compute_peaks(audio, "a", ctx)
