"""Tiny Qwen-style tokenizers, trained offline from the built-in corpus with `tokenizers`.

The layout mirrors the real ones (shared/reference/upstream_dit.md §1.1,
upstream_lm_tools.md §1.2) with a smaller base vocabulary:

    ids 0 .. B-1        byte-level BPE (B = base size; Qwen's B is 151643)
    B + 0 .. B + 25     the 26 Qwen special tokens in Qwen's order: <|endoftext|> (B, the pad),
                        <|im_start|> (B+1), <|im_end|> (B+2, the LM's EOS), ..., <think> (B+24),
                        </think> (B+25)
    B + 26 + N          <|audio_code_N|>, N = 0 .. 65534 (planner LM only; only N < 64000 are
                        valid codes, the rest exist in the real vocabulary too and must be masked)

The text-encoder tokenizer (Qwen3-Embedding-0.6B) has a post-processor that appends
<|endoftext|> to every encoded sequence, as the official tokenizer.json does.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from engine.models.tiny.chat_template import CHAT_TEMPLATE
from engine.models.tiny.corpus import training_corpus

# Target size of the byte-level BPE before special tokens (256 byte symbols + merges).
BASE_VOCAB_SIZE = 1024

# Qwen's added tokens in id order (ids 151643..151668 upstream); True = special (hidden by
# `skip_special_tokens`). The think and tool tags are not special in Qwen3, so decoding keeps them.
QWEN_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", True),
    ("<|fim_middle|>", True),
    ("<|fim_suffix|>", True),
    ("<|fim_pad|>", True),
    ("<|repo_name|>", True),
    ("<|file_sep|>", True),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)

# Audio-code tokens in the real LM vocabulary: N = 0..65534; the FSQ codebook uses 0..63999.
AUDIO_CODE_TOKENS_IN_VOCAB = 65535
AUDIO_CODEBOOK_SIZE = 64000

PAD_TOKEN = "<|endoftext|>"
EOS_TOKEN = "<|im_end|>"


def _base_bpe() -> Tokenizer:
    """Byte-level BPE trained on the built-in corpus (deterministic for a fixed corpus)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BASE_VOCAB_SIZE,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tokenizer.train_from_iterator(training_corpus(), trainer)
    return tokenizer


def _add_qwen_tokens(tokenizer: Tokenizer) -> None:
    for content, special in QWEN_ADDED_TOKENS:
        token = AddedToken(content, special=special, normalized=False)
        if special:
            tokenizer.add_special_tokens([token])
        else:
            tokenizer.add_tokens([token])


def build_text_encoder_tokenizer() -> Tokenizer:
    """Tokenizer of the tiny Qwen3-Embedding: appends <|endoftext|> to every sequence."""
    tokenizer = _base_bpe()
    _add_qwen_tokens(tokenizer)
    append_eos_to_every_sequence(tokenizer)
    return tokenizer


def append_eos_to_every_sequence(tokenizer: Tokenizer) -> None:
    """Qwen3-Embedding's post-processor: `<|endoftext|>` after every sequence (byte-level kept)."""
    eos_id = tokenizer.token_to_id(PAD_TOKEN)
    tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"$A:0 {PAD_TOKEN}:0",
                pair=f"$A:0 {PAD_TOKEN}:0 $B:1 {PAD_TOKEN}:1",
                special_tokens=[(PAD_TOKEN, eos_id)],
            ),
        ]
    )


def build_planner_tokenizer() -> Tokenizer:
    """Tokenizer of the tiny 5 Hz LM: Qwen tokens plus <|audio_code_N|> as added tokens."""
    tokenizer = _base_bpe()
    _add_qwen_tokens(tokenizer)
    tokenizer.add_tokens(
        [
            AddedToken(f"<|audio_code_{n}|>", special=False, normalized=False)
            for n in range(AUDIO_CODE_TOKENS_IN_VOCAB)
        ]
    )
    return tokenizer


def save_tokenizer_folder(tokenizer: Tokenizer, folder: Path, *, model_max_length: int) -> list[Path]:
    """Write tokenizer.json, tokenizer_config.json, special_tokens_map.json, chat_template.jinja.

    `AutoTokenizer.from_pretrained(folder)` then loads it offline (tokenizer class
    Qwen2Tokenizer, as the real folders name it).
    """
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer_json = folder / "tokenizer.json"
    # Compact JSON: 65k added tokens pretty-printed would take ~13 MB.
    tokenizer_json.write_text(tokenizer.to_str(pretty=False), encoding="utf-8")

    # The tokenizer's own special flags (Qwen3's real file marks fewer tokens special than ours).
    added = tokenizer.get_added_tokens_decoder()
    specials = [added[i].content for i in sorted(added) if added[i].special]
    config = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": EOS_TOKEN,
        "errors": "replace",
        "model_max_length": model_max_length,
        "pad_token": PAD_TOKEN,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    config_path = folder / "tokenizer_config.json"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    special_map = {"additional_special_tokens": specials, "eos_token": EOS_TOKEN, "pad_token": PAD_TOKEN}
    special_path = folder / "special_tokens_map.json"
    special_path.write_text(json.dumps(special_map, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    template_path = folder / "chat_template.jinja"
    template_path.write_text(CHAT_TEMPLATE, encoding="utf-8")
    return [tokenizer_json, config_path, special_path, template_path]
