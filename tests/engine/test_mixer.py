"""The mixer against synthesized sines: gains, pan law, mute/solo, fades, NaN safety, block independence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.audio.mixer import Mixer, render_range
from engine.audio.render_plan import ClipPlan, RenderPlan, TrackPlan, build_render_plan, pan_gains
from engine.project import Project
from engine.project.commands import (
    AddClip,
    AddTrack,
    SetClipGain,
    SetFades,
    SetMasterGain,
    SetTrackGain,
    SetTrackMute,
    SetTrackPan,
    SetTrackSolo,
)

SR = 48_000


def sine(freq: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    mono = (amp * np.sin(2 * math.pi * freq * t)).astype(np.float32)
    return np.stack([mono, mono])


def two_track_project() -> tuple[Project, np.ndarray, np.ndarray]:
    p = Project()
    a, b = sine(440, 1.0, 0.25), sine(660, 1.0, 0.25)
    asset_a, asset_b = p.assets.add(a, "a"), p.assets.add(b, "b")
    p.history.push(AddTrack("A", track_id="ta"))
    p.history.push(AddTrack("B", track_id="tb"))
    p.history.push(AddClip("ta", asset_a.id, 0, clip_id="ca"))
    p.history.push(AddClip("tb", asset_b.id, 0, clip_id="cb"))
    return p, a, b


def mix(p: Project, block: int = 1000) -> np.ndarray:
    plan = build_render_plan(p)
    return render_range(plan, 0, plan.length, block)


def test_unity_mix_is_the_sum():
    p, a, b = two_track_project()
    np.testing.assert_allclose(mix(p), a + b, atol=1e-6)


def test_track_gain_clip_gain_and_master_gain():
    p, a, b = two_track_project()
    p.history.push(SetTrackGain("ta", -6.0))
    p.history.push(SetClipGain("cb", -12.0))
    p.history.push(SetMasterGain(-3.0))
    g = lambda db: 10 ** (db / 20)  # noqa: E731
    np.testing.assert_allclose(mix(p), (a * g(-6) + b * g(-12)) * g(-3), atol=1e-6)


def test_equal_power_pan_law():
    for pan in (-1.0, -0.5, 0.0, 0.3, 1.0):
        left, right = pan_gains(pan)
        assert left**2 + right**2 == pytest.approx(2.0)  # constant power
    assert pan_gains(0.0) == pytest.approx((1.0, 1.0))  # unity at the centre
    p, a, _ = two_track_project()
    p.history.push(SetTrackMute("tb", True))
    p.history.push(SetTrackPan("ta", -1.0))
    out = mix(p)
    np.testing.assert_allclose(out[0], a[0] * math.sqrt(2), atol=1e-6)
    assert np.abs(out[1]).max() < 1e-6


def test_mute_and_solo_rules():
    p, a, b = two_track_project()
    p.history.push(SetTrackMute("ta", True))
    np.testing.assert_allclose(mix(p), b, atol=1e-6)
    p.history.push(SetTrackMute("ta", False))
    p.history.push(SetTrackSolo("ta", True))
    np.testing.assert_allclose(mix(p), a, atol=1e-6)  # solo silences the others
    p.history.push(SetTrackSolo("tb", True))
    np.testing.assert_allclose(mix(p), a + b, atol=1e-6)  # two solos: both
    p.history.push(SetTrackMute("tb", True))
    np.testing.assert_allclose(mix(p), a, atol=1e-6)  # mute wins over solo


def test_fades_are_linear_ramps_from_and_to_silence():
    p, a, _ = two_track_project()
    p.history.push(SetTrackMute("tb", True))
    p.history.push(SetFades("ca", 4800, 9600))
    out = mix(p, block=777)  # block size must not matter
    ramp_in = np.arange(4800) / 4800
    np.testing.assert_allclose(out[0, :4800], a[0, :4800] * ramp_in, atol=1e-6)
    ramp_out = (SR - 1 - np.arange(SR - 9600, SR)) / 9600
    np.testing.assert_allclose(out[0, -9600:], a[0, -9600:] * ramp_out, atol=1e-6)
    np.testing.assert_allclose(out[0, 4800:-9600], a[0, 4800:-9600], atol=1e-6)
    assert out[0, 0] == 0.0 and out[0, -1] == 0.0


def test_result_is_bit_identical_for_any_block_size():
    p, _, _ = two_track_project()
    p.history.push(SetFades("ca", 1234, 4321))
    p.history.push(SetTrackPan("tb", 0.37))
    reference = mix(p, block=4096)
    for block in (64, 1000, 1024, 3001):
        assert np.array_equal(mix(p, block=block), reference)


def test_clip_positions_offsets_and_silence_past_the_asset():
    p = Project()
    src = sine(220, 1.0)
    asset = p.assets.add(src)
    p.history.push(AddTrack("A", track_id="t"))
    p.history.push(AddClip("t", asset.id, position=1000, length=SR, source_offset=SR // 2, clip_id="c"))
    plan = build_render_plan(p)
    out = render_range(plan, 0, 1000 + SR, 512)
    assert not out[:, :1000].any()
    np.testing.assert_array_equal(out[:, 1000 : 1000 + SR // 2], src[:, SR // 2 :])
    assert not out[:, 1000 + SR // 2 :].any()  # clip longer than what is left of the asset


def test_nan_and_inf_never_reach_the_output_and_master_is_clipped():
    bad = np.zeros((2, 100), np.float32)
    bad[:, 10] = np.nan
    bad[:, 20] = np.inf
    bad[:, 30] = 5.0
    bad.flags.writeable = False
    plan = RenderPlan((TrackPlan("t", 1.0, 1.0, True, (ClipPlan(0, 100, bad, 0, 1.0, 0, 0),)),), 1.0, 100)
    mixer = Mixer(128)
    out = np.empty((2, 100), np.float32)
    meters = mixer.render(plan, 0, out)
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0
    assert out[0, 30] == 1.0 and meters.clipped == 2 and meters.master_peak[0] == pytest.approx(5.0)
    huge = RenderPlan(plan.tracks, float("inf"), 100)
    mixer.render(huge, 0, out)
    assert np.isfinite(out).all()


def test_meters_report_peak_and_rms():
    p, a, _ = two_track_project()
    p.history.push(SetTrackMute("tb", True))
    plan = build_render_plan(p)
    mixer = Mixer(SR)
    out = np.empty((2, SR), np.float32)
    meters = mixer.render(plan, 0, out)
    assert meters.track_ids == ("ta", "tb")
    assert meters.track_peak[0, 0] == pytest.approx(0.25, abs=1e-4)
    assert meters.track_rms[0, 0] == pytest.approx(0.25 / math.sqrt(2), abs=1e-4)
    assert meters.track_peak[1].tolist() == [0.0, 0.0]
    assert meters.master_peak[0] == pytest.approx(0.25, abs=1e-4)
