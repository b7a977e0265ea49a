"""Repaint/lego region arithmetic: padding for intros/extensions, frame bounds, waveform splice.

Facts: upstream_dit.md §3.5 (ace-step/ACE-Step-1.5:acestep/core/generation/handler/
conditioning_target.py, conditioning_masks.py). All times in seconds; frames at 25 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.tasks import constants as C

# Latent frames decoded beyond the spliced part of a bounded repaint on each side (1.28 s):
# more than the VAE decoder's receptive field (~±8 frames), so the crop's edge effects fall
# where the splice weight is 0. Measured in benchmarks/bench_bounded_repaint.py.
DECODE_MARGIN_FRAMES = 32


# (injection_ratio, latent_crossfade_frames, wav_crossfade_sec) by repaint mode (§3.5).
def repaint_settings(mode: str, strength: float) -> tuple[float, int, float]:
    """`_resolve_repaint_config`: aggressive / conservative fixed, balanced scales with strength."""
    if mode == "aggressive":
        return 0.0, 0, 0.0
    if mode == "conservative":
        return 1.0, 25, 0.05
    inv = 1.0 - min(max(strength, 0.0), 1.0)
    return inv, round(25 * inv), 0.05 * inv


@dataclass(frozen=True)
class Region:
    """A repaint/lego window on the PADDED source.

    Attributes:
        pad_left_s / pad_right_s: zeros added before (intro) / after (extension) the source.
        start_s / end_s: the window in padded seconds.
        start_frame / end_frame: `[s, e)` latent frames (clamped to the latent length).
    """

    pad_left_s: float
    pad_right_s: float
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int


def plan_region(source_seconds: float, start: float, end: float | None) -> Region:
    """Upstream's padding rule: start < 0 left-pads |start| s; end past the source right-pads.

    `end` < 0 or None means the end of the source. Frames: `int(sec·48000 // 1920)`.
    """
    if end is None or end < 0:
        end = source_seconds
    pad_left = -start if start < 0 else 0.0
    pad_right = max(0.0, end - source_seconds)
    start_p, end_p = start + pad_left, end + pad_left
    s = int(start_p * C.SAMPLE_RATE // C.HOP)
    e = int(end_p * C.SAMPLE_RATE // C.HOP)
    return Region(pad_left, pad_right, start_p, end_p, s, e)


def pad_source(wav: np.ndarray, region: Region) -> np.ndarray:
    """Zeros before/after the source for an intro/extension. [2, S] -> [2, S']."""
    left = int(round(region.pad_left_s * C.SAMPLE_RATE))
    right = int(round(region.pad_right_s * C.SAMPLE_RATE))
    if left == 0 and right == 0:
        return wav
    return np.pad(wav, ((0, 0), (left, right)))


def clamp_frames(region: Region, frames: int) -> tuple[int, int]:
    """`s` to [0, T−1], `e` to [s+1, T]."""
    s = min(max(region.start_frame, 0), frames - 1)
    e = min(max(region.end_frame, s + 1), frames)
    return s, e


def splice_mask(length: int, start_s: float, end_s: float, crossfade_s: float) -> np.ndarray:
    """Waveform splice weight [length]: 1 in [start, end), linear ramps of crossfade_s outside."""
    mask = np.zeros(length, dtype=np.float32)
    a, b = int(start_s * C.SAMPLE_RATE), min(int(end_s * C.SAMPLE_RATE), length)
    mask[a:b] = 1.0
    n = int(crossfade_s * C.SAMPLE_RATE)
    if n > 0:
        before = min(n, a)
        if before:
            mask[a - before : a] = np.linspace(0, 1, before + 2, dtype=np.float32)[1:-1]
        after = min(n, length - b)
        if after > 0:
            mask[b : b + after] = np.linspace(1, 0, after + 2, dtype=np.float32)[1:-1]
    return mask


def splice_waveform(pred: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`m·pred + (1−m)·source` over the common length; the rest of pred is kept. [2, S]."""
    n = min(pred.shape[1], source.shape[1], mask.shape[0])
    out = pred.copy()
    out[:, :n] = mask[:n] * pred[:, :n] + (1.0 - mask[:n]) * source[:, :n]
    return out


def decode_span(region_frames: tuple[int, int], wav_crossfade_s: float, frames: int,
                margin: int = DECODE_MARGIN_FRAMES) -> tuple[int, int]:
    """The latent frames [f0, f1) a bounded decode runs through the VAE: the window, the waveform
    splice's crossfade after/before it (in whole frames) and `margin` frames each side."""
    s, e = region_frames
    fade = -(-int(wav_crossfade_s * C.SAMPLE_RATE) // C.HOP)  # ceil: the ramps lie outside [s, e)
    return max(0, s - fade - margin - 1), min(frames, e + fade + margin + 1)
