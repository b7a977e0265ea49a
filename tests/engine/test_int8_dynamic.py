"""INT8 weights + activations ("int8-dynamic", engine/runtime/int8_dynamic.py): every Linear of the
DiT is replaced, the output stays within a stated tolerance of the float32 model, and bad input
gets our own error."""

from __future__ import annotations

import pytest
import torch

from engine.errors import ValidationError
from engine.runtime.int8_dynamic import DynamicInt8Linear
from engine.runtime.options import CHOICES, QUANTIZER_LABELS, apply_quantization

# Relative L2 error of the decoder output allowed after int8-dynamic quantisation. Measured on
# the tiny turbo DiT: ~1.5 % for one forward, ~1.8 % for 8-step latents (activations are rounded
# to 128-256 levels per call, so the error is a few times the weight-only mode's).
ONE_FORWARD_TOLERANCE = 0.05


def test_a_linear_matches_float32_within_a_few_percent():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 96).eval()
    x = torch.randn(2, 10, 64)  # [B, T, in]: leading dims are kept
    quant = DynamicInt8Linear(linear, reduce_range=True)
    with torch.no_grad():
        ref, out = linear(x), quant(x)
    assert out.shape == ref.shape == (2, 10, 96)
    error = float((out - ref).norm() / ref.norm())
    assert 0 < error < 0.05, error


def test_non_float32_weights_are_refused_with_our_error():
    linear = torch.nn.Linear(8, 8).to(torch.bfloat16)
    with pytest.raises(ValidationError, match="float32"):
        DynamicInt8Linear(linear, reduce_range=True)


def test_the_mode_is_a_setting_with_a_label_that_states_its_cost():
    assert "int8-dynamic" in CHOICES["quantization"]
    label = QUANTIZER_LABELS["int8-dynamic"]
    assert "%" in label and "×" in label  # measured speed and error, not a bare name


def test_dit_output_stays_within_tolerance(tiny_checkpoints):
    from engine.models.dit_loader import load_dit
    from engine.models.tiny.factory import DIT_FOLDERS
    from engine.tasks.runtime_setup import quantize_dit

    full = load_dit(tiny_checkpoints / DIT_FOLDERS["turbo"])
    quant = load_dit(tiny_checkpoints / DIT_FOLDERS["turbo"])
    quantize_dit(quant, "int8-dynamic")  # as apply_runtime_options does
    assert not any(type(m) is torch.nn.Linear for m in quant.transformer.modules())
    # the condition encoder runs once per request: kept in full precision (runtime_setup.quantize_dit)
    assert not any(isinstance(m, DynamicInt8Linear) for m in quant.condition_encoder.modules())
    g = torch.Generator().manual_seed(0)
    c = full.latent_channels  # the tiny tree's (8), not the real 64
    x = torch.randn(1, 50, c, generator=g)
    ctx = torch.randn(1, 50, 2 * c, generator=g)
    text = torch.randn(1, 12, full.condition_encoder.text_projector.in_features, generator=g)
    lyric = torch.randn(1, 9, full.condition_encoder.text_projector.in_features, generator=g)
    refer = torch.randn(1, 30, c, generator=g)
    outs = []
    for dit in (full, quant):
        cond = dit.encode_conditions(text, torch.ones(1, 12), lyric, torch.ones(1, 9), refer, torch.zeros(1))
        with dit.cross_attention_scope():
            outs.append(dit.denoise(x, 0.7, 0.7, ctx, cond.encoder_hidden_states))
    error = float((outs[1] - outs[0]).norm() / outs[0].norm())
    assert 0 < error < ONE_FORWARD_TOLERANCE, error


def test_the_planner_lm_stays_within_tolerance(tiny_checkpoints):
    # planning.py applies the same mode to the planner LM
    from tests.engine.test_runtime_options import quantised_lm_logits_error

    error = quantised_lm_logits_error(tiny_checkpoints, lambda model: apply_quantization(model, "int8-dynamic"))
    assert 0 < error < 0.05, error


def test_lora_sees_an_int8_dynamic_decoder_as_quantised(tiny_checkpoints):
    # so apply_loras refuses it with our AdapterError instead of an AttributeError on .weight
    from engine.lora.fit import is_quantized
    from engine.models.dit_loader import load_dit
    from engine.models.tiny.factory import DIT_FOLDERS

    dit = load_dit(tiny_checkpoints / DIT_FOLDERS["turbo"])
    assert not is_quantized(dit.transformer)
    apply_quantization(dit.transformer, "int8-dynamic")
    assert is_quantized(dit.transformer)


@pytest.mark.slow  # two tiny generations through the job (load, quantise, generate, decode)
def test_a_generate_job_with_the_fast_path_stays_near_the_full_one(tiny_checkpoints):
    import numpy as np

    from engine.jobs import JobContext, ModelCache
    from engine.jobs.generation import GenerateJob
    from engine.runtime.options import RuntimeChoices
    from engine.tasks.request import GenerationRequest

    req = GenerationRequest(caption="warm rhodes", duration=4.0, seeds=(7,))
    models = ModelCache()
    takes = {mode: GenerateJob(request=req, checkpoints=tiny_checkpoints, device="cpu",
                               runtime=RuntimeChoices(quantization=mode)).run(models, JobContext.inline()).takes[0]
             for mode in ("none", "int8-dynamic")}
    fast = takes["int8-dynamic"]
    assert fast.provenance.to_dict()["runtime"]["quantization"] == "int8-dynamic"
    pipes = [models.get(key) for key in models.stats().loaded]
    assert any(isinstance(m, DynamicInt8Linear) for p in pipes for m in p.dit.transformer.modules())
    error = float(np.linalg.norm(fast.latents - takes["none"].latents) / np.linalg.norm(takes["none"].latents))
    assert 0 < error < 0.05, error
