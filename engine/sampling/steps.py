"""Single sampler updates on the flow `x_t = t·noise + (1−t)·x0`, velocity `v ≈ noise − x0`.

Facts: upstream_dit.md §4 (Euler ODE, SDE re-noising, predicted clean sample).
"""

from __future__ import annotations

import torch


def predicted_clean(x: torch.Tensor, v: torch.Tensor, t: float) -> torch.Tensor:
    """x0 estimate `x − v·t`. [B, T, C] -> [B, T, C]."""
    return x - v * t


def ode_step(x: torch.Tensor, v: torch.Tensor, t_cur: float, t_next: float) -> torch.Tensor:
    """Euler step `x − v·(t_cur − t_next)`. [B, T, C] -> [B, T, C]."""
    return x - v * (t_cur - t_next)


def sde_step(
    x: torch.Tensor,
    v: torch.Tensor,
    t_cur: float,
    t_next: float,
    noise: torch.Tensor,
) -> torch.Tensor:
    """Re-noise the clean estimate to t_next: `t_next·noise + (1−t_next)·(x − v·t_cur)`.

    `noise` is fresh Gaussian noise [B, T, C]. Upstream draws it unseeded from the global
    RNG; we draw it from per-item seeded generators so SDE takes are reproducible.
    """
    return t_next * noise + (1.0 - t_next) * predicted_clean(x, v, t_cur)
