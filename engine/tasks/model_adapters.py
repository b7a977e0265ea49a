"""Text encoder and VAE access for the pipeline.

A minimal adapter (until the model-core text-encoder/VAE wrappers land; then these two
loaders should delegate to them) that reads the upstream folders (transformers Qwen3 `Qwen3-Embedding-0.6B/` + `tokenizer.json`, diffusers
`AutoencoderOobleck` in `vae/`), offline, safetensors only, no remote code. The minimal VAE
adapter decodes in one piece (no tiling): fine for tests and short clips, memory-hungry for
minutes of audio at real size.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.errors import CheckpointError

CAPTION_MAX_TOKENS = 256  # upstream: padding="longest", truncation, max_length=256
LYRIC_MAX_TOKENS = 2048


class Qwen3PromptEncoder:
    """Caption prompts through the full Qwen3-Embedding model; lyrics through its embedding table.

    Each prompt is tokenized on its own and right-padded with the pad id (mask 0); the model is
    called WITHOUT an attention mask (it is causal, so right padding cannot change valid rows),
    exactly as upstream (upstream_dit.md §3.1).
    """

    def __init__(self, model, tokenizer, pad_id: int, device: torch.device, dtype: torch.dtype):
        self.model = model
        self.tokenizer = tokenizer
        self.pad_id = pad_id
        self.device = device
        self.dtype = dtype

    def _tokenize(self, prompts: list[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self.tokenizer.encode(p).ids[:max_len] for p in prompts]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return ids.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def encode_captions(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self._tokenize(prompts, CAPTION_MAX_TOKENS)
        states = self.model(input_ids=ids).last_hidden_state  # [B, L, D]
        return states, mask

    @torch.no_grad()
    def embed_lyrics(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self._tokenize(prompts, LYRIC_MAX_TOKENS)
        return self.model.get_input_embeddings()(ids), mask  # [B, L, D]


class OobleckCodec:
    """diffusers AutoencoderOobleck with time-major latents ([B, T, 64])."""

    def __init__(self, vae, device: torch.device, dtype: torch.dtype):
        self.vae = vae
        self.device = device
        self.dtype = dtype

    @torch.no_grad()
    def encode_stats(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dist = self.vae.encode(wav.to(self.device, self.dtype)).latent_dist
        return dist.mean.transpose(1, 2).float(), dist.std.transpose(1, 2).float()  # [B, T, 64]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents.to(self.device, self.dtype).transpose(1, 2)  # [B, 64, T]
        return self.vae.decode(z).sample.float()  # [B, 2, T·1920]


def load_prompt_encoder(folder: Path, device: str, dtype: torch.dtype):
    from tokenizers import Tokenizer
    from transformers import AutoModel

    tokenizer_file = folder / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise CheckpointError(f"{tokenizer_file} is missing")
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    pad_id = tokenizer.token_to_id("<|endoftext|>")
    if pad_id is None:
        raise CheckpointError(f"{tokenizer_file} has no <|endoftext|> token")
    try:
        model = AutoModel.from_pretrained(folder, local_files_only=True, dtype=dtype, use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot load the text encoder from {folder}: {exc}") from exc
    model.to(device).eval()
    return Qwen3PromptEncoder(model, tokenizer, pad_id, torch.device(device), dtype)


def load_vae(folder: Path, device: str, dtype: torch.dtype):
    from diffusers import AutoencoderOobleck

    try:
        vae = AutoencoderOobleck.from_pretrained(folder, local_files_only=True, torch_dtype=dtype,
                                                 use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot load the VAE from {folder}: {exc}") from exc
    vae.to(device).eval()
    return OobleckCodec(vae, torch.device(device), dtype)
