"""Typed time conversions and the snap grid."""

import pytest

from engine.errors import ValidationError
from engine.timebase import (
    SnapGrid,
    TempoMap,
    TimeRange,
    TimeSignature,
    latent_frames_to_samples,
    samples_to_latent_frames,
    samples_to_seconds,
    seconds_to_samples,
)


def test_seconds_samples_round_trip():
    assert seconds_to_samples(1.5) == 72_000
    assert samples_to_seconds(72_000) == 1.5
    assert seconds_to_samples(1.0, sample_rate=44_100) == 44_100
    with pytest.raises(ValidationError):
        seconds_to_samples(float("inf"))


def test_latent_frames_are_1920_samples_rounded_up():
    assert samples_to_latent_frames(1920) == 1 and samples_to_latent_frames(1921) == 2
    assert latent_frames_to_samples(25) == 48_000


def test_tempo_map_beats_and_bars():
    tm = TempoMap(120.0, TimeSignature(4, 4))
    assert tm.samples_per_beat == 24_000 and tm.samples_per_bar == 96_000
    assert tm.beats_to_samples(3) == 72_000 and tm.samples_to_beats(72_000) == 3
    assert tm.seconds_to_beats(2.0) == 4.0 and tm.beats_to_seconds(4.0) == 2.0
    assert str(tm.bar_beat(0)) == "1.1" and str(tm.bar_beat(96_000 + 24_000)) == "2.2"
    six_eight = TempoMap(90.0, TimeSignature(6, 8))
    assert six_eight.bar_beat(int(six_eight.samples_per_beat * 7)).bar == 2


def test_invalid_tempo_and_signature():
    for bpm in (0, -5, 1e9, float("nan")):
        with pytest.raises(ValidationError):
            TempoMap(bpm)
    with pytest.raises(ValidationError):
        TimeSignature(4, 3)
    with pytest.raises(ValidationError):
        TimeSignature(0, 4)


def test_snap_grid():
    tm = TempoMap(120.0)
    beat = SnapGrid(tm, "beat")
    assert beat.snap(11_999) == 0 and beat.snap(12_001) == 24_000
    assert beat.floor(47_999) == 24_000 and beat.ceil(24_001) == 48_000
    assert SnapGrid(tm, "bar").snap(50_000) == 96_000
    assert SnapGrid(tm, "1/4").step_samples == 6_000
    lines = SnapGrid(tm, "beat").lines(0, 200_000)
    assert lines[:5] == [(0, True), (24_000, False), (48_000, False), (72_000, False), (96_000, True)]
    assert len(SnapGrid(tm, "1/16").lines(0, 10**12, max_lines=100)) == 100
    with pytest.raises(ValidationError):
        SnapGrid(tm, "1/3")


def test_time_range():
    r = TimeRange(100, 200)
    assert r.length == 100 and r.contains(100) and not r.contains(200)
    assert r.intersection(TimeRange(150, 300)) == TimeRange(150, 200)
    assert r.intersection(TimeRange(200, 300)) is None
    with pytest.raises(ValidationError):
        TimeRange(5, 1)
