"""Typed time: seconds, samples (frames), beats and latent frames, and the snap grid.

The document stores every position and length as an integer number of frames at
`SAMPLE_RATE` (48 kHz): integers never drift, and the mixer indexes arrays with them. Seconds,
beats and bars are derived views, computed through a `TempoMap` (tempo + time signature, which
live on the Project). The unit types are `NewType`s: free at run time, but a type checker
rejects passing `Seconds` where `Samples` is expected, and every conversion names the rate or
tempo it needs (Tracktion Engine 2.0's TimePosition/BeatPosition split, see
Tracktion/tracktion_engine:docs/Engine_2.0_Transition.md).

Public API (stable):
    SAMPLE_RATE, LATENT_RATE, Seconds, Samples, Beats, LatentFrames
    seconds_to_samples, samples_to_seconds, samples_to_latent_frames, latent_frames_to_samples
    TimeSignature(numerator, denominator), TempoMap(bpm, time_signature)
        .samples_per_beat, .samples_per_bar, .samples_to_beats, .beats_to_samples,
        .seconds_to_beats, .beats_to_seconds, .bar_beat(samples) -> BarBeat, .format_bars(samples)
    SnapGrid(tempo_map, division) .step_samples, .snap(samples), .floor(samples), .ceil(samples),
        .lines(start, end) -> list of (samples, is_bar)
    TimeRange(start, end) in samples (half-open), .length, .contains, .overlaps, .intersection
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NewType

from engine.errors import ValidationError

SAMPLE_RATE = 48_000  # the one rate inside the app (DESIGN.md: convert once at the edges)
LATENT_RATE = 25  # ACE-Step 1.5 latent frames per second (48 kHz / 1920)

Seconds = NewType("Seconds", float)
Samples = NewType("Samples", int)  # frames at SAMPLE_RATE; one frame = one sample per channel
Beats = NewType("Beats", float)  # quarter-note-agnostic: one beat = one time-signature denominator unit
LatentFrames = NewType("LatentFrames", int)

MIN_BPM, MAX_BPM = 20.0, 400.0
VALID_DENOMINATORS = (1, 2, 4, 8, 16, 32)


def seconds_to_samples(seconds: float, sample_rate: int = SAMPLE_RATE) -> Samples:
    """Round to the nearest frame (half away from zero is not needed: positions are >= 0)."""
    if not math.isfinite(seconds):
        raise ValidationError(f"time must be a finite number of seconds, got {seconds!r}")
    return Samples(int(round(seconds * sample_rate)))


def samples_to_seconds(samples: int, sample_rate: int = SAMPLE_RATE) -> Seconds:
    return Seconds(samples / sample_rate)


def samples_to_latent_frames(samples: int, sample_rate: int = SAMPLE_RATE) -> LatentFrames:
    """Latent frames covering `samples` (rounded up: a partial frame still costs a frame)."""
    per_frame = sample_rate // LATENT_RATE
    return LatentFrames(-(-samples // per_frame))


def latent_frames_to_samples(frames: int, sample_rate: int = SAMPLE_RATE) -> Samples:
    return Samples(frames * (sample_rate // LATENT_RATE))


@dataclass(frozen=True)
class TimeSignature:
    numerator: int = 4
    denominator: int = 4

    def __post_init__(self) -> None:
        if not (isinstance(self.numerator, int) and 1 <= self.numerator <= 32):
            raise ValidationError(f"time signature numerator must be 1..32, got {self.numerator!r}")
        if self.denominator not in VALID_DENOMINATORS:
            raise ValidationError(
                f"time signature denominator must be one of {VALID_DENOMINATORS}, got {self.denominator!r}"
            )

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


def check_bpm(bpm: float) -> float:
    if not (isinstance(bpm, int | float) and math.isfinite(bpm) and MIN_BPM <= bpm <= MAX_BPM):
        raise ValidationError(f"tempo must be {MIN_BPM:g}..{MAX_BPM:g} BPM, got {bpm!r}")
    return float(bpm)


@dataclass(frozen=True)
class BarBeat:
    """A musical position: 1-based bar and beat, plus the fraction into the beat (0..1)."""

    bar: int
    beat: int
    fraction: float

    def __str__(self) -> str:
        return f"{self.bar}.{self.beat}"


@dataclass(frozen=True)
class TempoMap:
    """A constant tempo and time signature (tempo changes are not modelled yet).

    A beat is one unit of the time signature's denominator, so 6/8 at 120 BPM has six
    eighth-note beats per bar at 0.5 s each.
    """

    bpm: float = 120.0
    time_signature: TimeSignature = TimeSignature()
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        check_bpm(self.bpm)

    @property
    def samples_per_beat(self) -> float:
        return self.sample_rate * 60.0 / self.bpm

    @property
    def samples_per_bar(self) -> float:
        return self.samples_per_beat * self.time_signature.numerator

    def samples_to_beats(self, samples: int) -> Beats:
        return Beats(samples / self.samples_per_beat)

    def beats_to_samples(self, beats: float) -> Samples:
        return Samples(int(round(beats * self.samples_per_beat)))

    def seconds_to_beats(self, seconds: float) -> Beats:
        return Beats(seconds * self.bpm / 60.0)

    def beats_to_seconds(self, beats: float) -> Seconds:
        return Seconds(beats * 60.0 / self.bpm)

    def bar_beat(self, samples: int) -> BarBeat:
        beats = self.samples_to_beats(samples)
        whole = math.floor(beats + 1e-9)  # tolerate float noise just below a beat line
        bar, beat = divmod(whole, self.time_signature.numerator)
        return BarBeat(bar + 1, beat + 1, max(0.0, beats - whole))

    def format_bars(self, samples: int) -> str:
        """'bar.beat' as a ruler shows it, e.g. '3.2'."""
        return str(self.bar_beat(samples))


# Snap divisions in beats. "bar" snaps to whole bars; the others to fractions of a beat.
SNAP_DIVISIONS = ("bar", "beat", "1/2", "1/4", "1/8", "1/16")


@dataclass(frozen=True)
class SnapGrid:
    """The grid the timeline snaps to and draws.

    Args:
        tempo_map: tempo and time signature (from `Project.tempo_map`).
        division: one of SNAP_DIVISIONS: 'bar', 'beat', or '1/2'..'1/16' of a beat.
    """

    tempo_map: TempoMap
    division: str = "beat"

    def __post_init__(self) -> None:
        if self.division not in SNAP_DIVISIONS:
            raise ValidationError(f"snap division must be one of {SNAP_DIVISIONS}, got {self.division!r}")

    @property
    def step_samples(self) -> float:
        if self.division == "bar":
            return self.tempo_map.samples_per_bar
        if self.division == "beat":
            return self.tempo_map.samples_per_beat
        return self.tempo_map.samples_per_beat / int(self.division.split("/")[1])

    def snap(self, samples: int) -> Samples:
        """The nearest grid line (never negative)."""
        step = self.step_samples
        return Samples(max(0, int(round(round(samples / step) * step))))

    def floor(self, samples: int) -> Samples:
        step = self.step_samples
        return Samples(max(0, int(round(math.floor(samples / step + 1e-9) * step))))

    def ceil(self, samples: int) -> Samples:
        step = self.step_samples
        return Samples(max(0, int(round(math.ceil(samples / step - 1e-9) * step))))

    def lines(self, start: int, end: int, max_lines: int = 10_000) -> list[tuple[int, bool]]:
        """Grid lines in [start, end): (position in samples, True if it starts a bar).

        Capped at `max_lines` so a zoomed-out ruler cannot ask for millions of lines; the
        caller should pick a coarser division when the cap is hit.
        """
        step = self.step_samples
        bar = self.tempo_map.samples_per_bar
        first = math.ceil(max(0, start) / step - 1e-9)
        out: list[tuple[int, bool]] = []
        k = first
        while len(out) < max_lines:
            pos = k * step
            if pos >= end:
                break
            bars = pos / bar
            out.append((int(round(pos)), abs(bars - round(bars)) < 1e-6))
            k += 1
        return out


@dataclass(frozen=True)
class TimeRange:
    """A half-open range [start, end) in samples, e.g. a selection that drives repaint/lego."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not (isinstance(self.start, int) and isinstance(self.end, int)):
            raise ValidationError("a time range needs integer sample positions")
        if self.end < self.start:
            raise ValidationError(f"time range ends ({self.end}) before it starts ({self.start})")

    @property
    def length(self) -> int:
        return self.end - self.start

    def contains(self, samples: int) -> bool:
        return self.start <= samples < self.end

    def overlaps(self, other: TimeRange) -> bool:
        return self.start < other.end and other.start < self.end

    def intersection(self, other: TimeRange) -> TimeRange | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return TimeRange(start, end) if start < end else None

    @property
    def seconds(self) -> tuple[Seconds, Seconds]:
        return samples_to_seconds(self.start), samples_to_seconds(self.end)
