"""Classifier-free guidance variants: CFG, APG (default, with momentum) and ADG.

Pure functions on velocity predictions `[B, T, C]` (C = 64 latent channels).
Facts: upstream_dit.md §4.4, ace-step/ACE-Step-1.5:acestep/models/common/apg_guidance.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

APG_MOMENTUM = -0.75
APG_NORM_THRESHOLD = 2.5
APG_ETA = 0.0
# Upstream writes the clip as 3.14/6 (not math.pi/6); the difference is visible in outputs.
ADG_ANGLE_CLIP = 3.14 / 6
ADG_W_NORM_ANGLE_CLIP = 3.14 / 3


def cfg(v_cond: torch.Tensor, v_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Plain CFG: `v_u + g·(v_c − v_u)`. [B, T, C] -> [B, T, C]."""
    return v_uncond + scale * (v_cond - v_uncond)


@dataclass
class MomentumBuffer:
    """APG's running average of guidance differences; ONE per generation (mutable on purpose).

    `running = d + momentum·running_prev`, starting from 0.
    """

    momentum: float = APG_MOMENTUM
    running: torch.Tensor | None = None

    def update(self, diff: torch.Tensor) -> torch.Tensor:
        self.running = diff if self.running is None else diff + self.momentum * self.running
        return self.running


def _project(v: torch.Tensor, onto: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Split `v` into parts parallel and orthogonal to `onto`, in float64 (as upstream)."""
    dtype = v.dtype
    v64, onto64 = v.double(), onto.double()
    unit = torch.nn.functional.normalize(onto64, dim=dims)
    parallel = (v64 * unit).sum(dim=dims, keepdim=True) * unit
    orthogonal = v64 - parallel
    return parallel.to(dtype), orthogonal.to(dtype)


def apg(
    v_cond: torch.Tensor,
    v_uncond: torch.Tensor,
    scale: float,
    buffer: MomentumBuffer | None,
    *,
    eta: float = APG_ETA,
    norm_threshold: float = APG_NORM_THRESHOLD,
    dims: tuple[int, ...] = (1,),
) -> torch.Tensor:
    """Adaptive projected guidance. [B, T, C] -> [B, T, C].

    Norms are over `dims` (upstream passes dims=[1], the TIME axis, per (batch, channel)).
    1. d = v_c − v_u, smoothed by the momentum buffer; 2. clipped to norm `norm_threshold`;
    3. only d's component orthogonal to v_c is kept (plus eta × the parallel part).
    """
    diff = v_cond - v_uncond
    if buffer is not None:
        diff = buffer.update(diff)
    if norm_threshold > 0:
        norm = diff.norm(p=2, dim=dims, keepdim=True)
        diff = diff * torch.minimum(torch.ones_like(norm), norm_threshold / norm)
    parallel, orthogonal = _project(diff, v_cond, dims)
    return v_cond + (scale - 1) * (orthogonal + eta * parallel)


def adg(
    v_cond: torch.Tensor,
    v_uncond: torch.Tensor,
    x: torch.Tensor,
    sigma: float,
    scale: float,
    *,
    angle_clip: float = ADG_ANGLE_CLIP,
    clip: bool = True,
    renormalize: bool = False,
) -> torch.Tensor:
    """Angle-domain guidance: rotate the predicted clean sample away from the unconditional one.

    Vectors are per frame over the channel axis. [B, T, C] -> [B, T, C]. At sigma 0 the
    rotation is undefined, so plain CFG is returned (as upstream).
    Precision follows upstream: the angle in float64, the perpendicular part in float32.
    Variants: `renormalize=True` (upstream adg_w_norm, with angle_clip=ADG_W_NORM_ANGLE_CLIP;
    upstream normalises over dim 1, the time axis, and we keep that quirk), `clip=False`
    (adg_wo_clip).
    """
    if sigma <= 0:
        return cfg(v_cond, v_uncond, scale)
    dtype = x.dtype
    b, t, c = v_cond.shape
    weight = max(scale - 1.0, 0.0) + 1e-3
    x0_c = x - sigma * v_cond  # [B, T, C] predicted clean sample, conditional
    x0_u = x - sigma * v_uncond  # [B, T, C] predicted clean sample, unconditional
    cos = torch.nn.functional.cosine_similarity(
        x0_c.reshape(-1, c).double(), x0_u.reshape(-1, c).double(), dim=1, eps=0.0
    ).clamp(-1 + 1e-6, 1 - 1e-6)  # [B*T]
    theta = torch.acos(cos).view(b, t, 1)  # [B, T, 1] float64
    theta_new = weight * theta
    if clip:
        theta_new = theta_new.clamp(-angle_clip, angle_clip)
    # Component of (x0_c − x0_u) orthogonal to x0_u, in float32 as upstream.
    diff = (x0_c - x0_u).float()
    base = x0_u.float()
    dot = (diff * base).sum(dim=-1, keepdim=True)
    perp = diff - dot / ((base * base).sum(dim=-1, keepdim=True) + 1e-8) * base  # [B, T, C]
    sin_theta = torch.sin(theta)
    big = sin_theta > 1e-3
    ratio = torch.where(big, torch.sin(theta_new) / torch.where(big, sin_theta, 1.0), weight)
    x0 = torch.cos(theta_new) * x0_c + perp * ratio  # float64 [B, T, C]
    if renormalize:
        x0 = x0 * x0_c.norm(dim=1, keepdim=True) / x0.norm(dim=1, keepdim=True)
    return ((x - x0) / sigma).to(dtype)
