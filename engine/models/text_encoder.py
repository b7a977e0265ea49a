"""Qwen3-Embedding text encoder: caption states and lyric token embeddings for the condition encoder.

Facts (upstream_dit.md §1.4, §3.1):
- The caption prompt (SFT_GEN_PROMPT, built by engine.tasks.prompts) goes through the FULL
  Qwen3 model; the states are `last_hidden_state` after the final norm. Tokenized with
  padding="longest", truncation, max_length=256. The model is called WITHOUT an attention mask
  (it is causal, so right padding does not change valid positions).
- The lyric prompt (LYRIC_GEN_PROMPT) is only looked up in the INPUT embedding table
  (`embed_tokens(ids)`, no transformer), max_length=2048.
- Right padding with the pad id (151643 = <|endoftext|> in the real tokenizer), mask 0.
- The shipped tokenizer.json appends <|endoftext|> to every sequence; we use it as shipped.
- Upstream runs it in bf16 on CUDA and fp32 on CPU/MPS (engine.runtime.device.default_dtypes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import CheckpointError

CAPTION_MAX_TOKENS = 256
LYRIC_MAX_TOKENS = 2048


@dataclass(frozen=True)
class EncodedText:
    hidden_states: torch.Tensor  # [B, L, D] caption states or lyric embeddings
    attention_mask: torch.Tensor  # [B, L] int64, 1 = valid


class TextEncoder:
    """A loaded Qwen3-Embedding model and its tokenizer.

    Args:
        model: a transformers Qwen3Model (no LM head).
        tokenizer: its tokenizer (right padding).
    """

    def __init__(self, model, tokenizer):
        self.model = model.eval().requires_grad_(False)  # inference weights frozen (issue 17)
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "right"

    @classmethod
    def load(
        cls,
        folder: Path,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        tokenizer_folder: Path | None = None,
    ) -> TextEncoder:
        """Load `Qwen3-Embedding-0.6B/` (config.json + model.safetensors + tokenizer.json) offline.

        Args:
            tokenizer_folder: where tokenizer.json lives if not in `folder` (diffusers pipelines keep
                it in a sibling `tokenizer/` subfolder).

        Raises:
            CheckpointError: naming the folder/file when something is missing or unreadable.
        """
        from transformers import AutoModel, AutoTokenizer

        from engine.models.config_guard import guard_transformers_folder

        folder = Path(folder)
        tok_folder = Path(tokenizer_folder) if tokenizer_folder else folder
        for path in (folder / "config.json", tok_folder / "tokenizer.json"):
            if not path.is_file():
                raise CheckpointError(f"missing file: {path}")
        # Sizes, auto_map, shard names and safetensors headers, before transformers reads anything.
        guard_transformers_folder(folder, tok_folder)
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                str(tok_folder), local_files_only=True, trust_remote_code=False
            )
            model = AutoModel.from_pretrained(
                str(folder),
                local_files_only=True,
                dtype=dtype,
                attn_implementation="sdpa",
                trust_remote_code=False,
                use_safetensors=True,
            )
        except Exception as exc:  # noqa: BLE001 - transformers raises many types
            raise CheckpointError(f"{folder}: text encoder could not be loaded ({exc})") from exc
        if tokenizer.pad_token_id is None:
            raise CheckpointError(f"{folder / 'tokenizer_config.json'}: no pad token defined")
        return cls(model.to(device), tokenizer)

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    def tokenize(self, prompts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ids and mask [B, L] (each prompt tokenized separately, padded to the longest)."""
        batch = self.tokenizer(
            list(prompts), padding="longest", truncation=True, max_length=max_length, return_tensors="pt"
        )
        return batch["input_ids"].to(self.device), batch["attention_mask"].long().to(self.device)

    @torch.no_grad()
    def encode_captions(self, prompts: list[str]) -> EncodedText:
        """Full-model states of formatted caption prompts: [B, Lt, D] + mask."""
        ids, mask = self.tokenize(prompts, CAPTION_MAX_TOKENS)
        # No attention mask, as upstream: causal attention keeps valid positions exact under right padding.
        states = self.model(input_ids=ids).last_hidden_state  # [B, Lt, D]
        return EncodedText(states, mask)

    @torch.no_grad()
    def embed_lyrics(self, prompts: list[str]) -> EncodedText:
        """Input-embedding lookup of formatted lyric prompts: [B, Ll, D] + mask (no transformer)."""
        ids, mask = self.tokenize(prompts, LYRIC_MAX_TOKENS)
        return EncodedText(self.model.get_input_embeddings()(ids), mask)  # [B, Ll, D]
