"""Seeded random LoRA adapters for a loaded decoder (tests only)."""

from __future__ import annotations

from pathlib import Path

import torch

PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")


def random_lora_state(transformer, rank: int = 4, seed: int = 0, std: float = 0.1) -> dict[str, torch.Tensor]:
    """Our-key LoRA tensors on every decoder attention projection: [r, in] and [out, r]."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for i in range(len(transformer.layers)):
        for attention in ("self_attn", "cross_attn"):
            for proj in PROJECTIONS:
                linear = transformer.get_submodule(f"layers.{i}.{attention}.{proj}")
                base = f"layers.{i}.{attention}.{proj}"
                state[f"{base}.lora_A.weight"] = torch.randn(rank, linear.in_features, generator=gen) * std
                state[f"{base}.lora_B.weight"] = torch.randn(linear.out_features, rank, generator=gen) * std
    return state


def write_random_adapter(folder: Path, transformer, rank: int = 4, alpha: float = 8.0, seed: int = 0) -> Path:
    from engine.lora.export import write_peft_adapter

    return write_peft_adapter(folder, random_lora_state(transformer, rank, seed), rank=rank, alpha=alpha)
