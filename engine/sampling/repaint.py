"""Repaint helpers in latent space: outside-region injection and the boundary crossfade.

Facts: upstream_dit.md §3.5 (ace-step/ACE-Step-1.5:acestep/core/generation/handler/
conditioning_masks.py and the models' generate_audio). `mask` is bool [B, T], True = the frame
is regenerated.
"""

from __future__ import annotations

import torch


def inject_outside_region(
    x: torch.Tensor,
    mask: torch.Tensor,
    noise: torch.Tensor,
    clean: torch.Tensor,
    t_next: float,
) -> torch.Tensor:
    """Frames outside the region become the clean source re-noised to t_next. [B, T, C]."""
    renoised = t_next * noise + (1.0 - t_next) * clean  # [B, T, C]
    return torch.where(mask.unsqueeze(-1), x, renoised)


def soft_region_mask(mask: torch.Tensor, crossfade_frames: int) -> torch.Tensor:
    """Float [B, T] mask: 1 inside the region, linear ramps of up to `crossfade_frames` outside.

    Ramps are `linspace(0, 1, n+2)[1:-1]` before the start and `linspace(1, 0, n+2)[1:-1]`
    after the end, so neither the 0 nor the 1 end point is repeated.
    """
    soft = mask.float().clone()  # [B, T]
    frames = mask.shape[1]
    for row in range(mask.shape[0]):
        inside = torch.nonzero(mask[row]).flatten()
        if inside.numel() == 0 or inside.numel() == frames:
            continue
        start, end = int(inside[0]), int(inside[-1]) + 1
        n_before = min(crossfade_frames, start)
        if n_before > 0:
            soft[row, start - n_before : start] = torch.linspace(0, 1, n_before + 2)[1:-1]
        n_after = min(crossfade_frames, frames - end)
        if n_after > 0:
            soft[row, end : end + n_after] = torch.linspace(1, 0, n_after + 2)[1:-1]
    return soft


def blend_region_edges(
    generated: torch.Tensor,
    clean: torch.Tensor,
    mask: torch.Tensor,
    crossfade_frames: int,
) -> torch.Tensor:
    """`m·generated + (1−m)·clean` with the soft mask: outside the ramps, exactly the source."""
    if crossfade_frames <= 0:  # upstream: no latent blend at all ("aggressive" mode)
        return generated
    soft = soft_region_mask(mask, crossfade_frames).to(generated.dtype).unsqueeze(-1)  # [B, T, 1]
    out = soft * generated + (1 - soft) * clean
    # Rows whose mask is all True or all False are left as generated (upstream skips them).
    skip = mask.all(dim=1) | ~mask.any(dim=1)  # [B]
    return torch.where(skip[:, None, None], generated, out)
