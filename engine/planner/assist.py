"""Simple mode ("create sample"), Format and Understand: one constrained pass each.

All three use the understand grammar: `<think>` + every metadata field (genres and caption
included) + `</think>`, then free text (the lyrics) with audio codes masked, until EOS
(upstream_lm_tools.md §2.3-§2.5, §3.2). No CFG (upstream passes none).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from engine.errors import ValidationError
from engine.jobs.context import JobContext
from engine.planner import prompts
from engine.planner.constants import (
    AUDIO_CODE_TOKEN,
    CAPTION_TOKEN_CAP,
    CODEBOOK_SIZE,
    GENRES_TOKEN_CAP,
    INSTRUMENTAL_LYRICS,
    LYRICS_TOKEN_BUDGET,
)
from engine.planner.fsm import DecodeSpec, MetadataFSM
from engine.planner.generate import RowState, generate_rows
from engine.planner.lm import PlannerLM
from engine.planner.metadata import Metadata, parse_cot, validate_metadata
from engine.planner.sampling import SamplingParams


@dataclass(frozen=True)
class AssistOptions:
    """Sampling and budgets shared by simple / format / understand."""

    sampling: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.85, top_p=None))
    seed: int = 0
    constrained: bool = True
    max_caption_tokens: int = CAPTION_TOKEN_CAP
    max_lyrics_tokens: int = LYRICS_TOKEN_BUDGET


@dataclass(frozen=True)
class AssistResult:
    """Caption, lyrics and metadata written by the LM (caption also inside `metadata`)."""

    caption: str
    lyrics: str
    metadata: Metadata
    instrumental: bool | None = None


def clean_lyrics(text: str) -> str:
    """Drop a leading `# Lyric`/`# Lyrics` header line and surrounding whitespace (§2.3)."""
    text = text.replace("<|im_end|>", "").strip()
    text = re.sub(r"\A#\s*Lyrics?[ \t]*(\n|\Z)", "", text).strip()
    return text


def _run(
    lm: PlannerLM, prompt: str, spec: DecodeSpec, opts: AssistOptions, ctx: JobContext | None
) -> MetadataFSM | list[int]:
    ctx = ctx or JobContext.inline()
    if opts.max_caption_tokens < 1 or opts.max_lyrics_tokens < 1:
        raise ValidationError("max_caption_tokens and max_lyrics_tokens must be at least 1")
    device = next(lm.model.parameters()).device
    gen = torch.Generator(device=device)
    gen.manual_seed(int(opts.seed) % (2**63))
    fsm = MetadataFSM(lm.vocab, spec) if opts.constrained else None
    row = RowState(fsm=fsm, generator=gen, tokens=[])
    budget = opts.max_caption_tokens + GENRES_TOKEN_CAP + 256 + opts.max_lyrics_tokens + 1
    generate_rows(
        lm.model, lm.vocab, [lm.encode(prompt)], None, [row], opts.sampling, budget, ctx,
        expected_tokens=budget, cache_mode=lm.cache_mode, stage="lm",
    )  # fmt: skip
    return fsm if fsm is not None else row.tokens


def _split(lm: PlannerLM, out: MetadataFSM | list[int]) -> tuple[Metadata, str]:
    if isinstance(out, MetadataFSM):
        return out.metadata(), out.text_after_think()
    text = lm.tokenizer.decode(out, skip_special_tokens=False)
    after = text.split("</think>", 1)[1] if "</think>" in text else ""
    return parse_cot(text), after


def _spec(lm: PlannerLM, forced: Metadata, opts: AssistOptions) -> DecodeSpec:
    return DecodeSpec(
        mode="understand",
        forced=forced,
        max_duration=lm.max_duration,
        genres=lm.genres,
        caption_cap=opts.max_caption_tokens,
        text_cap=opts.max_lyrics_tokens,
    )


def create_sample(
    lm: PlannerLM,
    description: str,
    *,
    instrumental: bool = False,
    language: str | None = None,
    options: AssistOptions | None = None,
    ctx: JobContext | None = None,
) -> AssistResult:
    """Simple mode: a one-line description -> caption, lyrics and metadata.

    A language other than "unknown" is forced into the `language` field (§2.3).

    Raises:
        ValidationError: empty description or unknown language.
    """
    opts = options or AssistOptions()
    if not description or not description.strip():
        raise ValidationError("the description is empty: describe the song you want in a few words")
    forced = Metadata()
    if language and language.strip().lower() != "unknown":
        forced = validate_metadata({"language": language}, max_duration=lm.max_duration)
    out = _run(lm, prompts.create_sample(description, instrumental), _spec(lm, forced, opts), opts, ctx)
    meta, after = _split(lm, out)
    lyrics = clean_lyrics(after)
    if not lyrics and instrumental:
        lyrics = INSTRUMENTAL_LYRICS
    return AssistResult(meta.caption or "", lyrics, meta, instrumental)


def format_sample(
    lm: PlannerLM,
    caption: str,
    lyrics: str,
    *,
    metadata: Metadata | dict | None = None,
    options: AssistOptions | None = None,
    ctx: JobContext | None = None,
) -> AssistResult:
    """Format: enhance a caption and lyrics; user metadata is forced into the output.

    Unlike upstream (which drops the language field when the user gives one, §2.4), a given
    language is forced like the other fields, so it comes back in the result.
    """
    opts = options or AssistOptions()
    user = validate_metadata(metadata, max_duration=lm.max_duration)
    user = Metadata(**{k: v for k, v in user.to_dict().items() if k not in ("caption", "genres")})
    out = _run(lm, prompts.format_sample(caption, lyrics), _spec(lm, user, opts), opts, ctx)
    meta, after = _split(lm, out)
    new_lyrics = clean_lyrics(after) or lyrics
    return AssistResult(meta.caption or caption, new_lyrics, meta)


def code_string(codes: Sequence[int]) -> str:
    """`<|audio_code_N|>...` with no separators (§1.2). Raises ValidationError for N out of range."""
    out = []
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < CODEBOOK_SIZE:
            raise ValidationError(f"audio code {code!r} is outside 0..{CODEBOOK_SIZE - 1}")
        out.append(AUDIO_CODE_TOKEN.format(code))
    return "".join(out)


def parse_code_string(text: str) -> list[int]:
    """Codes from a `<|audio_code_N|>` string (anything else is ignored, as upstream)."""
    return [int(n) for n in re.findall(r"<\|audio_code_(\d+)\|>", text)]


def understand(
    lm: PlannerLM,
    codes: Sequence[int],
    *,
    options: AssistOptions | None = None,
    ctx: JobContext | None = None,
) -> AssistResult:
    """Understand: 5 Hz audio codes -> caption, lyrics and metadata.

    No codes = upstream's "NO USER INPUT" prompt, which makes the model invent a song. Default
    temperature 0.3 as upstream's LM handler (§2.5).
    """
    opts = options or AssistOptions(sampling=SamplingParams(temperature=0.3, top_p=None))
    prompt = prompts.understand(code_string(codes))
    out = _run(lm, prompt, _spec(lm, Metadata(), opts), opts, ctx)
    meta, after = _split(lm, out)
    return AssistResult(meta.caption or "", clean_lyrics(after), meta)
