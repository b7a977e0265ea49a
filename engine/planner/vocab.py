"""What constrained decoding needs to know about one tokenizer, computed once and cached.

Building this for the real 217k-token vocabulary takes about a second (one batch decode), so
it is cached per tokenizer object; masks are cached per device. Upstream builds the same
tables in its logits processor's constructor (ace-step/ACE-Step-1.5:
acestep/constrained_logits_processor.py).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from engine.errors import CheckpointError
from engine.planner.constants import (
    AUDIO_CODE_TOKEN,
    CODEBOOK_SIZE,
    END_OF_TEXT,
    IM_END,
    IM_START,
    THINK_CLOSE,
    THINK_OPEN,
)
from engine.planner.tries import TokenTrie


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of `text` without BOS/EOS or other template additions."""
    return list(tokenizer.encode(text, add_special_tokens=False))


def _single_token(tokenizer: Any, text: str) -> int:
    ids = encode(tokenizer, text)
    if len(ids) != 1:
        raise CheckpointError(
            f"the planner tokenizer has no single token for {text!r} (got {len(ids)} tokens); "
            "it is not an ACE-Step 5Hz LM tokenizer"
        )
    return ids[0]


def _decode_each(tokenizer: Any, n_tok: int) -> list[str]:
    """Decoded text of every single token; the Rust batch decoder when there is one (~20x faster)."""
    singles = [[i] for i in range(n_tok)]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.decode_batch(singles, skip_special_tokens=False)
    return tokenizer.batch_decode(singles, skip_special_tokens=False)


class PlannerVocab:
    """Token ids, decoded token texts and allowed-token masks for one tokenizer.

    Args:
        tokenizer: a Hugging Face tokenizer of an ACE-Step 5Hz LM.
        logits_size: width of the model's logits (may exceed len(tokenizer): padded vocab).

    Raises:
        CheckpointError: a chat/reasoning special token or any of the 64000 audio-code tokens
            is missing.
    """

    def __init__(self, tokenizer: Any, logits_size: int) -> None:
        self.tokenizer = tokenizer
        self.size = int(logits_size)
        self.im_start_id = _single_token(tokenizer, IM_START)
        self.eos_id = _single_token(tokenizer, IM_END)
        self.pad_id = _single_token(tokenizer, END_OF_TEXT)
        self.think_open_id = _single_token(tokenizer, THINK_OPEN)
        self.think_close_id = _single_token(tokenizer, THINK_CLOSE)
        self.newline_id = _single_token(tokenizer, "\n")

        vocab = tokenizer.get_vocab()
        code_ids = [vocab.get(AUDIO_CODE_TOKEN.format(n)) for n in range(CODEBOOK_SIZE)]
        missing = sum(1 for i in code_ids if i is None)
        if missing:
            raise CheckpointError(
                f"the planner tokenizer lacks {missing} of the {CODEBOOK_SIZE} audio-code tokens "
                f"({AUDIO_CODE_TOKEN.format(0)}..{AUDIO_CODE_TOKEN.format(CODEBOOK_SIZE - 1)}); "
                "it is not an ACE-Step 5Hz LM tokenizer"
            )
        if max(code_ids) >= self.size:
            raise CheckpointError(
                "audio-code token ids exceed the LM's output size (tokenizer/model mismatch)"
            )
        self.code_ids = torch.tensor(code_ids, dtype=torch.long)  # [64000], id of code N
        self._code_of_id = {tid: n for n, tid in enumerate(code_ids)}

        n_tok = len(tokenizer)
        # Decoded text of every token (added/special tokens decode to their literal text).
        self.texts: list[str] = _decode_each(tokenizer, n_tok)
        special = {self.im_start_id, self.eos_id, self.pad_id, self.think_open_id, self.think_close_id}
        special.update(getattr(tokenizer, "all_special_ids", []) or [])
        specials = torch.zeros(self.size, dtype=torch.bool)
        specials[sorted(i for i in special if i < self.size)] = True
        is_code = torch.zeros(self.size, dtype=torch.bool)
        is_code[self.code_ids] = True
        in_tokenizer = torch.zeros(self.size, dtype=torch.bool)
        in_tokenizer[:n_tok] = True
        # codes >= 64000 also exist as tokens; they are never allowed anywhere.
        extra_code = torch.zeros(self.size, dtype=torch.bool)
        for token, tid in vocab.items():
            if token.startswith("<|audio_code_") and tid < self.size:
                extra_code[tid] = True
        any_code = extra_code | is_code

        pad = [False] * (self.size - n_tok)  # logits rows past the tokenizer: never allowed
        has_newline = torch.tensor([("\n" in t or "\r" in t) for t in self.texts] + pad)
        has_backtick = torch.tensor([("`" in t) for t in self.texts] + pad)
        has_content = torch.tensor([bool(t.strip()) and "\ufffd" not in t for t in self.texts] + pad)
        starts_indent = torch.tensor([t[:1] in (" ", "\t") for t in self.texts] + pad)

        plain = in_tokenizer & ~specials & ~any_code  # ordinary text tokens
        self.masks_cpu: dict[str, torch.Tensor] = {
            # caption/genres text on one line: no newline, no backtick, no codes/specials
            "line_text": plain & ~has_newline & ~has_backtick,
            "line_content": plain & ~has_newline & ~has_backtick & has_content,
            "line_indent": plain & ~has_newline & ~has_backtick & starts_indent,
            # caption text (upstream CAPTION_VALUE): any plain token but backticks, INCLUDING
            # tokens that contain a newline (`.\n`, `,\n` are single Qwen tokens): such a
            # token ends or wraps the caption line, as the model was trained to write it.
            "caption_text": plain & ~has_backtick,
            "caption_content": plain & ~has_backtick & has_content,
            "codes": is_code.clone(),
            # lyrics / free text after </think>: anything but codes and reasoning/chat markers
            "free_text": plain.clone(),
        }
        self.masks_cpu["free_text"][self.eos_id] = True
        self.has_newline = has_newline  # [size] bool: the token's text contains a line break
        self.masks_cpu["line_text+newline"] = self.masks_cpu["line_text"].clone()
        self.masks_cpu["line_text+newline"][self.newline_id] = True
        self.masks_cpu["codes+eos"] = self.masks_cpu["codes"].clone()
        self.masks_cpu["codes+eos"][self.eos_id] = True
        self._device_ids: dict[tuple[str, str], torch.Tensor] = {}
        self._device_masks: dict[tuple[str, str], torch.Tensor] = {}
        self._tries: dict[tuple, TokenTrie] = {}
        self._fixed: dict[str, tuple[int, ...]] = {}
        self._lock = threading.Lock()

    # ---- token helpers ---------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return encode(self.tokenizer, text)

    def fixed_string_ids(self, text: str) -> list[int]:
        """The tokens upstream forces for a fixed string (tags, `bpm:`, ...): at each position the
        LONGEST prefix of the rest that is one token (upstream_lm_tools.md §3.3). This can differ
        from `encode(text)`: Qwen encodes `bpm:` as `b`+`pm`+`:`, upstream forces `bp`+`m`+`:`,
        which is what the model was trained to continue. Cached per string."""
        with self._lock:
            cached = self._fixed.get(text)
        if cached is not None:
            return list(cached)
        ids: list[int] = []
        pos = 0
        while pos < len(text):
            rest = text[pos:]
            for end in range(len(rest), 0, -1):
                piece = self.encode(rest[:end])
                if len(piece) == 1:
                    ids.append(piece[0])
                    pos += end
                    break
            else:  # no single-token prefix at all (not seen with byte-level BPE): plain encoding
                ids.extend(self.encode(rest))
                break
        with self._lock:
            self._fixed[text] = tuple(ids)
        return ids

    def value_ids(self, field: str, value: str) -> list[int]:
        """Tokens of ` {value}` as they follow `{field}:` (the space merges into the value)."""
        prefix = self.encode(f"{field}:")
        full = self.encode(f"{field}: {value}")
        if full[: len(prefix)] == prefix:
            return full[len(prefix) :]
        return self.encode(f" {value}")

    def code_index(self, token_id: int) -> int | None:
        """The code N of `<|audio_code_N|>` (0..63999), or None for any other token."""
        return self._code_of_id.get(int(token_id))

    def mask(self, name: str, device: torch.device) -> torch.Tensor:
        key = (name, str(device))
        cached = self._device_masks.get(key)
        if cached is None:
            cached = self.masks_cpu[name].to(device)
            self._device_masks[key] = cached
        return cached

    def mask_ids(self, name: str, device: torch.device) -> torch.Tensor:
        """[n] long ids where mask `name` is True (the candidates the sampler looks at)."""
        key = (name, str(device))
        cached = self._device_ids.get(key)
        if cached is None:
            cached = self.masks_cpu[name].nonzero().squeeze(1).to(device)
            self._device_ids[key] = cached
        return cached

    def value_trie(self, field: str, values: Sequence[str]) -> TokenTrie:
        """Prefix tree over the token ids of every allowed value + newline (cached)."""
        key = (field, tuple(values))
        with self._lock:
            trie = self._tries.get(key)
            if trie is None:
                trie = TokenTrie()
                for value in values:
                    trie.add([*self.value_ids(field, value), self.newline_id])
                self._tries[key] = trie
        return trie


_CACHE: weakref.WeakKeyDictionary[Any, dict[int, PlannerVocab]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def planner_vocab(tokenizer: Any, logits_size: int | None = None) -> PlannerVocab:
    """The cached PlannerVocab of `tokenizer` (built on first use)."""
    size = int(logits_size or len(tokenizer))
    with _CACHE_LOCK:
        per_tok = _CACHE.setdefault(tokenizer, {})
        vocab = per_tok.get(size)
        if vocab is None:
            vocab = PlannerVocab(tokenizer, size)
            per_tok[size] = vocab
    return vocab
