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


def _fp64_deviation(tiny_checkpoints, latents):
    """(stock fp32 decode, stock fp64 decode): the float noise floor of the stock model itself."""
    from diffusers import AutoencoderOobleck

    from engine.models.checkpoint_files import load_diffusers_module

    model = load_diffusers_module(AutoencoderOobleck, tiny_checkpoints / "vae", torch.float32)
    stock = AudioVAE(model, fast=False)
    fp32 = stock.decode(latents)
    with torch.no_grad():
        fp64 = model.double().decode(latents.transpose(1, 2).double()).sample
    return fp32, fp64


def test_fast_decode_is_within_20x_the_stock_float_deviation(tiny_checkpoints, pair):
    """The conformance kit's rule (MANIFEST: 20x the fp32-vs-fp64 deviation, floor 1e-5): our
    channels-last, fused-Snake decode, tiled with the CPU default tiles, against stock diffusers."""
    from engine.models.vae import HOP, default_decode_tiling

    _, fast = pair
    latents = torch.randn(1, 80, C, generator=torch.Generator().manual_seed(8))  # [B, T, C]
    fp32, fp64 = _fp64_deviation(tiny_checkpoints, latents)
    fp64 = fp64 / fp64.abs().amax().clamp_min(1.0)  # the same anti-clip the wrapper applies
    deviation = float((fp32.double() - fp64).abs().max())
    tiling = default_decode_tiling(torch.device("cpu"))
    small = type(tiling)(48, tiling.overlap)  # real tiles (5) on 80 frames, the CPU overlap (16)
    assert small.normalised().overlap == tiling.overlap == 16
    for ours in (fast.decode(latents), fast.decode(latents, small)):
        assert ours.shape == (1, 2, 80 * HOP)
        assert float((ours - fp32).abs().max()) <= max(20 * deviation, 1e-5)


def test_cpu_decode_overlap_covers_the_decoders_receptive_field(pair):
    """The CPU default overlap (16 frames, not upstream's 64) is only exact because the decoder
    sees < 9 frames each side. Measured here: bump one latent frame, see which samples change."""
    from engine.models.vae import HOP, default_decode_tiling

    _, fast = pair
    z = torch.randn(1, C, 48, generator=torch.Generator().manual_seed(5))  # [B, C, T]
    bumped = z.clone()
    bumped[:, :, 24] += 1.0
    with torch.no_grad():
        diff = (fast.model.decode(z).sample - fast.model.decode(bumped).sample).abs().amax(dim=(0, 1))
    changed = torch.nonzero(diff).flatten()
    reach = max(24 - changed.min().item() / HOP, (changed.max().item() + 1) / HOP - 25)
    assert 4 < reach < 12  # ~8.3 frames: a real reach, measured, not a vacuous pass
    assert default_decode_tiling(torch.device("cpu")).overlap >= reach + 1
    assert default_decode_tiling(torch.device("cuda")).overlap == 64  # GPUs keep upstream's tiles


@pytest.mark.parametrize("transposed", [False, True])
def test_channels_last_conv_matches_the_torch_conv_in_both_layouts(transposed):
    from engine.models.vae_layout import ChannelsLastConv1d

    torch.manual_seed(0)
    conv = (torch.nn.ConvTranspose1d(6, 5, kernel_size=8, stride=4, padding=2) if transposed
            else torch.nn.Conv1d(6, 5, kernel_size=7, dilation=3, padding=9)).requires_grad_(False)
    ours = ChannelsLastConv1d(conv)
    x = torch.randn(2, 6, 50)  # [B, C, T]
    expected = conv(x)
    image = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)  # [B, C, 1, T]
    out4 = ours(image)
    assert out4.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out4.squeeze(2), expected, atol=1e-5)
    assert torch.allclose(ours(x), expected, atol=1e-5)
    assert ours.weight.shape == conv.weight.shape and torch.equal(ours.weight, conv.weight)
    # one storage: the 3-D parameter is a view of the channels-last 4-D weight, not a second copy
    assert ours.weight.unsqueeze(2).is_contiguous(memory_format=torch.channels_last)


def test_channels_last_model_keeps_diffusers_state_dict_keys(tiny_checkpoints, pair):
    from diffusers import AutoencoderOobleck

    from engine.models.checkpoint_files import load_diffusers_module
    from engine.models.vae_layout import ChannelsLastConv1d
    from engine.models.vae_speed import fold_weight_norm

    _, fast = pair
    plain = load_diffusers_module(AutoencoderOobleck, tiny_checkpoints / "vae", torch.float32)
    fold_weight_norm(plain)
    assert {k: v.shape for k, v in fast.model.state_dict().items()} == \
        {k: v.shape for k, v in plain.state_dict().items()}
    convs = [m for m in fast.model.modules() if isinstance(m, ChannelsLastConv1d)]
    assert len(convs) > 20 and not any(type(m) is torch.nn.Conv1d for m in fast.model.modules())


def test_large_snakes_take_the_fused_kernel_and_fall_back_when_it_is_missing(monkeypatch):
    import engine.models.snake_kernel as kernel
    import engine.models.vae_speed as speed

    snake = speed.FrozenSnake1d(torch.full((1, 4, 1), 0.3), torch.full((1, 4, 1), -0.2), fused=True)
    x = torch.randn(1, 4, 1, 40).contiguous(memory_format=torch.channels_last)
    eager = speed.FrozenSnake1d(torch.full((1, 4, 1), 0.3), torch.full((1, 4, 1), -0.2))(x)
    calls = []
    monkeypatch.setattr(speed, "FUSED_MIN_ELEMENTS", 0)
    monkeypatch.setattr(kernel, "fused_snake", lambda *a: calls.append(a) or kernel.snake_math(*a))
    assert torch.allclose(snake(x), eager, atol=1e-6) and len(calls) == 1
    monkeypatch.setattr(kernel, "fused_snake", lambda *a: None)  # no compiler: the eager form
    assert torch.allclose(snake(x), eager, atol=1e-6)


def test_a_failing_compile_leaves_the_eager_snake(monkeypatch, caplog):
    import engine.models.snake_kernel as kernel

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(kernel, "_compiled", None)
    monkeypatch.setattr(kernel, "_broken", False)
    monkeypatch.setattr(torch, "compile", broken)
    x, s = torch.randn(1, 3, 10), torch.ones(1, 3, 1)
    assert kernel.fused_snake(x, s, s) is None
    assert kernel._broken and "eager" in caplog.text
    assert kernel.fused_snake(x, s, s) is None  # stays eager without retrying


@pytest.mark.slow
def test_compiled_snake_kernel_matches_the_eager_math():
    """Really compiles (inductor, C++): ~10 s on this CPU the first time in a process."""
    from engine.models.snake_kernel import fused_snake, snake_math

    scale, inv_beta = torch.rand(1, 16, 1, 1) + 0.5, torch.rand(1, 16, 1, 1) + 0.5
    x = torch.randn(1, 16, 1, 300).contiguous(memory_format=torch.channels_last)  # [B, C, 1, T]
    out = fused_snake(x, scale, inv_beta)
    assert out is not None, "the compiled kernel is unavailable on this machine"
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out, snake_math(x, scale, inv_beta), atol=1e-6)
    x3 = torch.randn(2, 16, 77)  # [B, C, T], another rank and length: the same compiled kernel
    assert torch.allclose(fused_snake(x3, scale[..., 0], inv_beta[..., 0]), snake_math(x3, scale[..., 0],
                                                                                          inv_beta[..., 0]), atol=1e-6)


def test_a_dispatch_mode_gets_the_eager_snake_and_does_not_disable_the_kernel(monkeypatch):
    """FlopCounterMode (the benchmarks count FLOPs) must not switch the kernel off for the process."""
    from torch.utils.flop_counter import FlopCounterMode

    import engine.models.snake_kernel as kernel

    monkeypatch.setattr(kernel, "_broken", False)
    x, s = torch.randn(1, 3, 10), torch.ones(1, 3, 1)
    with FlopCounterMode(display=False):
        assert kernel.fused_snake(x, s, s) is None
    assert not kernel._broken
