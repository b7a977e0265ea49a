"""The VAE's load-time speed-ups (engine/models/vae_speed.py) stay within float tolerance of
the stock diffusers AutoencoderOobleck, and really replace what they claim to."""

from __future__ import annotations

import pytest
import torch

from engine.models.tiny.dit_checkpoint import TINY_LATENT_CHANNELS as C
from engine.models.vae import AudioVAE


@pytest.fixture(scope="module")
def pair(tiny_checkpoints):
    from diffusers import AutoencoderOobleck

    from engine.models.checkpoint_files import load_diffusers_module

    folder = tiny_checkpoints / "vae"
    stock = AudioVAE(load_diffusers_module(AutoencoderOobleck, folder, torch.float32), fast=False)
    fast = AudioVAE.load(folder)
    return stock, fast


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def test_fast_decode_matches_the_stock_diffusers_decode(pair):
    stock, fast = pair
    latents = torch.randn(1, 40, C, generator=torch.Generator().manual_seed(3))  # [B, T, C]
    reference = stock.decode(latents)  # [1, 2, 40*1920]
    assert _relative(fast.decode(latents), reference) < 1e-5


def test_fast_encode_matches_the_stock_encode(pair):
    stock, fast = pair
    audio = 0.3 * torch.randn(1, 2, 48000, generator=torch.Generator().manual_seed(4))
    assert _relative(fast.encode(audio, sample=False), stock.encode(audio, sample=False)) < 1e-5


def test_fast_model_has_no_weight_norm_no_stock_snake_and_is_frozen(pair):
    from diffusers.models.autoencoders.autoencoder_oobleck import Snake1d

    from engine.models.vae_speed import FrozenSnake1d

    _, fast = pair
    names = [name for name, _ in fast.model.named_parameters()]
    assert not any(n.endswith(("weight_g", "weight_v")) for n in names)
    assert not any(type(m) is Snake1d for m in fast.model.modules())
    assert sum(isinstance(m, FrozenSnake1d) for m in fast.model.modules()) > 10
    assert not any(p.requires_grad for p in fast.model.parameters())
    # Snake keeps diffusers' parameter names (alpha/beta) so the keys stay the upstream ones.
    assert any(n.endswith("snake1.alpha") for n in names)


def test_frozen_snake_follows_a_dtype_move():
    from engine.models.vae_speed import FrozenSnake1d

    snake = FrozenSnake1d(torch.full((1, 3, 1), 0.2), torch.full((1, 3, 1), -0.1)).to(torch.float64)
    x = torch.randn(1, 3, 50, dtype=torch.float64)
    expected = x + (1 / (torch.exp(torch.tensor(-0.1, dtype=torch.float64)) + 1e-9)) * torch.sin(
        torch.exp(torch.tensor(0.2, dtype=torch.float64)) * x
    ) ** 2
    out = snake(x)
    assert out.dtype == torch.float64 and torch.allclose(out, expected, atol=1e-12)
