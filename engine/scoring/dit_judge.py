"""The DiT half of judging a take: one batch-2 decoder pass with cross-attention capture, the
lyric-alignment scores and the LRC timestamps (upstream_lm_tools.md §5.2, §5.3).

    inputs = decoder_inputs(pipeline, request, seed, latents)        # rebuilt from the recipe
    judged = judge_alignment(pipeline, inputs)
    judged.dit_alignment.score, judged.lm_alignment.score, judged.lrc  # "[00:01.20]first line\\n..."

The pass: row A is pure noise at t = 1 ("LM alignment", how well the conditions alone place the
words), row B is t·noise + (1 − t)·latent at t = 1/steps ("DiT alignment", the take's own
placement; upstream's Tutorial recommends it for picking takes). Noise from seed 42. Row B's
maps also make the LRC: upstream runs a separate pass with exactly row B's input, so one pass
serves both here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.scoring.attention_capture import CrossAttentionCapture
from engine.scoring.dtw import dtw_path
from engine.scoring.lrc import LyricLine, consensus_energy, format_lrc, sentences, token_times
from engine.scoring.lyric_alignment import (
    ALIGNMENT_HEADS,
    AlignmentScore,
    alignment_score,
    energy_of,
    tag_mask,
)

SCORING_NOISE_SEED = 42
LATENT_RATE_HZ = 25
END_OF_TEXT = "<|endoftext|>"  # id 151643 in Qwen3's tokenizer: the lyric slice stops there


@dataclass(frozen=True)
class DecoderInputs:
    """What the decoder needs to re-read one take (batch 1)."""

    latents: torch.Tensor  # [1, T, 64] the take's clean latents
    encoder_hidden_states: torch.Tensor  # [1, L, He] packed conditions (lyric rows first)
    context_latents: torch.Tensor  # [1, T, 128]
    lyric_ids: tuple[int, ...]  # the valid ids of the lyric prompt (header + lyrics + EOS)
    language: str
    duration_s: float
    steps: int


@dataclass(frozen=True)
class AlignmentJudgement:
    lm_alignment: AlignmentScore  # row A: pure noise at t = 1
    dit_alignment: AlignmentScore  # row B: the take's latent at t = 1/steps
    lines: tuple[LyricLine, ...]
    lrc: str
    heads: str  # "upstream" or why another head set was used


def alignment_heads(transformer) -> tuple[dict[int, tuple[int, ...]], str]:
    """Upstream's 7 heads when the decoder has them; a smaller decoder (the tiny test models)
    has no layer 6 / head 11, so there every head of every layer is read instead, and the
    judgement says so."""
    layers = transformer.layers
    n_heads = layers[0].cross_attn.heads
    if len(layers) > max(ALIGNMENT_HEADS) and n_heads > max(max(h) for h in ALIGNMENT_HEADS.values()):
        return dict(ALIGNMENT_HEADS), "upstream"
    return ({i: tuple(range(n_heads)) for i in range(len(layers))},
            f"all {len(layers)}x{n_heads} heads (the decoder is smaller than upstream's)")


def lyric_range(tokenizer, lyric_ids: tuple[int, ...], language: str) -> tuple[int, int]:
    """[start, end) of the lyrics inside the lyric prompt: after `# Languages\\n{lang}\\n\\n# Lyric\\n`,
    up to the first <|endoftext|>."""
    header = tokenizer.encode(f"# Languages\n{language}\n\n# Lyric\n", add_special_tokens=False)
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    ids = list(lyric_ids)
    end = ids.index(eos) if eos in ids else len(ids)
    return min(len(header), end), end


def token_texts(tokenizer, ids: list[int]) -> list[str]:
    """Each token's text by prefix decoding: a multi-byte character lands on the token that
    completes it (an unfinished one decodes to U+FFFD, which we hold back)."""
    out, previous = [], ""
    for i in range(len(ids)):
        current = tokenizer.decode(ids[: i + 1])
        if current.endswith("\ufffd"):
            out.append("")
            continue
        out.append(current[len(previous):])
        previous = current
    return out


def decoder_inputs(pipeline, request, seed: int, latents: np.ndarray | torch.Tensor, *,
                   steps: int | None = None) -> DecoderInputs:
    """Rebuild the decoder's conditions and context for one take from its single-item request.

    `request`: the DiT request that rendered the take (for a thinking take, the planned
    cover-from-codes request, engine.tasks.pipeline.planned_item_request); `latents` [T, 64]
    or [1, T, 64]. The conditions are encoded again (text encoder + condition encoder): the
    take keeps its recipe, not its tensors.
    """
    from engine.models.text_encoder import LYRIC_MAX_TOKENS
    from engine.tasks.audio_inputs import load_audio
    from engine.tasks.conditioning import plan_task
    from engine.tasks.diffusion import primary_condition

    source = None
    if request.source_audio is not None and not (isinstance(request.source_audio, str) and not request.source_audio):
        source = load_audio(request.source_audio, request.source_sample_rate, "source_audio")
    plan = plan_task(request, source)
    prompt = pipeline.encode_prompt(plan, 1)
    schedule = pipeline.schedule_for(request)
    inputs, schedule = pipeline.diffusion_inputs(plan, request, (seed,), prompt, schedule)
    condition = primary_condition(pipeline.dit, inputs)
    latents = torch.tensor(np.asarray(latents), dtype=torch.float32)  # a copy: takes are read-only
    if latents.ndim == 2:
        latents = latents[None]
    frames = condition.context_latents.shape[1]
    if latents.shape[1] != frames:  # an audio-derived latent may be a frame off: fit it
        from engine.tasks.diffusion import fit_frames

        latents = fit_frames(latents, frames, pipeline.dit.silence_frames(frames).float().cpu())
    ids, mask = pipeline.models.text.tokenize([plan.lyrics], LYRIC_MAX_TOKENS)
    valid = int(mask[0].sum())
    duration = float(request.duration) if request.duration else frames / LATENT_RATE_HZ
    return DecoderInputs(
        latents=latents,
        encoder_hidden_states=condition.encoder_hidden_states,
        context_latents=condition.context_latents,
        lyric_ids=tuple(int(i) for i in ids[0, :valid].tolist()),
        language=request.vocal_language or "unknown",
        duration_s=duration,
        steps=steps or max(1, len(schedule) - 1),
    )


def capture_maps(dit, inputs: DecoderInputs, heads: dict[int, tuple[int, ...]]) -> torch.Tensor:
    """The batch-2 pass -> cross-attention maps [2, heads, keys, frames] float32 (row A, row B)."""
    device, dtype = dit.device, dit.dtype
    gen = torch.Generator("cpu").manual_seed(SCORING_NOISE_SEED)
    noise = torch.randn(inputs.latents.shape, generator=gen, dtype=torch.float32)  # [1, T, 64]
    t_last = 1.0 / inputs.steps
    x = torch.cat([noise, t_last * noise + (1.0 - t_last) * inputs.latents])  # [2, T, 64]
    t = torch.tensor([1.0, t_last])
    states = inputs.encoder_hidden_states.expand(2, -1, -1)
    context = inputs.context_latents.expand(2, -1, -1)
    with torch.no_grad(), CrossAttentionCapture(dit.transformer, heads) as capture:
        capture.run(lambda: dit.denoise(x.to(device, dtype), t.to(device), t.to(device), context, states))
        return capture.stacked().float().cpu()


def judge_alignment(pipeline, inputs: DecoderInputs) -> AlignmentJudgement:
    """Both alignment scores and the LRC of one take."""
    dit = pipeline.dit
    tokenizer = pipeline.models.text.tokenizer
    heads, heads_note = alignment_heads(dit.transformer)
    maps = capture_maps(dit, inputs, heads)  # [2, h, keys, frames]
    start, end = lyric_range(tokenizer, inputs.lyric_ids, inputs.language)
    ids = list(inputs.lyric_ids[start:end])
    if not ids:
        empty = AlignmentScore(0.0, 0.0, 0.0, 0.0)
        return AlignmentJudgement(empty, empty, (), "", heads_note)
    lyric_maps = maps[:, :, start:end, :].numpy()  # [2, h, tokens, frames]
    texts = token_texts(tokenizer, ids)
    mask = tag_mask(texts)
    lm_score = alignment_score(energy_of(lyric_maps[0]), mask)
    dit_score = alignment_score(energy_of(lyric_maps[1]), mask)
    consensus = consensus_energy(lyric_maps[1])  # [tokens, frames]
    path = dtw_path(-consensus)
    times = token_times(path, len(ids), consensus.shape[1], inputs.duration_s)
    lines = tuple(sentences(texts, times))
    return AlignmentJudgement(lm_score, dit_score, lines, format_lrc(lines), heads_note)
