"""Schedules, guidance and sampler invariants (pure functions; no checkpoints)."""

from __future__ import annotations

import pytest
import torch

from engine.errors import ValidationError
from engine.sampling.dcw import DcwConfig, dcw_correct
from engine.sampling.guidance import MomentumBuffer, apg
from engine.sampling.repaint import blend_region_edges, soft_region_mask
from engine.sampling.sampler import Condition, GuidanceConfig, SamplerOptions, sample
from engine.sampling.schedules import base_schedule, turbo_schedule, valid_turbo_timesteps

# upstream_dit.md §4.1 tables (final 0 excluded).
TABLES = {
    1.0: [1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125],
    2.0: [1.0, 0.9333333333333333, 0.8571428571428571, 0.7692307692307693, 0.6666666666666666,
          0.5454545454545454, 0.4, 0.2222222222222222],
    3.0: [1.0, 0.9545454545454546, 0.9, 0.8333333333333334, 0.75, 0.6428571428571429, 0.5, 0.3],
}
BF16_SHIFT3 = [1.0, 0.953125, 0.8984375, 0.83203125, 0.75, 0.64453125, 0.5, 0.30078125]


@pytest.mark.parametrize("shift", [1.0, 2.0, 3.0])
def test_turbo_tables_match_upstream(shift):
    got = turbo_schedule(shift, dtype=torch.float64)
    assert got[-1] == 0.0 and len(got) == 9
    assert got[:-1] == pytest.approx(TABLES[shift], abs=1e-15)


def test_turbo_schedule_is_rounded_through_the_model_dtype():
    assert turbo_schedule(3.0, dtype=torch.bfloat16)[:-1] == BF16_SHIFT3


def test_turbo_shift_snaps_to_nearest_supported():
    assert turbo_schedule(2.6, dtype=torch.float64) == turbo_schedule(3.0, dtype=torch.float64)
    assert turbo_schedule(1.2, dtype=torch.float64) == turbo_schedule(1.0, dtype=torch.float64)


def test_custom_turbo_timesteps_snap_to_the_20_valid_values():
    valid = valid_turbo_timesteps()
    assert len(valid) == 20
    got = turbo_schedule(3.0, custom_timesteps=[0.99, 0.97, 0.52, 0.31, 0.0, 0.0], dtype=torch.float64)
    assert got == pytest.approx([1.0, 0.9545454545454546, 0.5, 0.3, 0.0])


def test_base_schedule_shift_and_length():
    plain = base_schedule(30, 1.0)
    assert len(plain) == 31 and plain[0] == 1.0 and plain[-1] == 0.0
    shifted = base_schedule(4, 3.0, dtype=torch.float64)
    assert shifted == pytest.approx([1.0, 0.9, 0.75, 0.5, 0.0])
    with pytest.raises(ValidationError, match="steps"):
        base_schedule(0)


def test_apg_momentum_buffer_is_shared_across_steps():
    torch.manual_seed(0)
    vc, vu = torch.randn(2, 1, 12, 64), torch.randn(2, 1, 12, 64)
    shared = MomentumBuffer()
    first = apg(vc[0], vu[0], 7.0, shared)
    second = apg(vc[1], vu[1], 7.0, shared)
    fresh = apg(vc[1], vu[1], 7.0, MomentumBuffer())
    assert first.shape == (1, 12, 64)
    assert not torch.allclose(second, fresh)  # the buffer carried step 1 into step 2


def test_dcw_is_a_noop_when_x_equals_the_clean_estimate():
    x = torch.randn(1, 15, 64)
    out = dcw_correct(x, x.clone(), 0.5, DcwConfig(enabled=True))
    assert torch.equal(out, x)


def test_soft_mask_ramps_and_blend_keeps_the_outside_exact():
    mask = torch.zeros(1, 40, dtype=torch.bool)
    mask[:, 15:25] = True
    soft = soft_region_mask(mask, 5)
    assert soft[0, 15:25].eq(1).all() and soft[0, :10].eq(0).all() and soft[0, 30:].eq(0).all()
    assert 0 < soft[0, 10] < soft[0, 14] < 1
    gen, clean = torch.randn(1, 40, 64), torch.randn(1, 40, 64)
    out = blend_region_edges(gen, clean, mask, 5)
    assert torch.equal(out[:, :10], clean[:, :10]) and torch.equal(out[:, 15:25], gen[:, 15:25])


def _toy_model(calls):
    def model(x, t, cond):
        calls.append((x.shape[0], t))
        return x * 0.5 + cond.encoder_hidden_states.mean(dim=(1, 2))[:, None, None] + cond.context_latents[..., :64]
    return model


def _condition(batch=1, frames=10):
    return Condition(torch.randn(batch, 3, 8), torch.ones(batch, 3), torch.randn(batch, frames, 128))


def test_cfg_doubles_the_batch_and_interval_limits_guidance():
    calls = []
    cond = _condition()
    null = torch.zeros(1, 1, 8)
    options = SamplerOptions(schedule=base_schedule(4), guidance=GuidanceConfig(scale=5.0, interval=(0.0, 0.6)))
    noise = torch.randn(1, 10, 64)
    guided = sample(_toy_model(calls), noise, cond, options, null_embedding=null)
    assert [b for b, _ in calls] == [2, 2, 2, 2]
    plain = sample(_toy_model([]), noise, cond, SamplerOptions(schedule=base_schedule(4)))
    assert not torch.allclose(guided, plain)
    # Outside the interval guidance is off: an interval that excludes every t equals scale 1.
    off = SamplerOptions(schedule=base_schedule(4), guidance=GuidanceConfig(scale=5.0, interval=(0.99, 0.995)))
    assert torch.allclose(sample(_toy_model([]), noise, cond, off, null_embedding=null), plain, atol=1e-6)


def test_sampler_calls_on_step_before_every_evaluation_and_can_stop():
    seen = []

    class Stop(Exception):
        pass

    def on_step(i, total):
        seen.append(i)
        if i == 2:
            raise Stop

    calls = []
    with pytest.raises(Stop):
        sample(_toy_model(calls), torch.randn(1, 10, 64), _condition(), SamplerOptions(schedule=turbo_schedule()),
               on_step=on_step)
    assert seen == [0, 1, 2] and len(calls) == 2
