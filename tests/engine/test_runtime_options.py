"""Runtime options: the automatic choice per tier and Settings overrides, INT8 weight-only
quantisation within a stated tolerance of the full-precision DiT and LM, and the offloader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import ValidationError
from engine.runtime.memory_tier import tier_for_vram
from engine.runtime.options import StageOffloader, apply_int8_weight_only, choose_options, measure_dtype
from engine.settings import Settings

# Relative L2 error of the output allowed after INT8 weight-only quantisation (measured on the
# tiny models: DiT latents ~1e-2, LM logits ~1e-2; per-channel int8 keeps about 2-3 digits).
DIT_TOLERANCE = 0.05
LM_TOLERANCE = 0.05


def test_automatic_choice_follows_the_tier_and_settings_override_it():
    small = tier_for_vram(8.0)
    big = tier_for_vram(48.0)
    on_small = choose_options("cuda", small, Settings())
    assert on_small.offload and on_small.int8 and on_small.compile
    on_big = choose_options("cuda", big, Settings())
    assert not on_big.offload and not on_big.int8
    cpu = choose_options("cpu", tier_for_vram(0.0), Settings(), measured_dtype=torch.float32)
    assert not cpu.offload and not cpu.int8 and not cpu.compile and cpu.dtype == torch.float32
    assert "measured" in " ".join(cpu.why)
    forced = choose_options("cpu", tier_for_vram(0.0), Settings(quantization="int8", compile="on", dtype="bfloat16",
                                                                vae_device="cpu"))
    assert forced.int8 and forced.compile and forced.vae_on_cpu and forced.dtype == torch.bfloat16
    assert "INT8" in forced.describe() and "CPU VAE" in forced.describe()
    with pytest.raises(ValidationError, match="quantization must be one of"):
        choose_options("cpu", small, Settings(quantization="fp4"))


def test_dtype_is_measured_not_assumed():
    dtype, times = measure_dtype("cpu", size=128, repeats=1)
    assert set(times) == {"float32", "bfloat16"} and all(t > 0 for t in times.values())
    assert dtype == (torch.bfloat16 if times["bfloat16"] < 0.9 * times["float32"] else torch.float32)


@pytest.mark.slow  # two tiny pipeline loads and runs
def test_int8_dit_stays_within_tolerance(tiny_checkpoints):
    from engine.tasks.pipeline import GenerationPipeline
    from engine.tasks.request import GenerationRequest

    req = GenerationRequest(caption="warm rhodes", duration=4.0, seeds=(7,))
    full = GenerationPipeline.from_checkpoints(tiny_checkpoints)
    quant = GenerationPipeline.from_checkpoints(tiny_checkpoints)
    apply_int8_weight_only(quant.models.dit)
    assert any(type(m.weight).__name__ == "Int8Tensor" for m in quant.models.dit.modules()
               if isinstance(m, torch.nn.Linear))
    from engine.runtime.preflight import weights_bytes

    assert weights_bytes(quant) < weights_bytes(full)  # int8 weights really are smaller
    a = full(req).takes[0].latents
    b = quant(req).takes[0].latents
    error = float(np.linalg.norm(a - b) / np.linalg.norm(a))
    assert 0 < error < DIT_TOLERANCE, error


def quantised_lm_logits_error(checkpoints, quantise) -> float:
    """Relative L2 error of the tiny planner LM's logits on 24 seeded tokens after `quantise(model)`
    (in place) against the float32 model. Shared with test_int8_dynamic (the other mode)."""
    from transformers import AutoModelForCausalLM

    folder = checkpoints / "acestep-5Hz-lm-1.7B"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, trust_remote_code=False).eval()
    ids = torch.randint(0, 1000, (1, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(ids).logits
        quantise(model)
        out = model(ids).logits
    return float((out - ref).norm() / ref.norm())


def test_int8_lm_stays_within_tolerance(tiny_checkpoints):
    error = quantised_lm_logits_error(tiny_checkpoints, apply_int8_weight_only)
    assert 0 < error < LM_TOLERANCE, error


def test_offloader_is_a_no_op_without_an_accelerator():
    layer = torch.nn.Linear(4, 4)
    off = StageOffloader("cpu", enabled=True)
    assert not off.enabled
    with off.use(layer) as used:
        assert used is layer and layer.weight.device.type == "cpu"
