"""Per-task conditioning: from a request and loaded audio to the latent-space plan of a batch.

Facts: upstream_dit.md §3.2–§3.7 (ace-step/ACE-Step-1.5:acestep/core/generation/handler/
conditioning_target.py, conditioning_masks.py, conditioning_text.py, audio_codes.py).
Everything here is shared by all batch items; only noise and VAE sampling differ per item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.tasks import constants as C
from engine.tasks.prompts import caption_prompt, format_metas, instruction_for, lyric_prompt
from engine.tasks.regions import Region, clamp_frames, pad_source, plan_region, repaint_settings
from engine.tasks.request import GenerationRequest


@dataclass(frozen=True)
class TaskPlan:
    """What the pipeline builds the diffusion inputs from (one row, shared by the batch).

    Attributes:
        frames: latent length T (≥ 128).
        target_wav: [2, S] the audio the source latents are encoded from (padded source for
            repaint/lego; None when the source is silence or codes).
        use_codes: src latents come from audio codes (cover mode).
        is_cover: replace src by FSQ hints.
        region: repaint/lego window in padded coordinates (None for whole-song tasks).
        region_frames: clamped [s, e) frames of the region.
        silence_region: repaint: the region of src is replaced by silence latent frames.
        chunk_value: chunk-mask value for whole-song tasks.
        caption / non_cover_caption: caption prompts (non-cover: text2music instruction, used
            after the cover-strength switch; None without a switch).
        lyrics: lyric prompt.
        injection_ratio / crossfade_frames / wav_crossfade_s: repaint handling.
    """

    task: str
    frames: int
    target_wav: np.ndarray | None
    use_codes: bool
    is_cover: bool
    region: Region | None
    region_frames: tuple[int, int] | None
    silence_region: bool
    chunk_value: float
    caption: str
    non_cover_caption: str | None
    lyrics: str
    injection_ratio: float
    crossfade_frames: int
    wav_crossfade_s: float


def frames_for_samples(samples: int) -> int:
    return samples // C.HOP


def plan_task(req: GenerationRequest, source: np.ndarray | None, lm_codes: tuple[int, ...] | None = None
              ) -> TaskPlan:
    """Decide T, masks, prompts and regions for `req` (source is float32 [2, S] at 48 kHz)."""
    codes = lm_codes if lm_codes is not None else req.audio_codes
    task = req.task
    region = None
    target = None
    silence_region = False
    injection, crossfade, wav_cf = 0.0, 0, 0.0
    # cover-nofsq uses the source's raw latents; codes never replace them (is_cover stays False,
    # so the DiT skips the FSQ roundtrip, as upstream's is_covers is false for it).
    use_codes = bool(codes) and task in ("text2music", "cover")
    # A text2music request with codes becomes cover (upstream_dit.md §3.3 / §6).
    instruction_task = "cover" if use_codes else task
    is_cover = task == "cover" or use_codes
    metas_duration: float | None

    if use_codes:
        # The length comes from the codes; the metas say what upstream's would: the user's
        # duration, else the source's length (cover with both), else "30 seconds" (its default).
        frames = max(C.MIN_FRAMES, 5 * len(codes))
        if req.duration:
            metas_duration = req.duration
        elif source is not None:
            metas_duration = source.shape[1] / C.SAMPLE_RATE
        else:
            metas_duration = None  # format_metas writes upstream's "30 seconds"
    elif task == "text2music":
        seconds = round(req.duration if req.duration else 30.0, 1)
        frames = max(C.MIN_FRAMES, frames_for_samples(int(seconds * C.SAMPLE_RATE)))
        metas_duration = seconds
    else:
        assert source is not None, "validated: this task has a source"
        source_seconds = source.shape[1] / C.SAMPLE_RATE
        metas_duration = source_seconds
        if task in ("repaint", "lego"):
            region = plan_region(source_seconds, req.repaint_start, req.repaint_end)
            target = pad_source(source, region)
            silence_region = task == "repaint"
            injection, crossfade, wav_cf = repaint_settings(req.repaint_mode, req.repaint_strength)
        else:
            target = source
        frames = max(C.MIN_FRAMES, frames_for_samples(target.shape[1]))

    region_frames = clamp_frames(region, frames) if region is not None else None
    metas = format_metas(req.bpm, req.timesignature, req.keyscale, metas_duration)
    caption = caption_prompt(instruction_for(instruction_task, req.tracks), req.caption, metas)
    non_cover = None
    if is_cover and req.audio_cover_strength < 1.0:
        non_cover = caption_prompt(instruction_for("text2music"), req.caption, metas)
    return TaskPlan(
        task=task,
        frames=frames,
        target_wav=target,
        use_codes=use_codes,
        is_cover=is_cover,
        region=region,
        region_frames=region_frames,
        silence_region=silence_region,
        chunk_value=req.chunk_mask_auto_value,
        caption=caption,
        non_cover_caption=non_cover,
        lyrics=lyric_prompt(req.vocal_language, req.effective_lyrics),
        injection_ratio=injection,
        crossfade_frames=crossfade,
        wav_crossfade_s=wav_cf,
    )
