"""A cheap, deterministic stand-in for the tiny VAE's ENCODER, for tests about where audio goes.

The tiny VAE's encoder once cost about 2 s per second of audio on a 2-core CPU (64 latent
channels made its first block 128 wide at 48 kHz); with the tiny tree's 8 latent channels it is
far cheaper, but tests about routing still need no real encoder. Tests that check which audio reaches the model and how results land patch the
encoder with per-frame channel means through a fixed 2 -> C projection (C = the VAE's latent channels): different audio still
gives different latents, so "muting a track changes what the DiT hears" stays checkable.
Decoding stays real. The real encoder keeps its own tests (test_models_vae, test_vae_speed,
test_generate_pipeline).
"""

from __future__ import annotations

HOP = 1920  # VAE samples per latent frame


def stand_in_latents(audio, channels: int):
    """[B, 2, S] audio -> [B, S // 1920, C]: per-frame channel means through a fixed (seed 0)
    2 -> C projection. Deterministic, and different audio gives different latents."""
    import torch

    projection = torch.randn(2, channels, generator=torch.Generator().manual_seed(0))
    frames = audio.shape[-1] // HOP
    pooled = audio[..., : frames * HOP].reshape(audio.shape[0], 2, frames, HOP).mean(-1)  # [B, 2, T]
    return pooled.transpose(1, 2) @ projection.to(audio.dtype)  # [B, T, C]


def patch_fast_encoder(monkeypatch) -> list[int]:
    """Patch AudioVAE.encode for the test; returns the list of encoded lengths (samples)."""
    from engine.models.vae import AudioVAE

    calls: list[int] = []

    def encode(self, audio, sample=True, generator=None, *args, on_tile=None, **kwargs):
        if on_tile is not None:  # the job's cancel check, called per tile by the real encoder
            on_tile()
        audio = audio if audio.ndim == 3 else audio[None]  # [B, 2, S]
        calls.append(int(audio.shape[-1]))
        return stand_in_latents(audio, self.latent_channels)

    monkeypatch.setattr(AudioVAE, "encode", encode)
    return calls
