"""Tiny ACE-Step 1.5 DiT folders: config.json, model.safetensors, silence_latent.pt.

The config has exactly the field set upstream's config class writes (as in the conformance kit's
`tiny-acestep-v15-*/config.json`); dimensions are the kit's tiny ones except the VAE latent
channels (TINY_LATENT_CHANNELS instead of 64, see below). The real 2B values are in
shared/reference/upstream_dit.md §1.2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from engine.errors import ValidationError
from engine.models.tiny.dit_shapes import acestep_dit_parameter_shapes
from engine.models.tiny.seeded_init import seeded_state_dict, seeded_tensor

# Latent frames stored in the tiny silence_latent.pt: 1500 frames = 60 s at 25 Hz. Upstream's is
# [1, 64, 15000] (10 min, 3.8 MB); ours is shorter to stay small, so sequences over 60 s exercise
# the tiling path (upstream repeats the silence latent along time when it needs more frames).
TINY_SILENCE_FRAMES = 1500

# VAE latent channels of the tiny tree (real models: 64). Fewer channels are what make the tiny
# VAE fast: its encoder's output (mean and scale, 2 x channels) is also the width of its first
# block, which runs at 48 kHz (64 channels -> a 128-wide block, ~1.4 TFLOP per 20 s of audio).
# Everything reads the count from the configs, so only the sizes differ from the real layout.
# The conformance kit keeps 64, so both counts stay exercised.
TINY_LATENT_CHANNELS = 8

# Which upstream modeling file `auto_map` names, and the flags, per DiT variant.
_VARIANTS = {
    "turbo": {"module": "modeling_acestep_v15_turbo", "is_turbo": True},
    "base": {"module": "modeling_acestep_v15_base", "is_turbo": False},
    "sft": {"module": "modeling_acestep_v15_sft", "is_turbo": False},
    # XL (4B class): a wider decoder than its condition encoder / tokenizer / detokenizer
    # (`encoder_*` fields, upstream_dit.md §1.2). Not in the default tree; tests write it.
    "xl_turbo": {"module": "modeling_acestep_v15_xl_turbo", "is_turbo": True},
    "xl_base": {"module": "modeling_acestep_v15_xl_base", "is_turbo": False},
}
# Tiny XL sizes: decoder 96 wide (8 heads x 16), encoder side 64 wide (4 heads) = fsq_dim.
_TINY_XL_DECODER = {"hidden_size": 96, "intermediate_size": 160, "num_attention_heads": 8}
_TINY_XL_ENCODER = {
    "encoder_hidden_size": 64,
    "encoder_intermediate_size": 128,
    "encoder_num_attention_heads": 4,
    "encoder_num_key_value_heads": 2,
}


def tiny_dit_config(variant: str, *, text_hidden_dim: int = 32) -> dict[str, Any]:
    """The config.json dict of a tiny DiT of `variant` ("turbo", "base", "sft", "xl_turbo", "xl_base").

    Args:
        variant: which upstream model family the folder imitates ("xl_turbo"/"xl_base": the
            asymmetric XL shape, decoder wider than the encoder side).
        text_hidden_dim: hidden size of the text encoder (its states feed `text_projector`,
            its embedding rows feed the lyric encoder).

    Raises:
        ValidationError: unknown variant.
    """
    if variant not in _VARIANTS:
        raise ValidationError(f"unknown DiT variant {variant!r}; expected one of {sorted(_VARIANTS)}")
    spec = _VARIANTS[variant]
    layers = 4
    config = {
        "architectures": ["AceStepConditionGenerationModel"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "audio_acoustic_hidden_dim": TINY_LATENT_CHANNELS,
        "auto_map": {
            "AutoConfig": "configuration_acestep_v15.AceStepConfig",
            "AutoModel": f"{spec['module']}.AceStepConditionGenerationModel",
        },
        "data_proportion": 0.5,
        "dtype": "float32",
        "fsq_dim": 64,
        "fsq_input_levels": [8, 8, 8, 5, 5, 5],
        "fsq_input_num_quantizers": 1,
        "head_dim": 16,
        "hidden_act": "silu",
        "hidden_size": 64,
        "in_channels": 3 * TINY_LATENT_CHANNELS,  # src latents (C) + chunk mask (C) + noisy latents (C)
        "initializer_range": 0.02,
        "intermediate_size": 192,
        "is_turbo": spec["is_turbo"],
        # Alternating sliding/full starting with sliding, as in the real 24-layer config.
        "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
        "lyric_alignment_layers_config": None,
        "max_position_embeddings": 32768,
        "model_type": "acestep",
        "model_version": variant,
        "num_attention_heads": 4,
        "num_attention_pooler_hidden_layers": 2,
        "num_audio_decoder_hidden_layers": layers,
        "num_hidden_layers": layers,
        "num_key_value_heads": 2,
        "num_lyric_encoder_hidden_layers": 2,
        "num_timbre_encoder_hidden_layers": 2,
        "patch_size": 2,
        "pool_window_size": 5,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000,
        "sliding_window": 4,
        "text_hidden_dim": text_hidden_dim,
        "timbre_fix_frame": 750,
        "timbre_hidden_dim": TINY_LATENT_CHANNELS,  # reads VAE latents too
        "timestep_mu": -0.4,
        "timestep_sigma": 1.0,
        # Upstream configs record the transformers version that wrote them; the value is unused.
        "transformers_version": "4.57.6",
        "use_cache": True,
        "use_sliding_window": True,
        "vocab_size": 64003,
    }
    if variant.startswith("xl_"):
        config |= _TINY_XL_DECODER | _TINY_XL_ENCODER
    return config


def tiny_silence_latent(
    seed: int, channels: int = TINY_LATENT_CHANNELS, frames: int = TINY_SILENCE_FRAMES
) -> torch.Tensor:
    """A stand-in for the VAE encoding of digital silence, channel-first [1, channels, frames].

    Real silence encodes to a nearly stationary latent (one value per channel, absmax ~7,
    mean ~-0.2); we add per-frame variation so that code reading the wrong frames (an offset or
    a missing transpose) changes results instead of going unnoticed.
    """
    per_channel = -0.2 + seeded_tensor("silence_latent.channel", (1, channels, 1), seed)  # [1, C, 1]
    per_frame = 0.3 * seeded_tensor("silence_latent.frames", (1, channels, frames), seed)  # [1, C, Ls]
    return (per_channel + per_frame).contiguous()  # [1, C, Ls]


def write_dit_checkpoint(folder: Path, config: dict[str, Any], seed: int) -> list[Path]:
    """Write config.json, model.safetensors and silence_latent.pt of one tiny DiT into `folder`.

    The state dict's keys and shapes come from `acestep_dit_parameter_shapes(config)`; values
    are seeded per key (see seeded_init), namespaced by the variant so that turbo and base
    weights differ, as they do upstream.
    """
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    shapes = acestep_dit_parameter_shapes(config)
    state = seeded_state_dict(shapes, seed, namespace=f"acestep-v15-{config['model_version']}")
    weights_path = folder / "model.safetensors"
    save_file(state, str(weights_path), metadata={"format": "pt"})

    # The silence latent is the VAE's, shared by all DiT variants (the same file upstream).
    silence_path = folder / "silence_latent.pt"
    torch.save(tiny_silence_latent(seed, channels=config["audio_acoustic_hidden_dim"]), silence_path)
    return [config_path, weights_path, silence_path]
