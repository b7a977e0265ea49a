"""The DiT lyric-alignment score from cross-attention maps (upstream_lm_tools.md §5.2).

Input: the maps of the selected heads over the lyric tokens, [heads, tokens, frames]. Their
mean, min-max normalised, is the *energy* [tokens, frames]; DTW on -(energy²) gives the path.

    coverage     = share of lyric rows (not tags) whose max energy > 0.1
    monotonicity = share of consecutive lyric rows whose energy-weighted centroid does not move
                   back by more than 9 frames (energies <= 0.01 ignored)
    confidence   = mean energy along the DTW path
    score        = clip(coverage² x monotonicity² x confidence, 0, 1), rounded to 4 decimals
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.scoring.dtw import dtw_path

# Layer index -> head indices of the cross-attention maps upstream reads (7 heads in all).
ALIGNMENT_HEADS: dict[int, tuple[int, ...]] = {2: (6,), 3: (10, 11), 4: (3,), 5: (8, 9), 6: (8,)}
COVERAGE_THRESHOLD = 0.1
CENTROID_MIN_ENERGY = 0.01
MAX_BACKSTEP_FRAMES = 9


@dataclass(frozen=True)
class AlignmentScore:
    coverage: float
    monotonicity: float
    confidence: float
    score: float


def tag_mask(token_texts: Sequence[str]) -> np.ndarray:
    """1 for lyric tokens, 0 for tokens of a [section tag] (from a token holding '[' through one
    holding ']')."""
    mask = np.ones(len(token_texts), dtype=np.int8)
    inside = False
    for i, text in enumerate(token_texts):
        if "[" in text:
            inside = True
        if inside:
            mask[i] = 0
        if "]" in text:
            inside = False
    return mask


def energy_of(head_maps: np.ndarray) -> np.ndarray:
    """[heads, tokens, frames] -> the mean over heads, min-max normalised to [0, 1]."""
    maps = np.asarray(head_maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"head maps must be [heads, tokens, frames], got shape {maps.shape}")
    mean = maps.mean(axis=0)
    low, high = mean.min(), mean.max()
    return (mean - low) / (high - low) if high > low else np.zeros_like(mean)


def monotonicity(energy: np.ndarray, lyric_rows: np.ndarray) -> float:
    rows = energy[lyric_rows]
    weights = np.where(rows > CENTROID_MIN_ENERGY, rows, 0.0)
    frames = np.arange(energy.shape[1])
    totals = weights.sum(axis=1)
    keep = totals > 0
    if keep.sum() < 2:
        return 1.0 if keep.sum() == 1 else 0.0
    centroids = (weights[keep] @ frames) / totals[keep]
    steps = np.diff(centroids)
    return float(np.mean(steps >= -MAX_BACKSTEP_FRAMES))


def alignment_score(energy: np.ndarray, mask: np.ndarray) -> AlignmentScore:
    """Score one take from its energy [tokens, frames] and tag mask [tokens] (1 = lyric)."""
    energy = np.asarray(energy, dtype=np.float64)
    mask = np.asarray(mask).astype(bool)
    if energy.ndim != 2 or mask.shape != (energy.shape[0],):
        raise ValueError(f"energy must be [tokens, frames] and mask [tokens], got {energy.shape}, {mask.shape}")
    lyric_rows = np.flatnonzero(mask)
    if lyric_rows.size == 0:
        return AlignmentScore(0.0, 0.0, 0.0, 0.0)
    coverage = float(np.mean(energy[lyric_rows].max(axis=1) > COVERAGE_THRESHOLD))
    mono = monotonicity(energy, lyric_rows)
    path = dtw_path(-(energy**2))
    confidence = float(energy[path[:, 0], path[:, 1]].mean())
    score = float(np.clip(coverage**2 * mono**2 * confidence, 0.0, 1.0))
    return AlignmentScore(coverage, mono, confidence, round(score, 4))
