"""Musical grid arithmetic: bars/beats <-> seconds, snapping and ruler tick spacing.

Plain floats in seconds; the tempo and meter come from the project. Qt-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Candidate spacings for the seconds ruler, in seconds.
_SECOND_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class MusicalGrid:
    """Tempo and meter: enough to place bars and beats on a seconds axis.

    Attributes:
        bpm: quarter-note beats per minute (constant tempo).
        beats_per_bar: numerator of the time signature.
    """

    bpm: float = 120.0
    beats_per_bar: int = 4

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.bpm

    @property
    def seconds_per_bar(self) -> float:
        return self.seconds_per_beat * self.beats_per_bar

    def bar_beat_at(self, seconds: float) -> tuple[int, int, float]:
        """1-based (bar, beat) and the fraction of the beat at `seconds`."""
        beats = max(0.0, seconds) / self.seconds_per_beat
        whole = int(math.floor(beats + 1e-9))
        return whole // self.beats_per_bar + 1, whole % self.beats_per_bar + 1, beats - whole

    def format_bars(self, seconds: float) -> str:
        """"bar.beat.ticks" with 100 ticks per beat, e.g. "5.3.50"."""
        bar, beat, frac = self.bar_beat_at(seconds)
        return f"{bar}.{beat}.{int(frac * 100):02d}"

    def snap(self, seconds: float, step_s: float) -> float:
        """Nearest multiple of `step_s` (never negative)."""
        if step_s <= 0:
            return max(0.0, seconds)
        return max(0.0, round(seconds / step_s) * step_s)

    def snap_step(self, pixels_per_second: float, min_pixels: float = 12.0) -> float:
        """The finest musical division (1/16 beat .. bars) at least `min_pixels` wide."""
        beat = self.seconds_per_beat
        for step in (beat / 4, beat / 2, beat):
            if step * pixels_per_second >= min_pixels:
                return step
        bars = 1
        while self.seconds_per_bar * bars * pixels_per_second < min_pixels:
            bars *= 2
        return self.seconds_per_bar * bars

    def bar_label_every(self, pixels_per_second: float, min_pixels: float = 48.0) -> int:
        """Label every Nth bar (a power of two) so labels don't collide."""
        n = 1
        while self.seconds_per_bar * n * pixels_per_second < min_pixels:
            n *= 2
        return n


def format_seconds(seconds: float, precise: bool = False) -> str:
    """m:ss or m:ss.mmm (precise)."""
    seconds = max(0.0, seconds)
    minutes = int(seconds // 60)
    rest = seconds - minutes * 60
    if precise:
        return f"{minutes}:{rest:06.3f}"
    return f"{minutes}:{int(rest):02d}"


def seconds_tick_step(pixels_per_second: float, min_pixels: float = 70.0) -> float:
    """The smallest 'round' seconds spacing whose labels are at least `min_pixels` apart."""
    for step in _SECOND_STEPS:
        if step * pixels_per_second >= min_pixels:
            return float(step)
    return float(_SECOND_STEPS[-1])
