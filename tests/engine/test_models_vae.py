"""AudioVAE: lengths, sample vs mean, tiled decode == untiled, OOM fallbacks, checks and peak handling."""

import pytest
import torch

from engine.errors import ValidationError
from engine.models.tiny.dit_checkpoint import TINY_LATENT_CHANNELS as C
from engine.models.vae import HOP, MIN_DECODE_CHUNK, AudioVAE, Tiling, anti_clip, peak_normalize


@pytest.fixture(scope="module")
def vae(tiny_checkpoints):
    return AudioVAE.load(tiny_checkpoints / "vae")


def test_encode_length_and_sampling(vae):
    audio = torch.randn(1, 2, HOP * 6 + 100) * 0.3
    mean = vae.encode(audio, sample=False)
    assert mean.shape == (1, 6, C)  # floor(S / 1920) frames, time-major
    assert torch.equal(mean, vae.encode(audio, sample=False))
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    drawn = vae.encode(audio, generator=g1)
    assert torch.equal(drawn, vae.encode(audio, generator=g2))  # reproducible with a generator
    assert not torch.allclose(drawn, mean)  # upstream SAMPLES the posterior by default
    with pytest.raises(ValidationError, match="stereo"):
        vae.encode(torch.zeros(1, 1, HOP * 2))


def test_tiled_decode_equals_untiled(vae):
    torch.manual_seed(0)
    z = torch.randn(2, 60, C) * 0.5
    full = vae.decode(z, Tiling(1000, 0))
    tiled = vae.decode(z, Tiling(24, 8))
    assert full.shape == tiled.shape == (2, 2, 60 * HOP)
    assert full.dtype == torch.float32
    # measured 4.1e-5 (float32, CPU); a tile seam or lost context shows as 1e-4 and more
    assert (full - tiled).abs().max().item() < 1e-4


def test_decode_retries_with_smaller_tiles_on_oom(vae, monkeypatch):
    torch.manual_seed(1)
    z = torch.randn(1, 60, C) * 0.5
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
    assert (out - reference).abs().max().item() < 1e-4  # measured 5.8e-6 with 32-frame tiles


def test_decode_falls_back_to_cpu_on_persistent_oom(tiny_checkpoints, monkeypatch):
    """A bf16 VAE standing in for one on a GPU (no GPU here): its `device` reads "meta" (a real
    non-CPU torch device, so latents really move there) while its weights are bf16, and every
    decode on it runs out of memory. The real fallback must
    move the weights to float32 on the CPU (no `.to` is faked), decode CPU float32 latents,
    and give what a float32 CPU VAE with the same weights gives."""
    gpu_like = AudioVAE.load(tiny_checkpoints / "vae", dtype=torch.bfloat16)
    reference = AudioVAE.load(tiny_checkpoints / "vae", dtype=torch.bfloat16)
    reference.model = reference.model.to("cpu", torch.float32)  # the same bf16-rounded weights
    real_device = AudioVAE.device
    monkeypatch.setattr(AudioVAE, "device", property(
        lambda self: torch.device("meta") if self.dtype == torch.bfloat16 else real_device.fget(self)))
    original = gpu_like.model.decode
    seen = []

    def decode(z, *args, **kwargs):
        seen.append((z.device.type, z.dtype))
        if gpu_like.dtype == torch.bfloat16:  # still "on the GPU"
            if len(seen) > 50:
                raise RuntimeError("the VAE never fell back to the CPU")
            raise torch.OutOfMemoryError("CUDA out of memory")
        return original(z, *args, **kwargs)

    monkeypatch.setattr(gpu_like.model, "decode", decode)
    z = torch.randn(1, 20, C, generator=torch.Generator().manual_seed(4)) * 0.5
    out = gpu_like.decode(z, Tiling(32, 8))
    tensors = list(gpu_like.model.parameters()) + list(gpu_like.model.buffers())
    assert {(t.device.type, t.dtype) for t in tensors if t.is_floating_point()} == {("cpu", torch.float32)}
    assert seen[-1] == ("cpu", torch.float32)  # the latents the model decoded were CPU float32
    assert seen[0] == ("meta", torch.bfloat16)  # first on the "GPU" in its dtype ...
    assert len(seen) > 2  # ... whole, then in smaller tiles, then on the CPU
    assert out.shape == (1, 2, 20 * HOP) and out.device.type == "cpu" and out.dtype == torch.float32
    # the CPU decode keeps the smallest tiles it had reached
    assert torch.equal(out, reference.decode(z, Tiling(MIN_DECODE_CHUNK, 8)))


def test_decode_rejects_bad_latents(vae):
    with pytest.raises(ValidationError, match="NaN"):
        vae.decode(torch.full((1, 4, C), float("nan")))
    with pytest.raises(ValidationError, match="all zero"):
        vae.decode(torch.zeros(1, 4, C))


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
