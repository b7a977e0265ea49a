"""Turning one row of logits into one token (upstream_lm_tools.md §4.2, PyTorch backend order).

Order: (CFG is combined by the caller) -> constraint mask (caller) -> repetition penalty ->
top-k -> top-p -> temperature -> sample with the row's own torch.Generator. A generator per
request makes LM sampling reproducible from the seed (upstream's is not, §4.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.errors import ValidationError


@dataclass(frozen=True)
class SamplingParams:
    """LM sampling settings. Defaults are upstream's Python-API defaults (§4.1).

    top_k 0/None and top_p None/>=1 disable those filters; temperature 0 means arg-max;
    cfg_scale 1 disables LM classifier-free guidance.
    """

    temperature: float = 0.85
    top_k: int | None = None
    top_p: float | None = 0.9
    repetition_penalty: float = 1.0
    cfg_scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise ValidationError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 0:
            raise ValidationError(f"top_k must be >= 0, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p:
            raise ValidationError(f"top_p must be > 0, got {self.top_p}")
        if not self.repetition_penalty > 0:
            raise ValidationError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if not self.cfg_scale > 0:
            raise ValidationError(f"cfg_scale must be > 0, got {self.cfg_scale}")

    @property
    def uses_cfg(self) -> bool:
        """CFG only for scale > 1, as upstream (a scale <= 1 samples from the conditional row)."""
        return self.cfg_scale > 1.0


def combine_cfg(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """uncond + scale x (cond - uncond), in fp32. [B, V] -> [B, V]."""
    cond, uncond = cond.float(), uncond.float()
    return uncond + scale * (cond - uncond)


class RowLogits:
    """One row's CFG-combined logits, computed only where they are read.

    With a 200k vocabulary and a batch of rows, combining whole rows costs more than the
    tiny-model forward; the state machine and the sampler only read the allowed candidates.
    Supports what they use: `row[ids]` and `.device`.
    """

    def __init__(self, cond: torch.Tensor, uncond: torch.Tensor | None, scale: float) -> None:
        self.cond, self.uncond, self.scale = cond, uncond, scale  # [V] each
        self.device = cond.device

    def __getitem__(self, ids: torch.Tensor) -> torch.Tensor:
        cond = self.cond[ids].float()
        if self.uncond is None:
            return cond
        uncond = self.uncond[ids].float()
        return uncond + self.scale * (cond - uncond)

    def full(self) -> torch.Tensor:
        if self.uncond is None:
            return self.cond.float()
        return combine_cfg(self.cond, self.uncond, self.scale)


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """Hugging Face semantics: seen tokens' positive logits divided, negative ones multiplied.

    logits [V] fp32, seen [V] bool (tokens already in the conditional sequence, prompt included).
    """
    if penalty == 1.0:
        return logits
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def filter_top_k_top_p(
    logits: torch.Tensor, top_k: int | None, top_p: float | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Keep the k largest logits, then the smallest head whose probability reaches top_p.

    Returns (kept logits [n], their indices into `logits` [n]) or (logits, None) when nothing
    was filtered. Working on the k survivors only keeps a 64000-code row cheap to sample.
    """
    index = None
    if top_k and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[-1]
        index = (logits >= kth).nonzero().squeeze(1)  # ties at the k-th value are kept
        logits = logits[index]
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits.float(), dim=-1)
        cumulative = probs.cumsum(dim=-1)
        remove = cumulative > top_p
        remove[1:] = remove[:-1].clone()  # keep the token that crosses top_p; always keep the first
        remove[0] = False
        unsorted = torch.empty_like(remove)
        unsorted[order] = remove  # back to vocabulary order
        logits = logits.masked_fill(unsorted, float("-inf"))
    return logits, index


def sample_token(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> int:
    """Sample an index from logits [N] (fp32, -inf = forbidden).

    Inverse-CDF sampling with one uniform draw from `generator`: the same distribution as
    torch.multinomial, several times faster on a 200k-wide row, and reproducible.
    """
    if temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    cdf = probs.cumsum(dim=-1)
    u = torch.rand(1, generator=generator, device=logits.device) * cdf[-1]
    # right=True: the first index whose cdf exceeds u, so zero-probability tokens are never hit.
    return int(torch.searchsorted(cdf, u, right=True).clamp(max=logits.shape[-1] - 1))
