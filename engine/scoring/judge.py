"""Judge one take: the LM quality score, both lyric-alignment scores and its LRC.

    scores = judge_take(pipeline, lm, TakeToScore(meta=take_meta, audio=samples), ctx=ctx)
    scores.to_meta()   # {"quality": 0.71, "alignment": 0.42, "lm_alignment": ..., "fields": {...}, ...}
    scores.lrc         # "[00:00.00][Verse]\\n[00:01.20]first line\\n..."

A take is judged from its recipe (the sidecar / take meta: request, seed, LM metadata, codes)
and its latents; a take whose latents were not kept (a project take, a sidecar on disk) gets
them back from its audio through the VAE (the posterior mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import ValidationError
from engine.jobs.context import JobContext
from engine.scoring.lrc import LyricLine
from engine.scoring.quality import DEFAULT_SENSITIVITY

SCORES_KEY = "scores"  # take meta / sidecar: the numbers
LRC_KEY = "lrc"  # take meta / sidecar: the LRC text (the repaint dialog parses it)


@dataclass(frozen=True)
class TakeToScore:
    """One take as the scorer needs it.

    meta: the take's provenance dict (a sidecar's JSON or a project take's meta).
    audio: float32 [2, S] at 48 kHz, used when `latents` is None.
    latents: float32 [T, 64], the generated latents when still at hand.
    """

    meta: Mapping[str, Any]
    audio: np.ndarray | None = None
    latents: np.ndarray | None = None


@dataclass(frozen=True)
class TakeScores:
    quality: float | None  # the LM quality score (None: no LM, or no codes to score)
    alignment: float | None  # the DiT lyric-alignment score (None: no lyrics)
    lm_alignment: float | None
    fields: dict[str, float] = field(default_factory=dict)
    pmi: dict[str, float] = field(default_factory=dict)
    alignment_parts: dict[str, float] = field(default_factory=dict)  # coverage, monotonicity, confidence
    lines: tuple[LyricLine, ...] = ()
    lrc: str = ""
    sensitivity: float = DEFAULT_SENSITIVITY
    notes: tuple[str, ...] = ()

    def to_meta(self) -> dict[str, Any]:
        """The JSON-ready "scores" entry of a take's meta / sidecar."""
        def r(v: float | None) -> float | None:
            return None if v is None else round(float(v), 4)

        return {"quality": r(self.quality), "alignment": r(self.alignment), "lm_alignment": r(self.lm_alignment),
                "fields": {k: r(v) for k, v in self.fields.items()},
                "pmi": {k: r(v) for k, v in self.pmi.items()},
                "alignment_parts": {k: r(v) for k, v in self.alignment_parts.items()},
                "sensitivity": self.sensitivity, "notes": list(self.notes)}


def dit_request(meta: Mapping[str, Any]):
    """The single-item request the DiT ran for this take (a thinking take: its planned
    cover-from-codes request, rebuilt from the LM metadata it kept)."""
    from engine.planner.metadata import Metadata
    from engine.tasks.pipeline import planned_item_request
    from engine.tasks.request import request_from_dict

    if "request" not in meta:
        raise ValidationError("take: it was not generated (no request in its meta), so it cannot be scored")
    data = dict(meta["request"])
    for name in ("source_audio", "reference_audio"):
        if isinstance(data.get(name), dict):
            data[name] = None  # in-memory audio: the caller restores it (studio) or it is absent
    request = request_from_dict(data)
    seed = int(meta.get("seed", (request.seeds or (0,))[0]))
    lm = dict(meta.get("lm_metadata") or {})
    if request.thinking and lm.get("audio_codes"):
        known = {k: lm[k] for k in ("bpm", "caption", "duration", "genres", "keyscale", "language",
                                     "timesignature") if k in lm}
        return planned_item_request(request, seed, Metadata(**known), lm["audio_codes"]), seed
    return request.with_changes(batch_size=1, seeds=(seed,), thinking=False), seed


def take_latents(pipeline, take: TakeToScore, ctx: JobContext) -> np.ndarray:
    """[T, 64]: the kept latents, else the VAE's posterior mean of the take's audio."""
    if take.latents is not None:
        return np.asarray(take.latents, dtype=np.float32)
    if take.audio is None:
        raise ValidationError("take: neither its latents nor its audio are available to score it")
    import torch

    ctx.progress("vae encode", 0, 1)
    audio = torch.from_numpy(np.ascontiguousarray(take.audio, dtype=np.float32))[None]  # [1, 2, S]
    latents = pipeline.models.vae.encode(audio, sample=False, on_tile=ctx.check_cancelled)
    ctx.progress("vae encode", 1, 1)
    return latents[0].float().cpu().numpy()


def judge_take(pipeline, lm, take: TakeToScore, *, sensitivity: float = DEFAULT_SENSITIVITY,
               ctx: JobContext | None = None, request=None) -> TakeScores:
    """Score one take. `lm`: a loaded PlannerLM, or None (no quality score, noted).
    `request`: the take's DiT request with project audio restored (default: from its meta)."""
    from engine.scoring.dit_judge import decoder_inputs, judge_alignment
    from engine.scoring.lm_judge import judge_quality

    ctx = ctx or JobContext.inline()
    notes: list[str] = []
    rebuilt, seed = dit_request(take.meta)
    request = request or rebuilt
    quality = None
    fields: dict[str, float] = {}
    pmis: dict[str, float] = {}
    if lm is None:
        notes.append("no planner LM installed: no quality score")
    else:
        judged = judge_quality(lm, take.meta, sensitivity=sensitivity, ctx=ctx)
        quality, fields, pmis = judged.quality, judged.fields, judged.pmi
        if quality is None:
            notes.append("no audio codes: no quality score")
    ctx.check_cancelled()
    latents = take_latents(pipeline, take, ctx)
    ctx.check_cancelled()
    ctx.progress("alignment", 0, 1)
    schedule = take.meta.get("schedule") or ()
    inputs = decoder_inputs(pipeline, request, seed, latents, steps=max(1, len(schedule) - 1) if schedule else None)
    ctx.check_cancelled()
    aligned = judge_alignment(pipeline, inputs)
    ctx.progress("alignment", 1, 1)
    ctx.check_cancelled()  # a cancel during the last stage: no scores come out of a cancelled job
    if aligned.heads != "upstream":
        notes.append(f"alignment heads: {aligned.heads}")
    has_lyrics = any(not line.is_tag for line in aligned.lines)  # "[Instrumental]" alone is no lyric
    if not has_lyrics:
        notes.append("no lyrics: no alignment score and no LRC")
    parts = ({"coverage": aligned.dit_alignment.coverage, "monotonicity": aligned.dit_alignment.monotonicity,
              "confidence": aligned.dit_alignment.confidence} if has_lyrics else {})
    return TakeScores(
        quality=quality,
        alignment=aligned.dit_alignment.score if has_lyrics else None,
        lm_alignment=aligned.lm_alignment.score if has_lyrics else None,
        fields=fields, pmi=pmis, alignment_parts=parts, lines=aligned.lines if has_lyrics else (), lrc=aligned.lrc if has_lyrics else "",
        sensitivity=sensitivity, notes=tuple(notes),
    )
