"""Text2music "thinking": phase 1 writes metadata + a rewritten caption, phase 2 writes codes.

Protocol: upstream_lm_tools.md §2.2, §3.2, §4.5. Phase 1 runs ONCE per batch, seeded by the
first item's seed, so every item shares the same metadata and CoT (as upstream); phase 2 samples
each item's codes with that item's seed. Every item samples from its own torch.Generator, so a
request reproduces its output exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.errors import ValidationError
from engine.jobs.context import JobContext
from engine.planner import prompts
from engine.planner.constants import (
    CAPTION_TOKEN_CAP,
    CODES_PER_SECOND,
    GENRES_TOKEN_CAP,
    NO_USER_INPUT,
)
from engine.planner.fsm import DecodeSpec, MetadataFSM
from engine.planner.generate import RowState, generate_rows
from engine.planner.lm import PlannerLM
from engine.planner.metadata import Metadata, parse_cot, validate_metadata
from engine.planner.sampling import SamplingParams


@dataclass(frozen=True)
class ThinkRequest:
    """A text2music planning request (defaults: upstream GenerationParams, §4.1).

    `metadata` holds the user's values (they always win and are forced into the CoT).
    `seed` is item 0's seed; item i uses seed + i, unless `seeds` lists one seed per item
    (then `seed` and `batch_size` are ignored). Phase 1 uses item 0's seed.
    """

    caption: str = ""
    lyrics: str = ""
    metadata: Metadata | dict = field(default_factory=Metadata)
    seed: int = 0
    batch_size: int = 1
    batch_chunk_size: int = 8
    sampling: SamplingParams = field(default_factory=lambda: SamplingParams(cfg_scale=2.0))
    negative_prompt: str = NO_USER_INPUT
    use_cot_metas: bool = True
    use_cot_caption: bool = True
    use_cot_language: bool = True
    generate_codes: bool = True
    constrained: bool = True
    max_caption_tokens: int = CAPTION_TOKEN_CAP
    seeds: tuple[int, ...] | None = None
    # Upstream forces the code count only from the USER's duration (§3.6); with this on, the
    # LM's own phase-1 duration fixes it too (an option: a weak LM then cannot run on).
    codes_from_lm_duration: bool = False


@dataclass(frozen=True)
class ThinkItem:
    """One planned take: merged metadata (user over LM), its codes and its seed."""

    metadata: Metadata
    lm_metadata: Metadata
    codes: tuple[int, ...]
    seed: int


@dataclass(frozen=True)
class ThinkResult:
    items: tuple[ThinkItem, ...]


def _generator(seed: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed) % (2**63))
    return gen


def _needs_phase1(req: ThinkRequest, user: Metadata) -> bool:
    if not req.use_cot_metas:
        return False
    have_all = all(getattr(user, k) is not None for k in ("bpm", "keyscale", "timesignature", "duration"))
    return not have_all


def think(lm: PlannerLM, request: ThinkRequest, ctx: JobContext | None = None) -> ThinkResult:
    """Plan `batch_size` takes. Raises ValidationError on bad input, Cancelled on cancel."""
    ctx = ctx or JobContext.inline()
    user = validate_metadata(request.metadata, max_duration=lm.max_duration)
    if request.batch_size < 1:
        raise ValidationError(f"batch_size must be at least 1, got {request.batch_size}")
    if request.max_caption_tokens < 1:
        raise ValidationError(f"max_caption_tokens must be at least 1, got {request.max_caption_tokens}")
    if request.batch_chunk_size < 1:
        raise ValidationError(f"batch_chunk_size must be at least 1, got {request.batch_chunk_size}")
    if request.seeds is not None and not request.seeds:
        raise ValidationError("seeds: give at least one seed (or leave it out)")
    device = next(lm.model.parameters()).device
    vocab = lm.vocab
    run_phase1 = _needs_phase1(request, user)
    seeds = list(request.seeds) if request.seeds is not None else [
        request.seed + i for i in range(request.batch_size)
    ]

    # Phase 1 once for the whole batch (upstream: one CoT, codes per item).
    lm_meta = Metadata()
    if run_phase1:
        skip = {"genres"}
        if not request.use_cot_caption:
            skip.add("caption")
        if not request.use_cot_language:
            skip.add("language")
        pair = prompts.think_phase1(request.caption, request.lyrics, request.negative_prompt)
        spec = DecodeSpec(
            mode="cot",
            forced=user,
            skip=frozenset(skip),
            max_duration=lm.max_duration,
            caption_cap=request.max_caption_tokens,
        )
        row = RowState(
            fsm=MetadataFSM(vocab, spec) if request.constrained else None,
            generator=_generator(seeds[0], device),
            tokens=[],
        )
        generate_rows(
            lm.model, vocab, [lm.encode(pair.cond)], [lm.encode(pair.uncond)], [row],
            request.sampling, request.max_caption_tokens + GENRES_TOKEN_CAP + 256, ctx, expected_tokens=64,
            progress_offset=0, cache_mode=lm.cache_mode, stage="lm",
        )  # fmt: skip
        if row.fsm is not None:
            lm_meta = row.fsm.metadata()
        else:
            lm_meta = parse_cot(lm.tokenizer.decode(row.tokens, skip_special_tokens=False))

    items: list[ThinkItem] = []
    for start in range(0, len(seeds), request.batch_chunk_size):
        chunk = seeds[start : start + request.batch_chunk_size]
        merged = user.merged_over(lm_meta)
        cot_meta = merged if run_phase1 else user
        if not request.use_cot_caption:
            cot_meta = Metadata(**{k: v for k, v in cot_meta.to_dict().items() if k != "caption"})
        if not request.generate_codes:
            items.extend(ThinkItem(merged, lm_meta, (), s) for s in chunk)
            continue

        # Phase 2: exactly duration x 5 codes for the user's duration (upstream's rule); the LM's
        # own duration only when asked; otherwise the LM stops with EOS (or at max_codes).
        target = merged.code_count if request.codes_from_lm_duration else user.code_count
        max_codes = int(lm.max_duration * CODES_PER_SECOND)
        pair = prompts.think_phase2(request.caption, request.lyrics, cot_meta, request.negative_prompt)
        cond_ids, uncond_ids = lm.encode(pair.cond), lm.encode(pair.uncond)
        spec = DecodeSpec(mode="codes", code_target=target, max_codes=max_codes, max_duration=lm.max_duration)
        rows = [
            RowState(
                fsm=MetadataFSM(vocab, spec) if request.constrained else None,
                generator=_generator(seed, device),
                tokens=[],
            )
            for seed in chunk
        ]
        budget = (target if target is not None else max_codes) + 1
        generate_rows(
            lm.model, vocab, [cond_ids] * len(rows), [uncond_ids] * len(rows), rows,
            request.sampling, budget, ctx, expected_tokens=budget, progress_offset=0,
            cache_mode=lm.cache_mode, stage="lm codes",
        )  # fmt: skip
        for seed, row in zip(chunk, rows, strict=True):
            codes = tuple(c for c in (vocab.code_index(t) for t in row.tokens) if c is not None)
            meta = merged
            if meta.duration is None:  # no duration anywhere: the code count decides it
                meta = Metadata(duration=len(codes) / CODES_PER_SECOND).merged_over(meta)
            items.append(ThinkItem(meta, lm_meta, codes, seed))
    return ThinkResult(tuple(items))
