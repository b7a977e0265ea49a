"""From encoded text + latent conditioning to clean latents: the DiT half of the pipeline.

This is the public entry the pipeline and the conformance tests share: inputs are the tensors
upstream's `generate_audio` receives (upstream_dit.md §3.2–§3.5), the model is an
`engine.models.dit.AceStepDiT`, and the loop is `engine.sampling.sampler.sample`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.runtime.threads import decode_threads, intra_op_threads
from engine.sampling.sampler import Condition, CoverSwitch, RepaintConfig, SamplerOptions, StepTrace, sample


@dataclass(frozen=True)
class TextConditioning:
    """Encoded caption and lyric prompts for a batch (B rows)."""

    text_hidden_states: torch.Tensor  # [B, Lt, D] Qwen3-Embedding last_hidden_state
    text_attention_mask: torch.Tensor  # [B, Lt]
    lyric_hidden_states: torch.Tensor  # [B, Ll, D] Qwen3 input embeddings of the lyric ids
    lyric_attention_mask: torch.Tensor  # [B, Ll]


@dataclass(frozen=True)
class DiffusionInputs:
    """Everything the DiT needs for one batch, as upstream's generate_audio receives it.

    C is the DiT's latent channel count (`dit.latent_channels`: 64 in the real models).

    Attributes:
        text: caption/lyric states for the (cover) condition.
        refer_latents_packed: [N, Tr, C] timbre reference latents, one row per clip.
        refer_order: [N] batch index of each reference row.
        src_latents: [B, T, C] silence (text2music), source (cover/extract/complete/lego), or
            source with the region silenced (repaint).
        chunk_masks: [B, T, C] (or [B, T]) 1 = generate.
        is_covers: [B] bool: replace src by 25 Hz FSQ hints.
        precomputed_hints: [B, T, C] hints decoded from codes; None = FSQ round trip of src.
        non_cover_text: caption states re-encoded with the text2music instruction; used from
            step `cover_steps` on (audio_cover_strength < 1). None = no switch.
        cover_steps: step index of the switch.
        repaint_mask: [B, T] bool, True = regenerate; None = no repaint handling.
        clean_src_latents: [B, T, C] the unmasked source (repaint/lego).
        injection_steps / crossfade_frames: repaint handling (§3.5).
        cover_noise_start: [B, T, C] raw source for cover_noise_strength > 0 (else None).
    """

    text: TextConditioning
    refer_latents_packed: torch.Tensor
    refer_order: torch.Tensor
    src_latents: torch.Tensor
    chunk_masks: torch.Tensor
    is_covers: torch.Tensor
    precomputed_hints: torch.Tensor | None = None
    non_cover_text: TextConditioning | None = None
    cover_steps: int | None = None
    repaint_mask: torch.Tensor | None = None
    clean_src_latents: torch.Tensor | None = None
    injection_steps: int = 0
    crossfade_frames: int = 0
    cover_noise_start: torch.Tensor | None = None


def _chunk_masks_wide(chunk_masks: torch.Tensor, channels: int) -> torch.Tensor:
    """[B, T] -> [B, T, C] (C = the DiT's latent channels); a [B, T, C] mask passes through."""
    return chunk_masks.unsqueeze(-1).expand(-1, -1, channels) if chunk_masks.ndim == 2 else chunk_masks


def fsq_hints(dit, src_latents: torch.Tensor) -> torch.Tensor:
    """Cover's FSQ round trip: tokenize (pad with silence to ×5, pool, FSQ) then detokenize,
    cropped to T. Removes fine detail, keeps structure (§3.4). [B, T, C] -> [B, T, C]."""
    frames = src_latents.shape[1]
    quantized = dit.tokenize(src_latents).quantized_5hz  # [B, ceil(T/5), He]
    return dit.quantized_to_latents(quantized)[:, :frames]


def fit_frames(latents: torch.Tensor, frames: int, silence: torch.Tensor) -> torch.Tensor:
    """Crop, or right-pad with silence-latent frames, to `frames`. [B, T', C] -> [B, T, C].

    The padding is the silence latent's FIRST `frames - T'` frames (`silence[:, 0:pad]`), as
    upstream pads; `silence` [1, >=pad, C]."""
    have = latents.shape[1]
    if have >= frames:
        return latents[:, :frames]
    pad = silence[:, : frames - have].to(latents).expand(latents.shape[0], -1, -1)
    return torch.cat([latents, pad], dim=1)


def _encode(dit, text: TextConditioning, inputs: DiffusionInputs):
    return dit.encode_conditions(
        text.text_hidden_states, text.text_attention_mask,
        text.lyric_hidden_states, text.lyric_attention_mask,
        inputs.refer_latents_packed, inputs.refer_order,
    )


def primary_condition(dit, inputs: DiffusionInputs) -> Condition:
    """The packed conditions and context latents [B, T, 2C] of the (cover) condition: src with
    cover hints where asked, beside the chunk mask. The sampler's first condition, and what the
    scoring pass (engine.scoring) feeds the decoder."""
    device, dtype = dit.device, dit.dtype
    frames = inputs.src_latents.shape[1]
    src = inputs.src_latents.to(device, dtype)
    chunk = _chunk_masks_wide(inputs.chunk_masks, dit.latent_channels).to(device, dtype)  # [B, T, C]
    covers = inputs.is_covers.to(device).bool()
    if bool(covers.any()):
        hints = inputs.precomputed_hints
        if hints is None:
            hints = fsq_hints(dit, src)
        hints = fit_frames(hints.to(device, dtype), frames, dit.silence_frames(frames))
        src = torch.where(covers[:, None, None], hints, src)  # [B, T, C]
    encoded = _encode(dit, inputs.text, inputs)
    return Condition(
        encoder_hidden_states=encoded.encoder_hidden_states,
        encoder_attention_mask=encoded.encoder_attention_mask,
        context_latents=torch.cat([src, chunk], dim=-1),  # [B, T, 2C]
    )


def run_diffusion(
    dit,
    inputs: DiffusionInputs,
    options: SamplerOptions,
    initial_noise: torch.Tensor,
    *,
    sde_noise: Callable[[int], torch.Tensor] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    trace: Callable[[StepTrace], None] | None = None,
) -> torch.Tensor:
    """Encode conditions, assemble context latents and run the sampler. Returns x0 [B, T, C].

    `initial_noise` [B, T, C] is injected (no RNG inside), so runs are reproducible and the
    conformance cases can feed the recorded noise.
    """
    device, dtype = dit.device, dit.dtype
    batch, frames, _ = inputs.src_latents.shape
    chunk = _chunk_masks_wide(inputs.chunk_masks, dit.latent_channels).to(device, dtype)  # [B, T, C]
    condition = primary_condition(dit, inputs)
    switch = None
    if inputs.non_cover_text is not None and inputs.cover_steps is not None:
        non_cover = _encode(dit, inputs.non_cover_text, inputs)
        silence = dit.silence_frames(frames).to(device, dtype).expand(batch, -1, -1)  # [B, T, C]
        switch = CoverSwitch(
            at_step=inputs.cover_steps,
            condition=Condition(
                encoder_hidden_states=non_cover.encoder_hidden_states,
                encoder_attention_mask=non_cover.encoder_attention_mask,
                context_latents=torch.cat([silence, chunk], dim=-1),
            ),
        )
    repaint = None
    if inputs.repaint_mask is not None:
        repaint = RepaintConfig(
            mask=inputs.repaint_mask.to(device).bool(),
            clean_latents=inputs.clean_src_latents.to(device, dtype),
            injection_steps=inputs.injection_steps,
            crossfade_frames=inputs.crossfade_frames,
        )

    def model(x: torch.Tensor, t: float, cond: Condition) -> torch.Tensor:
        return dit.denoise(x, t, t, cond.context_latents, cond.encoder_hidden_states)

    # One sampling loop = one scope for the reused cross-attention K/V (a stand-in model has none).
    scope = getattr(dit, "cross_attention_scope", None)
    # A small DiT on the CPU (the tiny checkpoints, the conformance kit's) is a chain of
    # micro-second ops: one intra-op thread, as for small-LM decode (runtime/threads.py). With
    # two on a loaded 2-core box an 8-step tiny cover took ~15 s instead of well under one.
    with torch.no_grad(), intra_op_threads(decode_threads(dit)), (
        scope() if scope is not None else contextlib.nullcontext()
    ):
        return sample(
            model,
            initial_noise.to(device, dtype),
            condition,
            options,
            null_embedding=dit.null_condition_emb,
            cover_switch=switch,
            repaint=repaint,
            sde_noise=sde_noise,
            start_latents=None if inputs.cover_noise_start is None else inputs.cover_noise_start.to(device, dtype),
            on_step=on_step,
            trace=trace,
        )
