"""The LM half of judging a take: teacher forcing on the planner LM (upstream_lm_tools.md §5.1).

Two prompts, both the *understand* prompt: with the take's audio codes (conditional) and with
`NO USER INPUT` (unconditional). Per target text, the prompt's length is measured by
tokenising the prompt alone (special tokens added), then prompt + target is tokenised together
and the logits that predict each target token are read. No temperature.

    metadata field f:  "<think>\\n{yaml of {f: value}}\\n</think>\\n"  -> top-k recall (conditional)
    caption:           "<think>\\n{yaml of {caption: ...}}\\n</think>\\n" -> sigmoid(PMI / sensitivity)
    lyrics:            "<think>\\n</think>\\n# Lyric\\n{lyrics}\\n"        -> sigmoid(PMI / sensitivity)
    quality = 0.5 caption + 0.3 lyrics + 0.2 mean(metadata), renormalised over what exists
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.jobs.context import JobContext
from engine.planner.constants import NO_USER_INPUT
from engine.scoring.quality import (
    DEFAULT_SENSITIVITY,
    global_score,
    pmi_score,
    recall_weights,
    token_log_probs,
)

METADATA_FIELDS = ("bpm", "duration", "genres", "keyscale", "language", "timesignature")
LOGIT_ROWS_PER_CHUNK = 64  # [64, vocab] float64 at a time: a 217k vocabulary stays ~110 MB


@dataclass(frozen=True)
class QualityJudgement:
    fields: dict[str, float]  # per-field scores in [0, 1]: metadata recalls, caption, lyrics
    pmi: dict[str, float] = field(default_factory=dict)  # the raw PMI of caption / lyrics
    quality: float | None = None  # the global score; None when nothing could be scored


def _yaml_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def field_target(name: str, value: Any) -> str:
    import yaml  # PyYAML, as upstream: long captions wrap exactly as the LM was trained on

    body = yaml.dump({name: _yaml_value(value)}, allow_unicode=True, sort_keys=True).strip()
    return f"<think>\n{body}\n</think>\n"


def lyrics_target(lyrics: str) -> str:
    return f"<think>\n</think>\n# Lyric\n{lyrics}\n"


def scored_values(take_meta: Mapping[str, Any]) -> dict[str, Any]:
    """What is scored: the LM's metadata first, then the user's values for keys it lacks."""
    lm = dict(take_meta.get("lm_metadata") or {})
    request = dict(take_meta.get("request") or {})
    user = {"bpm": request.get("bpm"), "caption": request.get("caption"), "duration": request.get("duration"),
            "keyscale": request.get("keyscale"), "timesignature": request.get("timesignature"),
            "language": None if request.get("vocal_language") in (None, "", "unknown") else request.get("vocal_language")}
    values: dict[str, Any] = {}
    for key in (*METADATA_FIELDS, "caption"):
        value = lm.get(key)
        if value in (None, ""):
            value = user.get(key)
        if value not in (None, ""):
            values[key] = value
    return values


def scored_lyrics(take_meta: Mapping[str, Any]) -> str:
    request = dict(take_meta.get("request") or {})
    if request.get("instrumental"):
        return ""
    return str(request.get("lyrics") or "").strip()


def scored_codes(take_meta: Mapping[str, Any]) -> list[int]:
    """The planner's codes for a thinking take (what upstream scores), else the take's own."""
    lm = dict(take_meta.get("lm_metadata") or {})
    return [int(c) for c in (lm.get("audio_codes") or take_meta.get("codes") or [])]


class TeacherForcing:
    """Teacher-forced logits of a target text after a prompt, on a loaded PlannerLM."""

    def __init__(self, lm):
        self.lm = lm

    def ids(self, text: str) -> list[int]:
        return list(self.lm.tokenizer(text, add_special_tokens=True)["input_ids"])

    def logits(self, prompt: str, target: str) -> tuple[Any, np.ndarray]:
        """-> (logits [T, V] torch float32 on the CPU, target ids [T]); T = 0 if nothing remains."""
        import torch

        prompt_len = len(self.ids(prompt))
        full = list(self.lm.tokenizer(prompt + target, add_special_tokens=True, truncation=True)["input_ids"])
        n = len(full) - prompt_len
        if n <= 0:
            return torch.empty(0, 0), np.empty(0, dtype=np.int64)
        model = self.lm.model
        device = next(model.parameters()).device
        ids = torch.tensor([full], device=device)
        with torch.no_grad():
            # Only the last n + 1 positions need the vocabulary projection: position i predicts
            # token i + 1, so rows prompt_len - 1 .. len - 2 predict the target.
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids), logits_to_keep=n + 1)
        logits = out.logits[0, :-1].float().cpu()  # [n, V]
        return logits, np.asarray(full[prompt_len:], dtype=np.int64)

    def per_token(self, prompt: str, target: str, fn) -> np.ndarray:
        logits, targets = self.logits(prompt, target)
        parts = [fn(logits[i : i + LOGIT_ROWS_PER_CHUNK].numpy(), targets[i : i + LOGIT_ROWS_PER_CHUNK])
                 for i in range(0, targets.size, LOGIT_ROWS_PER_CHUNK)]
        return np.concatenate(parts) if parts else np.empty(0)


def judge_quality(lm, take_meta: Mapping[str, Any], *, sensitivity: float = DEFAULT_SENSITIVITY,
                  ctx: JobContext | None = None) -> QualityJudgement:
    """The LM quality score of one take from its meta (request, lm_metadata, codes)."""
    from engine.planner.assist import code_string
    from engine.planner.prompts import understand

    ctx = ctx or JobContext.inline()
    codes = scored_codes(take_meta)
    if not codes:
        return QualityJudgement(fields={})
    cond = understand(code_string(codes))
    uncond = understand(NO_USER_INPUT)
    forcing = TeacherForcing(lm)
    values = scored_values(take_meta)
    lyrics = scored_lyrics(take_meta)
    work: list[tuple[str, str]] = [(k, "recall") for k in METADATA_FIELDS if k in values]
    work += [("caption", "pmi")] if "caption" in values else []
    work += [("lyrics", "pmi")] if lyrics else []
    fields: dict[str, float] = {}
    pmis: dict[str, float] = {}
    for i, (name, kind) in enumerate(work):
        ctx.check_cancelled()
        ctx.progress("lm score", i, len(work))
        target = lyrics_target(lyrics) if name == "lyrics" else field_target(name, values[name])
        if kind == "recall":
            weights = forcing.per_token(cond, target, recall_weights)
            fields[name] = float(weights.mean()) if weights.size else 0.0
            continue
        cond_lp = forcing.per_token(cond, target, token_log_probs)
        ctx.check_cancelled()
        uncond_lp = forcing.per_token(uncond, target, token_log_probs)
        if not cond_lp.size or not uncond_lp.size:
            continue
        pmis[name] = float(cond_lp.mean() - uncond_lp.mean())
        fields[name] = pmi_score(pmis[name], sensitivity)
    ctx.progress("lm score", len(work), len(work))
    ctx.check_cancelled()
    metadata = {k: v for k, v in fields.items() if k in METADATA_FIELDS}
    quality = global_score(fields.get("caption"), fields.get("lyrics"), metadata) if fields else None
    return QualityJudgement(fields=fields, pmi=pmis, quality=quality)


def fields_in_order(fields: Mapping[str, float]) -> Sequence[str]:
    return [k for k in ("caption", "lyrics", *METADATA_FIELDS) if k in fields]
