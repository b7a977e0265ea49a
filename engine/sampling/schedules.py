"""Timestep schedules: turbo's fixed 8-step tables, shifted linspace for base/SFT, custom lists.

Flow convention (upstream_dit.md §4): `x_t = t·noise + (1−t)·x0`, t=1 is pure noise, t=0 data.
Every schedule returned here is a plain list of floats INCLUDING the final 0, already rounded
through the model dtype: upstream keeps the schedule as a model-dtype tensor and reads values
back with `.item()`, so in bf16 the effective times are bf16-rounded (§4.1) — we reproduce that.
Sources: ace-step/ACE-Step-1.5:acestep/models/turbo/modeling_acestep_v15_turbo.py (generate_audio),
acestep/models/base/modeling_acestep_v15_base.py (generate_audio).
"""

from __future__ import annotations

import logging

import torch

from engine.errors import ValidationError

log = logging.getLogger(__name__)

TURBO_STEPS = 8  # turbo is distilled for exactly 8 evaluations (fix_nfe)
TURBO_SHIFTS = (1.0, 2.0, 3.0)
MAX_CUSTOM_TURBO_STEPS = 20


def shift_time(t: float, shift: float) -> float:
    """The time shift `s·t / (1 + (s−1)·t)`: s>1 spends more steps near the noise end."""
    return shift * t / (1.0 + (shift - 1.0) * t)


def _turbo_table(shift: float) -> list[float]:
    # Exactly the upstream tables: u = 1 − i/8, i = 0..7 (final 0 excluded here).
    return [shift_time(1.0 - i / TURBO_STEPS, shift) for i in range(TURBO_STEPS)]


def valid_turbo_timesteps() -> list[float]:
    """The 20 distinct non-zero times turbo was trained on (union of the shift 1/2/3 tables)."""
    values: list[float] = []
    for shift in TURBO_SHIFTS:
        for t in _turbo_table(shift):
            if all(abs(t - v) > 1e-12 for v in values):
                values.append(t)
    return sorted(values, reverse=True)


def round_turbo_shift(shift: float) -> float:
    """Turbo only knows shifts 1, 2 and 3: snap to the nearest (with a warning, as upstream)."""
    nearest = min(TURBO_SHIFTS, key=lambda s: abs(s - shift))
    if abs(nearest - shift) > 1e-9:
        log.warning("turbo supports shift 1, 2 or 3; using %s instead of %s", nearest, shift)
    return nearest


def _through_dtype(values: list[float], dtype: torch.dtype) -> list[float]:
    return torch.tensor(values, dtype=torch.float64).to(dtype).tolist()


def turbo_schedule(
    shift: float = 3.0,
    custom_timesteps: list[float] | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[float]:
    """Turbo schedule: the fixed 8-step table for `shift` (rounded to 1/2/3) or snapped custom times.

    Custom times: trailing zeros dropped, at most 20 kept, each snapped to the nearest of the
    20 valid turbo times (§4.1). Returns n+1 floats ending in 0.
    """
    if custom_timesteps:
        times = list(custom_timesteps)
        while times and times[-1] == 0:
            times.pop()
        if not times:
            raise ValidationError("timesteps: the custom schedule has no non-zero time")
        times = times[:MAX_CUSTOM_TURBO_STEPS]
        valid = valid_turbo_timesteps()
        times = [min(valid, key=lambda v, t=t: abs(v - t)) for t in times]
    else:
        times = _turbo_table(round_turbo_shift(shift))
    return _through_dtype(times, dtype) + [0.0]


def base_schedule(
    steps: int,
    shift: float = 1.0,
    custom_timesteps: list[float] | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[float]:
    """Base/SFT schedule: `linspace(1, 0, steps+1)` then shifted, both computed in `dtype` (§4.2).

    Custom times are used as given (a final 0 is appended when missing), with no snapping.
    """
    if custom_timesteps:
        times = [float(t) for t in custom_timesteps]
        if times[-1] != 0.0:
            times.append(0.0)
        if len(times) < 2:
            raise ValidationError("timesteps: need at least one non-zero time")
        return _through_dtype(times, dtype)
    if steps < 1:
        raise ValidationError(f"steps: must be at least 1, got {steps}")
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=dtype)  # [n+1]
    if shift != 1.0:
        t = shift * t / (1 + (shift - 1) * t)  # stays in dtype, as upstream
    return t.tolist()


def nearest_schedule_index(schedule: list[float], t: float) -> int:
    """Index of the schedule time closest to `t` (used by cover_noise_strength)."""
    return min(range(len(schedule) - 1), key=lambda i: abs(schedule[i] - t))
