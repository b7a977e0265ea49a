"""Our own token loop over the causal LM's forward pass, with a KV cache.

Why not `model.generate`: every token must pass through a per-sequence state machine, LM CFG
needs the conditional and unconditional rows combined before the mask, each request samples
from its own seeded generator, and the job must be cancellable between any two tokens.

Rows: B conditional prompts, then (with CFG) B unconditional ones, left-padded into one batch
[R, L] (R = B or 2B). Positions count only real tokens, so left padding does not shift RoPE.
Cache modes: "dynamic" (DynamicCache, the default), "static" (StaticCache, sized up front; on
CUDA the forward can then be torch.compile'd), "none" (recompute the whole sequence every step:
slow, only to check that caching changes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from engine.jobs.context import JobContext
from engine.planner.fsm import MetadataFSM
from engine.planner.sampling import (
    RowLogits,
    SamplingParams,
    apply_repetition_penalty,
    filter_top_k_top_p,
    sample_token,
)
from engine.planner.vocab import PlannerVocab
from engine.runtime.threads import decode_threads, intra_op_threads

CacheMode = Literal["dynamic", "static", "none"]


@dataclass
class RowState:
    """One conditional sequence being generated."""

    fsm: MetadataFSM | None  # None = unconstrained
    generator: torch.Generator
    tokens: list[int]
    done: bool = False


def _left_pad(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        if prompt:
            ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
    return ids, mask  # [R, L], [R, L]


def _forward(model: Any, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, cache: Any) -> tuple:
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=pos,
        past_key_values=cache,
        use_cache=cache is not None,
        logits_to_keep=1,  # only the last position: [R, L, V] logits would cost GBs at prefill
    )
    return out.logits[:, -1, :].float(), out.past_key_values  # [R, V]


def _next_token(row: RowState, logits: RowLogits, seen: torch.Tensor, params: SamplingParams) -> int:
    """Constrain, penalise, filter and sample one row. seen [V] bool.

    Works on the allowed candidates only: every later stage gives -inf tokens zero
    probability anyway, so the result is the same as on the full row, and much cheaper.
    """
    if row.fsm is None:
        candidates = None
        cand_logits, cand_seen = logits.full(), seen
    else:
        candidates = row.fsm.allowed_ids(logits)  # [n]
        if candidates.numel() == 1:  # forced token: nothing to sample
            return int(candidates[0])
        cand_logits, cand_seen = logits[candidates], seen[candidates]
    cand_logits = apply_repetition_penalty(cand_logits, cand_seen, params.repetition_penalty)
    cand_logits, kept = filter_top_k_top_p(cand_logits, params.top_k, params.top_p)
    index = sample_token(cand_logits, params.temperature, row.generator)
    if kept is not None:
        index = int(kept[index])
    return index if candidates is None else int(candidates[index])


def generate_rows(
    model: Any,
    vocab: PlannerVocab,
    cond_prompts: Sequence[Sequence[int]],
    uncond_prompts: Sequence[Sequence[int]] | None,
    rows: Sequence[RowState],
    params: SamplingParams,
    max_new_tokens: int,
    ctx: JobContext,
    expected_tokens: int,
    progress_offset: int = 0,
    progress_total: int | None = None,
    cache_mode: CacheMode = "dynamic",
    stage: str = "lm",
) -> None:
    """Generate into `rows[i].tokens` until every row has emitted EOS/pad or hit the budget.

    Args:
        cond_prompts: B prompt token-id lists (one per row).
        uncond_prompts: B unconditional prompts for CFG, or None (no CFG).
        expected_tokens: tokens this call is expected to produce (for progress only).
        progress_offset, progress_total: where this call sits in a longer job's progress.

    Raises:
        Cancelled: `ctx` was cancelled; checked before every token, so at most the token in
            flight finishes.
    """
    device = next(model.parameters()).device
    n_rows = len(rows)
    use_cfg = params.uses_cfg and uncond_prompts is not None
    prompts = list(cond_prompts) + (list(uncond_prompts) if use_cfg else [])
    ids, mask = _left_pad(prompts, vocab.pad_id)
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # [R, L]
    total = progress_total if progress_total is not None else expected_tokens

    # Tokens already seen by each conditional row (prompt included), for the repetition penalty.
    seen = torch.zeros((n_rows, vocab.size), dtype=torch.bool, device=device)
    if params.repetition_penalty != 1.0:
        for r, prompt in enumerate(cond_prompts):
            seen[r, torch.tensor(list(prompt), dtype=torch.long, device=device)] = True

    cache: Any = None
    if cache_mode == "dynamic":
        from transformers import DynamicCache

        cache = DynamicCache(config=model.config)
    elif cache_mode == "static":
        from transformers import StaticCache

        cache = StaticCache(config=model.config, max_cache_len=ids.shape[1] + max_new_tokens + 1)

    ctx.check_cancelled()
    with torch.inference_mode(), intra_op_threads(decode_threads(model)):
        logits, cache = _forward(model, ids, mask, positions, cache)
        for step in range(max_new_tokens):
            ctx.check_cancelled()
            next_tokens = []
            for r, row in enumerate(rows):
                if row.done:
                    next_tokens.append(vocab.pad_id)
                    continue
                row_logits = RowLogits(logits[r], logits[n_rows + r] if use_cfg else None, params.cfg_scale)
                token = _next_token(row, row_logits, seen[r], params)
                if row.fsm is not None:
                    row.fsm.feed(token)
                row.tokens.append(token)
                seen[r, token] = True
                if token in (vocab.eos_id, vocab.pad_id):
                    row.done = True
                next_tokens.append(token)
            ctx.progress(stage, min(progress_offset + step + 1, max(total, 1)), total)
            if all(row.done for row in rows) or step + 1 == max_new_tokens:
                break
            ctx.check_cancelled()  # a cancel during progress reporting skips the next forward
            step_ids = torch.tensor(next_tokens * (2 if use_cfg else 1), dtype=torch.long, device=device)
            step_ids = step_ids.view(-1, 1)  # [R, 1]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # [R, L+t]
            next_pos = positions[:, -1:] + 1  # [R, 1]
            if cache_mode == "none":
                ids = torch.cat([ids, step_ids], dim=1)
                positions = torch.cat([positions, next_pos], dim=1)
                logits, _ = _forward(model, ids, mask, positions, None)
            else:
                positions = torch.cat([positions, next_pos], dim=1)
                logits, cache = _forward(model, step_ids, mask, next_pos, cache)
