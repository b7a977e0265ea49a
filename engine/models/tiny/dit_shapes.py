"""The ACE-Step 1.5 DiT state-dict inventory (key -> shape), derived from a config.json dict.

This is our own statement of what upstream's `AceStepConditionGenerationModel` stores
(ace-step/ACE-Step-1.5:acestep/models/turbo/modeling_acestep_v15_turbo.py; facts in
shared/reference/upstream_dit.md §2). Keys have no `model.` prefix. The tiny-checkpoint factory
uses it to write weights; a test checks it against the conformance kit's real checkpoint, so a
wrong shape here is caught rather than silently copied into every tiny checkpoint.

Pure Python (no torch) so that it can be imported anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import ValidationError

# Width of the sinusoidal timestep features fed to `time_embed*.linear_1`. Upstream fixes it in
# code (not in config.json), for every model size.
TIMESTEP_FEATURE_DIM = 256

# Number of modulation vectors per DiT layer (shift/scale/gate for attention and for the MLP)
# and for the output norm (shift/scale).
LAYER_MODULATIONS = 6
OUTPUT_MODULATIONS = 2

Shape = tuple[int, ...]


def _field(config: Mapping[str, Any], name: str) -> Any:
    try:
        return config[name]
    except KeyError:
        raise ValidationError(f"DiT config.json lacks the field {name!r}") from None


def _attention(prefix: str, width: int, heads: int, kv_heads: int, head_dim: int) -> dict[str, Shape]:
    """q/k/v/o projections (no biases: attention_bias is false) and per-head q/k RMSNorms."""
    return {
        f"{prefix}.q_proj.weight": (heads * head_dim, width),
        f"{prefix}.k_proj.weight": (kv_heads * head_dim, width),
        f"{prefix}.v_proj.weight": (kv_heads * head_dim, width),
        f"{prefix}.o_proj.weight": (width, heads * head_dim),
        f"{prefix}.q_norm.weight": (head_dim,),
        f"{prefix}.k_norm.weight": (head_dim,),
    }


def _mlp(prefix: str, width: int, intermediate: int) -> dict[str, Shape]:
    """SwiGLU MLP without biases."""
    return {
        f"{prefix}.gate_proj.weight": (intermediate, width),
        f"{prefix}.up_proj.weight": (intermediate, width),
        f"{prefix}.down_proj.weight": (width, intermediate),
    }


def _encoder_stack(prefix: str, layers: int, dims: dict[str, int]) -> dict[str, Shape]:
    """`layers.{i}.*` of a pre-norm encoder stack plus its final `norm`."""
    shapes: dict[str, Shape] = {}
    for i in range(layers):
        layer = f"{prefix}.layers.{i}"
        shapes[f"{layer}.input_layernorm.weight"] = (dims["width"],)
        shapes[f"{layer}.post_attention_layernorm.weight"] = (dims["width"],)
        shapes |= _attention(
            f"{layer}.self_attn", dims["width"], dims["heads"], dims["kv_heads"], dims["head_dim"]
        )
        shapes |= _mlp(f"{layer}.mlp", dims["width"], dims["intermediate"])
    shapes[f"{prefix}.norm.weight"] = (dims["width"],)
    return shapes


def _linear(prefix: str, out_features: int, in_features: int) -> dict[str, Shape]:
    return {f"{prefix}.weight": (out_features, in_features), f"{prefix}.bias": (out_features,)}


def acestep_dit_parameter_shapes(config: Mapping[str, Any]) -> dict[str, Shape]:
    """Every parameter key of an ACE-Step 1.5 DiT checkpoint and its shape, for `config`.

    Covers the 2B family (turbo, base, sft) and the XL family, whose condition encoder, audio
    tokenizer, detokenizer and `null_condition_emb` use `encoder_*` widths (absent = same as the
    decoder's).

    Args:
        config: the parsed `config.json` of a DiT checkpoint folder.

    Returns:
        Mapping key -> shape, in sorted key order.

    Raises:
        ValidationError: a field the inventory depends on is missing or inconsistent.
    """
    hidden = _field(config, "hidden_size")
    head_dim = _field(config, "head_dim")
    decoder = {
        "width": hidden,
        "intermediate": _field(config, "intermediate_size"),
        "heads": _field(config, "num_attention_heads"),
        "kv_heads": _field(config, "num_key_value_heads"),
        "head_dim": head_dim,
    }
    encoder = {
        "width": config.get("encoder_hidden_size") or decoder["width"],
        "intermediate": config.get("encoder_intermediate_size") or decoder["intermediate"],
        "heads": config.get("encoder_num_attention_heads") or decoder["heads"],
        "kv_heads": config.get("encoder_num_key_value_heads") or decoder["kv_heads"],
        "head_dim": head_dim,
    }
    enc_width = encoder["width"]
    latent_channels = _field(config, "audio_acoustic_hidden_dim")  # 64: VAE latent channels
    patch = _field(config, "patch_size")
    fsq_dim = _field(config, "fsq_dim")
    fsq_levels = len(_field(config, "fsq_input_levels"))
    if fsq_dim != enc_width:
        # The quantizer sits on the attention pooler's output, which is encoder-wide.
        raise ValidationError(f"DiT config: fsq_dim {fsq_dim} must equal the encoder width {enc_width}")

    shapes: dict[str, Shape] = {}

    # --- decoder.*: the DiT proper -------------------------------------------------------------
    # proj_in/proj_out are nn.Sequential(transpose, conv, transpose), hence the ".1.".
    shapes["decoder.proj_in.1.weight"] = (hidden, _field(config, "in_channels"), patch)  # Conv1d [out, in, k]
    shapes["decoder.proj_in.1.bias"] = (hidden,)
    shapes["decoder.proj_out.1.weight"] = (hidden, latent_channels, patch)  # ConvTranspose1d [in, out, k]
    shapes["decoder.proj_out.1.bias"] = (latent_channels,)
    for embed in ("time_embed", "time_embed_r"):
        shapes |= _linear(f"decoder.{embed}.linear_1", hidden, TIMESTEP_FEATURE_DIM)
        shapes |= _linear(f"decoder.{embed}.linear_2", hidden, hidden)
        shapes |= _linear(f"decoder.{embed}.time_proj", LAYER_MODULATIONS * hidden, hidden)
    shapes |= _linear("decoder.condition_embedder", hidden, enc_width)
    for i in range(_field(config, "num_hidden_layers")):
        layer = f"decoder.layers.{i}"
        for norm in ("self_attn_norm", "cross_attn_norm", "mlp_norm"):
            shapes[f"{layer}.{norm}.weight"] = (hidden,)
        # Cross-attention keys/values read the condition after condition_embedder (decoder-wide).
        for attn in ("self_attn", "cross_attn"):
            shapes |= _attention(f"{layer}.{attn}", hidden, decoder["heads"], decoder["kv_heads"], head_dim)
        shapes |= _mlp(f"{layer}.mlp", hidden, decoder["intermediate"])
        shapes[f"{layer}.scale_shift_table"] = (1, LAYER_MODULATIONS, hidden)
    shapes["decoder.norm_out.weight"] = (hidden,)
    shapes["decoder.scale_shift_table"] = (1, OUTPUT_MODULATIONS, hidden)

    # --- encoder.*: condition encoder (caption projection, lyric encoder, timbre encoder) -----
    text_dim = _field(config, "text_hidden_dim")
    shapes["encoder.text_projector.weight"] = (enc_width, text_dim)  # no bias
    shapes |= _linear("encoder.lyric_encoder.embed_tokens", enc_width, text_dim)
    shapes |= _encoder_stack(
        "encoder.lyric_encoder", _field(config, "num_lyric_encoder_hidden_layers"), encoder
    )
    shapes |= _linear("encoder.timbre_encoder.embed_tokens", enc_width, _field(config, "timbre_hidden_dim"))
    shapes |= _encoder_stack(
        "encoder.timbre_encoder", _field(config, "num_timbre_encoder_hidden_layers"), encoder
    )
    shapes["encoder.timbre_encoder.special_token"] = (1, 1, enc_width)  # stored, unused upstream

    # --- tokenizer.*: 25 Hz latents -> 5 Hz FSQ codes ----------------------------------------
    pooler_layers = _field(config, "num_attention_pooler_hidden_layers")
    shapes |= _linear("tokenizer.audio_acoustic_proj", enc_width, latent_channels)
    shapes |= _linear("tokenizer.attention_pooler.embed_tokens", enc_width, enc_width)
    shapes |= _encoder_stack("tokenizer.attention_pooler", pooler_layers, encoder)
    shapes["tokenizer.attention_pooler.special_token"] = (1, 1, enc_width)
    shapes |= _linear("tokenizer.quantizer.project_in", fsq_levels, fsq_dim)
    shapes |= _linear("tokenizer.quantizer.project_out", fsq_dim, fsq_levels)

    # --- detokenizer.*: 5 Hz codes -> 25 Hz hint latents (same layer count as the pooler) ------
    shapes |= _linear("detokenizer.embed_tokens", enc_width, enc_width)
    shapes["detokenizer.special_tokens"] = (1, _field(config, "pool_window_size"), enc_width)
    shapes |= _encoder_stack("detokenizer", pooler_layers, encoder)
    shapes |= _linear("detokenizer.proj_out", latent_channels, enc_width)

    # --- the learned "no condition" vector for classifier-free guidance ----------------------
    shapes["null_condition_emb"] = (1, 1, enc_width)

    return dict(sorted(shapes.items()))
