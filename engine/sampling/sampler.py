"""The diffusion loop: schedule × (CFG/APG/ADG) × (ODE/SDE) × repaint injection × cover switch × DCW.

Model-agnostic: it calls `model(x [B', T, 64], t, condition) -> v [B', T, 64]` and never sees
weights. Facts: upstream_dit.md §3.4 (cover switch), §3.5 (repaint), §4 (sampling, guidance,
DCW); turbo and base share this loop — turbo simply has guidance_scale 1 and an 8-point table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from engine.sampling.dcw import DcwConfig, dcw_correct
from engine.sampling.guidance import ADG_ANGLE_CLIP, MomentumBuffer, adg, apg, cfg
from engine.sampling.repaint import blend_region_edges, inject_outside_region
from engine.sampling.steps import ode_step, predicted_clean, sde_step

GUIDANCE_METHODS = ("apg", "adg", "cfg")


@dataclass(frozen=True)
class Condition:
    """What the denoiser is conditioned on for one batch.

    Attributes:
        encoder_hidden_states: packed condition states [B, L, H] (text, lyrics, timbre).
        encoder_attention_mask: [B, L] (kept for completeness; upstream's DiT ignores it).
        context_latents: [B, T, 128] = source latents (64) ‖ chunk mask (64).
    """

    encoder_hidden_states: torch.Tensor
    encoder_attention_mask: torch.Tensor
    context_latents: torch.Tensor

    def doubled_with_null(self, null_embedding: torch.Tensor) -> Condition:
        """[cond; uncond] for CFG: the uncond rows see `null_embedding` ([1, 1, H]) at EVERY
        position, the same mask and the same context latents (only cross-attention is nulled)."""
        null_states = null_embedding.to(self.encoder_hidden_states.dtype).expand_as(self.encoder_hidden_states)
        return Condition(
            encoder_hidden_states=torch.cat([self.encoder_hidden_states, null_states], dim=0),  # [2B, L, H]
            encoder_attention_mask=torch.cat([self.encoder_attention_mask] * 2, dim=0),
            context_latents=torch.cat([self.context_latents] * 2, dim=0),  # [2B, T, 128]
        )


class DenoiseFn(Protocol):
    def __call__(self, x: torch.Tensor, t: float, condition: Condition) -> torch.Tensor: ...


@dataclass(frozen=True)
class GuidanceConfig:
    """Classifier-free guidance. Active when `scale > 1` (base/SFT; turbo runs with 1).

    `interval` compares the time VALUE t (not a step fraction): guidance applies iff
    start ≤ t ≤ end; otherwise v = v_cond (both branches are still evaluated, as upstream).
    """

    scale: float = 1.0
    method: str = "apg"  # "apg" (default), "adg", "cfg"
    interval: tuple[float, float] = (0.0, 1.0)
    adg_angle_clip: float = ADG_ANGLE_CLIP

    @property
    def active(self) -> bool:
        return self.scale > 1.0


@dataclass(frozen=True)
class RepaintConfig:
    """Latent repaint handling inside and after the loop (§3.5).

    Attributes:
        mask: bool [B, T], True = regenerate.
        clean_latents: the source latents [B, T, 64].
        injection_steps: steps (by index) after which frames outside the region are replaced
            by the re-noised source.
        crossfade_frames: length of the linear boundary blend after sampling (0 = none).
    """

    mask: torch.Tensor
    clean_latents: torch.Tensor
    injection_steps: int
    crossfade_frames: int


@dataclass(frozen=True)
class CoverSwitch:
    """Audio-cover strength: from step index `at_step` on, the non-cover condition is used."""

    at_step: int
    condition: Condition


@dataclass(frozen=True)
class SamplerOptions:
    """Everything about HOW to sample (the WHAT is the condition and the noise)."""

    schedule: Sequence[float]  # n+1 times ending in 0, already rounded through the model dtype
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    infer_method: str = "ode"  # "ode" | "sde"
    sde_ignores_shift: bool = False  # base/SFT quirk: SDE re-noises to 1 − (i+1)/n (§4.2)
    dcw: DcwConfig = field(default_factory=DcwConfig)
    # "euler" (default) or "heun" (upstream 2026-03 `sampler_mode`): each ODE step but the last
    # also evaluates the model at the Euler prediction and steps with the mean velocity; the
    # corrector's guidance is plain CFG (upstream_dit.md §4.2). Twice the model calls.
    sampler_mode: str = "euler"


SAMPLER_MODES = ("euler", "heun")


@dataclass(frozen=True)
class StepTrace:
    """One denoiser evaluation, for conformance checks and debugging."""

    index: int
    t: float
    x_in: torch.Tensor  # [B, T, 64] (one copy, even with CFG)
    v_out: torch.Tensor  # [B', T, 64] raw model output (B' = 2B with CFG: cond rows then uncond)


def sample(
    model: DenoiseFn,
    initial_noise: torch.Tensor,
    condition: Condition,
    options: SamplerOptions,
    *,
    null_embedding: torch.Tensor | None = None,
    cover_switch: CoverSwitch | None = None,
    repaint: RepaintConfig | None = None,
    sde_noise: Callable[[int], torch.Tensor] | None = None,
    start_latents: torch.Tensor | None = None,
    on_step: Callable[[int, int], None] | None = None,
    trace: Callable[[StepTrace], None] | None = None,
) -> torch.Tensor:
    """Run the diffusion loop and return the clean latents x0 [B, T, 64].

    Args:
        model: the denoiser (velocity predictor).
        initial_noise: x at t = schedule[0] when `start_latents` is None, else the noise that
            is mixed in; it is also the noise used by repaint injection. [B, T, 64]
        condition: the (cover, if any) condition for the batch.
        options: schedule, guidance, ODE/SDE and DCW.
        null_embedding: the model's learned null condition [1, 1, H]; required with CFG.
        cover_switch: switch to the non-cover condition at a step index (cover strength < 1).
        repaint: region injection and final edge blend.
        sde_noise: `sde_noise(step) -> [B, T, 64]` fresh noise for SDE steps.
        start_latents: for cover_noise_strength: x starts at schedule[0]·noise + (1−t0)·start.
        on_step: called BEFORE each evaluation with (step, total); raise to cancel.
        trace: receives a StepTrace after every evaluation.
    """
    schedule = [float(t) for t in options.schedule]
    steps = len(schedule) - 1
    if steps < 1:
        raise ValueError("schedule needs at least two points (start and 0)")
    guidance = options.guidance
    if guidance.active and null_embedding is None:
        raise ValueError("guidance_scale > 1 needs the model's null condition embedding")
    if guidance.method not in GUIDANCE_METHODS:
        raise ValueError(f"guidance method must be one of {GUIDANCE_METHODS}, got {guidance.method!r}")
    if options.infer_method not in ("ode", "sde"):
        raise ValueError(f"infer_method must be 'ode' or 'sde', got {options.infer_method!r}")
    if options.sampler_mode not in SAMPLER_MODES:
        raise ValueError(f"sampler_mode must be one of {SAMPLER_MODES}, got {options.sampler_mode!r}")
    if options.sampler_mode == "heun" and options.infer_method != "ode":
        raise ValueError("sampler_mode 'heun' is an ODE corrector; it needs infer_method 'ode'")

    noise = initial_noise
    t0 = schedule[0]
    x = noise if start_latents is None else t0 * noise + (1.0 - t0) * start_latents  # [B, T, 64]
    momentum = MomentumBuffer()
    active_condition = condition
    model_condition = condition.doubled_with_null(null_embedding) if guidance.active else condition
    batch = x.shape[0]

    for i in range(steps):
        if on_step is not None:
            on_step(i, steps)
        if cover_switch is not None and i == cover_switch.at_step:
            active_condition = cover_switch.condition
            model_condition = (
                active_condition.doubled_with_null(null_embedding) if guidance.active else active_condition
            )
        t_cur, t_next = schedule[i], schedule[i + 1]
        x_in = torch.cat([x, x], dim=0) if guidance.active else x  # [B', T, 64]
        v_raw = model(x_in, t_cur, model_condition)  # [B', T, 64]
        if trace is not None:
            trace(StepTrace(index=i, t=t_cur, x_in=x, v_out=v_raw))
        v = _guide(v_raw, x, t_cur, batch, guidance, momentum)  # [B, T, 64]

        if i == steps - 1:  # final step: straight to the clean estimate (t_next = 0)
            x = predicted_clean(x, v, t_cur)
            break
        if options.infer_method == "sde":
            target_t = 1.0 - (i + 1) / steps if options.sde_ignores_shift else t_next
            if sde_noise is None:
                raise ValueError("infer_method 'sde' needs an sde_noise source")
            x_next = sde_step(x, v, t_cur, target_t, sde_noise(i).to(x))
        elif options.sampler_mode == "heun":
            x_pred = ode_step(x, v, t_cur, t_next)  # Euler predictor [B, T, 64]
            x_pred_in = torch.cat([x_pred, x_pred], dim=0) if guidance.active else x_pred
            v_pred_raw = model(x_pred_in, t_next, model_condition)  # [B', T, 64]
            v_pred = v_pred_raw[:batch]
            if guidance.active and guidance.interval[0] <= t_next <= guidance.interval[1]:
                v_pred = cfg(v_pred_raw[:batch], v_pred_raw[batch:], guidance.scale)
            x_next = ode_step(x, 0.5 * (v + v_pred), t_cur, t_next)
        else:
            x_next = ode_step(x, v, t_cur, t_next)
        if options.dcw.enabled:
            x_next = dcw_correct(x_next, predicted_clean(x, v, t_cur), t_cur, options.dcw)
        if repaint is not None and i < repaint.injection_steps:
            x_next = inject_outside_region(x_next, repaint.mask, noise, repaint.clean_latents.to(x), t_next)
        x = x_next

    if repaint is not None:
        x = blend_region_edges(x, repaint.clean_latents.to(x), repaint.mask, repaint.crossfade_frames)
    return x


def _guide(
    v_raw: torch.Tensor,
    x: torch.Tensor,
    t_cur: float,
    batch: int,
    guidance: GuidanceConfig,
    momentum: MomentumBuffer,
) -> torch.Tensor:
    """Combine [cond; uncond] predictions into one velocity [B, T, 64]."""
    if not guidance.active:
        return v_raw
    v_cond, v_uncond = v_raw[:batch], v_raw[batch:]
    start, end = guidance.interval
    if not (start <= t_cur <= end):
        return v_cond
    if guidance.method == "apg":
        return apg(v_cond, v_uncond, guidance.scale, momentum, dims=(1,))
    if guidance.method == "adg":
        return adg(v_cond, v_uncond, x, t_cur, guidance.scale, angle_clip=guidance.adg_angle_clip)
    return cfg(v_cond, v_uncond, guidance.scale)
