"""Tiny Oobleck VAE folder (`vae/`): diffusers config.json + diffusion_pytorch_model.safetensors.

Channel widths are tiny, and so is the latent: TINY_LATENT_CHANNELS (8) instead of 64. Everything
else that fixes the latent geometry is real (shared/reference/upstream_dit.md §1.3): downsampling
ratios [2, 4, 4, 6, 10] (hop 1920 samples, so 25 latent frames per second at 48 kHz), stereo audio.

Weights are stored in bfloat16: the real file holds 168.7 M parameters in 337.4 MB, i.e. two
bytes per parameter (whether fp16 or bf16 upstream was not verified). diffusers upcasts them to
the model's dtype on load, so loaders see the same thing as with the real file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from engine.models.tiny.dit_checkpoint import TINY_LATENT_CHANNELS
from engine.models.tiny.seeded_init import seeded_tensor

TINY_VAE_CONFIG = {
    "audio_channels": 2,
    # encoder_hidden_size is the encoder's OUTPUT width (mean and scale of each latent channel, so
    # 2 x channels) and also the width of its first block, which runs at 48 kHz: with 64 latent
    # channels that block alone was ~1.4 TFLOP per 20 s (40-55 s to encode on 2 cores). With 8
    # channels and multiples of 1 (real: [1, 2, 4, 8, 16]) every encoder block is 16 wide.
    "channel_multiples": [1, 1, 1, 1, 1],
    "decoder_channels": 4,
    "decoder_input_channels": TINY_LATENT_CHANNELS,
    "downsampling_ratios": [2, 4, 4, 6, 10],
    "encoder_hidden_size": 2 * TINY_LATENT_CHANNELS,
    "sampling_rate": 48000,
}


def _vae_tensor(name: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Seeded values that keep signal scale roughly constant through the tiny conv stack."""
    if name.endswith("weight_g"):
        # Weight norm: each output channel's weight vector has norm g, so g ~ 1 keeps unit gain
        # whatever the direction weight_v has. The residual branches' last convs get g ~ 0.3:
        # with 15 residual units in a row, unit gain would grow the signal ~100x.
        gain = 0.3 if ("res_unit" in name and name.endswith("conv2.weight_g")) else 1.0
        return gain * (1.0 + 0.1 * seeded_tensor(name, shape, seed, namespace="vae")).abs()
    if name.endswith((".alpha", ".beta")):
        # Snake activations store log-scale alpha/beta (diffusers Snake1d, logscale=True).
        return 0.1 * seeded_tensor(name, shape, seed, namespace="vae")
    return seeded_tensor(name, shape, seed, namespace="vae")


STORAGE_DTYPE = torch.bfloat16


def write_vae(folder: Path, seed: int) -> list[Path]:
    """Write the tiny VAE: config.json via diffusers' `save_config`, weights via safetensors."""
    from diffusers import AutoencoderOobleck
    from safetensors.torch import save_file

    with warnings.catch_warnings():
        # diffusers builds Oobleck with the deprecated torch weight_norm; nothing for us to act on.
        warnings.simplefilter("ignore", FutureWarning)
        model = AutoencoderOobleck(**TINY_VAE_CONFIG)
    # The model instance only supplies the exact parameter names and shapes (and writes the
    # config with diffusers' own field set); the values are ours.
    state = {
        name: _vae_tensor(name, tuple(tensor.shape), seed).to(STORAGE_DTYPE).contiguous()
        for name, tensor in model.state_dict().items()
    }
    folder.mkdir(parents=True, exist_ok=True)
    model.save_config(folder)
    weights = folder / "diffusion_pytorch_model.safetensors"
    save_file(state, str(weights), metadata={"format": "pt"})
    return [folder / "config.json", weights]
