"""Cross-attention K/V reuse across diffusion steps (engine/models/dit_cross_cache.py)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def dit(tiny_checkpoints):
    from engine.models.dit_loader import load_dit

    return load_dit(tiny_checkpoints / "acestep-v15-turbo")


def _inputs(dit, seed: int, batch: int = 2, frames: int = 24, cond_len: int = 10):
    g = torch.Generator().manual_seed(seed)
    width = dit.condition_encoder.null_condition_emb.shape[-1]
    c = dit.latent_channels
    return (torch.randn(batch, frames, c, generator=g), torch.randn(batch, frames, 2 * c, generator=g),
            torch.randn(batch, cond_len, width, generator=g))  # x [B,T,C], ctx [B,T,2C], states [B,L,He]


def test_reuse_is_bit_identical_to_the_stock_path_and_really_hits(dit):
    x, ctx, states = _inputs(dit, 0)
    times = (1.0, 0.7, 0.3)
    stock = [dit.denoise(x, t, t, ctx, states) for t in times]
    with dit.cross_attention_scope():
        cached = [dit.denoise(x, t, t, ctx, states) for t in times]
        layers = len(dit.transformer.layers)
        assert dit.cross_cache.hits == layers * (len(times) - 1)
    for a, b in zip(stock, cached, strict=True):
        assert torch.equal(a, b)


def test_a_new_condition_tensor_is_never_served_stale_values(dit):
    x, ctx, states = _inputs(dit, 1)
    other = torch.randn(states.shape, generator=torch.Generator().manual_seed(9))
    expected = dit.denoise(x, 0.5, 0.5, ctx, other)
    with dit.cross_attention_scope():
        dit.denoise(x, 0.5, 0.5, ctx, states)
        got = dit.denoise(x, 0.5, 0.5, ctx, other)  # same shape, other content (a cover switch)
    assert torch.equal(got, expected)


def test_scope_releases_everything_and_weights_are_frozen(dit):
    x, ctx, states = _inputs(dit, 2)
    with dit.cross_attention_scope():
        dit.denoise(x, 0.5, 0.5, ctx, states)
    processors = dit.cross_cache._processors
    assert processors and all(p._kv is None for p in processors)
    assert dit.transformer.condition_embedder._legato_memo is None
    assert not any(p.requires_grad for p in dit.parameters())
    # Outside a scope nothing is kept.
    dit.denoise(x, 0.5, 0.5, ctx, states)
    assert all(p._kv is None for p in processors)
