"""AudioVAE: lengths, sample vs mean, tiled decode == untiled, OOM fallbacks, checks and peak handling."""

import pytest
import torch

from engine.errors import ValidationError
from engine.models.vae import HOP, AudioVAE, Tiling, anti_clip, peak_normalize


@pytest.fixture(scope="module")
def vae(tiny_checkpoints):
    return AudioVAE.load(tiny_checkpoints / "vae")


def test_encode_length_and_sampling(vae):
    audio = torch.randn(1, 2, HOP * 6 + 100) * 0.3
    mean = vae.encode(audio, sample=False)
    assert mean.shape == (1, 6, 64)  # floor(S / 1920) frames, time-major
    assert torch.equal(mean, vae.encode(audio, sample=False))
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    drawn = vae.encode(audio, generator=g1)
    assert torch.equal(drawn, vae.encode(audio, generator=g2))  # reproducible with a generator
    assert not torch.allclose(drawn, mean)  # upstream SAMPLES the posterior by default
    with pytest.raises(ValidationError, match="stereo"):
        vae.encode(torch.zeros(1, 1, HOP * 2))


def test_tiled_decode_equals_untiled(vae):
    torch.manual_seed(0)
    z = torch.randn(2, 60, 64) * 0.5
    full = vae.decode(z, Tiling(1000, 0))
    tiled = vae.decode(z, Tiling(24, 8))
    assert full.shape == tiled.shape == (2, 2, 60 * HOP)
    assert full.dtype == torch.float32
    assert (full - tiled).abs().max().item() < 1e-3


def test_decode_retries_with_smaller_tiles_on_oom(vae, monkeypatch):
    torch.manual_seed(1)
    z = torch.randn(1, 60, 64) * 0.5
    reference = vae.decode(z, Tiling(1000, 0))
    original = vae._decode_window
    seen = []

    def limited(window):
        seen.append(window.shape[1])
        if window.shape[1] > 48:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(window)

    monkeypatch.setattr(vae, "_decode_window", limited)
    out = vae.decode(z, Tiling(64, 8))
    assert seen[0] == 60 and max(seen[1:]) <= 48  # first whole, then smaller tiles
    assert (out - reference).abs().max().item() < 1e-3


def test_decode_falls_back_to_cpu_on_persistent_oom(vae, monkeypatch):
    state = {"gpu": True}
    monkeypatch.setattr(
        AudioVAE, "device", property(lambda self: torch.device("cuda" if state["gpu"] else "cpu"))
    )
    original = vae._decode_window

    def gpu_always_oom(window):
        if state["gpu"]:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return original(window)

    real_to = vae.model.to

    def to(*args, **kwargs):
        state["gpu"] = False
        return real_to(*args, **kwargs)

    monkeypatch.setattr(vae, "_decode_window", gpu_always_oom)
    monkeypatch.setattr(vae.model, "to", to)
    out = vae.decode(torch.randn(1, 20, 64) * 0.5, Tiling(32, 8))
    assert out.shape == (1, 2, 20 * HOP) and not state["gpu"]


def test_decode_rejects_bad_latents(vae):
    with pytest.raises(ValidationError, match="NaN"):
        vae.decode(torch.full((1, 4, 64), float("nan")))
    with pytest.raises(ValidationError, match="all zero"):
        vae.decode(torch.zeros(1, 4, 64))


def test_peak_handling():
    audio = torch.tensor([[[0.5, -2.0]], [[0.25, 0.5]]]).expand(2, 2, 2).clone()
    clipped = anti_clip(audio)
    assert clipped[0].abs().max() == 1.0 and torch.equal(clipped[1], audio[1])
    normed = peak_normalize(audio, db=-1.0)
    assert torch.allclose(normed.abs().amax(dim=(1, 2)), torch.full((2,), 10 ** (-1 / 20)))
    assert torch.equal(peak_normalize(torch.zeros(1, 2, 4)), torch.zeros(1, 2, 4))


def test_vae_with_a_missing_weight_is_refused_naming_the_file(tiny_checkpoints, tmp_path):
    """diffusers would fill a missing weight with random values; we refuse, naming the file."""
    import shutil

    from safetensors.torch import load_file, save_file

    from engine.errors import CheckpointError

    folder = tmp_path / "vae"
    shutil.copytree(tiny_checkpoints / "vae", folder)
    weights = folder / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, weights)
    with pytest.raises(CheckpointError) as err:
        AudioVAE.load(folder)
    message = str(err.value)
    assert str(weights) in message and "VAE weights do not match" in message and dropped in message
