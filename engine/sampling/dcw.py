"""DCW: a wavelet-domain corrector applied after each sampler update (optional overlay).

Facts: upstream_dit.md §4.5. After a step, take a single-level Haar DWT along time of both the
new sample `x_next` and the predicted clean sample `denoised = x − v·t`, push each band of
x_next further away from denoised's band, and invert. For Haar this has a closed form we use
directly (no pytorch_wavelets dependency): with `d = x_next − denoised`, the low band of d is
the pair mean of frames (2k, 2k+1) and the high band is the rest. An odd tail frame pairs with
a zero pad (pytorch_wavelets' "zero" mode), so its pair mean is d_last / 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DCW_MODES = ("low", "high", "double")


@dataclass(frozen=True)
class DcwConfig:
    """DCW settings (upstream defaults: double, 0.05, 0.02, haar)."""

    enabled: bool = False
    mode: str = "double"
    scaler: float = 0.05
    high_scaler: float = 0.02
    wavelet: str = "haar"


def _pair_mean(d: torch.Tensor) -> torch.Tensor:
    """Haar low-band reconstruction along dim 1: each frame replaced by its pair's mean. [B,T,C]."""
    frames = d.shape[1]
    if frames % 2:
        d = torch.nn.functional.pad(d, (0, 0, 0, 1))  # zero frame at the end: [B, T+1, C]
    b, t, c = d.shape
    mean = d.reshape(b, t // 2, 2, c).mean(dim=2, keepdim=True)  # [B, T/2, 1, C]
    return mean.expand(b, t // 2, 2, c).reshape(b, t, c)[:, :frames]


def dcw_correct(
    x_next: torch.Tensor,
    denoised: torch.Tensor,
    t_cur: float,
    config: DcwConfig,
) -> torch.Tensor:
    """Apply DCW to `x_next` ([B, T, C]) given `denoised` ([B, T, C]) at time `t_cur`.

    low:    low band  += t·scaler·(xL − yL)
    high:   high band += (1−t)·scaler·(xH − yH)
    double: low band with t·scaler, high band with (1−t)·high_scaler
    Computed in float32, returned in x_next's dtype.
    """
    if config.wavelet != "haar":
        raise ValueError(f"dcw_wavelet: only 'haar' is supported, got {config.wavelet!r}")
    if config.mode == "low":
        lam_low, lam_high = t_cur * config.scaler, 0.0
    elif config.mode == "high":
        lam_low, lam_high = 0.0, (1.0 - t_cur) * config.scaler
    elif config.mode == "double":
        lam_low, lam_high = t_cur * config.scaler, (1.0 - t_cur) * config.high_scaler
    else:
        raise ValueError(f"dcw_mode: must be one of {DCW_MODES}, got {config.mode!r}")
    x32 = x_next.float()
    d = x32 - denoised.float()  # [B, T, C]
    low = _pair_mean(d)
    high = d - low
    return (x32 + lam_low * low + lam_high * high).to(x_next.dtype)
