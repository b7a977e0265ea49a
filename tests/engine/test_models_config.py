"""AceStepConfig: field parsing, XL's asymmetric encoder sizes, and clear errors for bad configs."""

import pytest
import torch

from engine.errors import CheckpointError
from engine.models.acestep_config import AceStepConfig

TINY_XL = {
    "model_type": "acestep",
    "hidden_size": 96,
    "intermediate_size": 160,
    "num_hidden_layers": 2,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "encoder_hidden_size": 64,
    "encoder_intermediate_size": 128,
    "encoder_num_attention_heads": 4,
    "encoder_num_key_value_heads": 2,
    "text_hidden_dim": 32,
    "num_lyric_encoder_hidden_layers": 2,
    "num_timbre_encoder_hidden_layers": 2,
    "fsq_dim": 64,
    "sliding_window": 4,
    "is_turbo": True,
    "model_version": "xl_turbo",
}


def test_xl_config_builds_asymmetric_modules():
    from diffusers import AceStepTransformer1DModel
    from diffusers.pipelines.ace_step.modeling_ace_step import AceStepConditionEncoder

    from engine.models.dit import AceStepDiT

    cfg = AceStepConfig.from_dict(TINY_XL)
    assert cfg.layer_types == ("sliding_attention", "full_attention")
    torch.manual_seed(0)
    transformer = AceStepTransformer1DModel(**cfg.transformer_kwargs())
    encoder = AceStepConditionEncoder(**cfg.condition_encoder_kwargs())
    assert tuple(transformer.condition_embedder.weight.shape) == (96, 64)  # He -> H
    assert tuple(transformer.layers[0].self_attn.to_q.weight.shape) == (8 * 16, 96)
    assert tuple(encoder.lyric_encoder.layers[0].self_attn.to_q.weight.shape) == (4 * 16, 64)
    dit = AceStepDiT(cfg, transformer, encoder, None, None, torch.zeros(1, 10, 64))
    cond = dit.encode_conditions(
        torch.randn(1, 3, 32),
        torch.ones(1, 3),
        torch.randn(1, 4, 32),
        torch.ones(1, 4),
        torch.randn(1, 6, 64),
        torch.tensor([0]),
    )
    assert cond.encoder_hidden_states.shape == (1, 3 + 4 + 1, 64)
    v = dit.denoise(torch.randn(1, 9, 64), 0.4, 0.4, torch.randn(1, 9, 128), cond.encoder_hidden_states)
    assert v.shape == (1, 9, 64)
    with pytest.raises(CheckpointError, match="audio tokenizer"):
        dit.tokenize(torch.randn(1, 5, 64))


def test_silence_is_tiled_when_longer_than_stored():
    from engine.models.dit import AceStepDiT

    cfg = AceStepConfig.from_dict(TINY_XL)
    silence = torch.arange(3 * 64, dtype=torch.float32).reshape(1, 3, 64)
    dit = AceStepDiT.__new__(AceStepDiT)
    torch.nn.Module.__init__(dit)
    dit.config = cfg
    dit.register_buffer("silence_latent", silence, persistent=False)
    out = dit.silence_frames(7, start=1)
    assert torch.equal(out[0, :, 0], torch.tensor([64.0, 128.0, 0.0, 64.0, 128.0, 0.0, 64.0]))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"num_attention_heads": 7}, "multiple of"),
        ({"hidden_size": None}, "missing required field"),
        ({"layer_types": ["sliding_attention", "bogus"]}, "unknown layer_types"),
        ({"in_channels": 256}, "in_channels"),
        ({"head_dim": "wide"}, "malformed"),
    ],
)
def test_bad_configs_are_rejected(change, message):
    raw = dict(TINY_XL, **change)
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(CheckpointError, match=message):
        AceStepConfig.from_dict(raw, source="x/config.json")
