"""Device choice, dtype policy and memory tiers."""

import pytest
import torch

from engine.errors import ValidationError
from engine.runtime.device import default_dtypes, is_out_of_memory, parse_dtype, pick_device
from engine.runtime.memory_tier import detect_tier, tier_for_vram


def test_pick_device_auto_and_explicit(monkeypatch):
    monkeypatch.setattr("engine.runtime.device.cuda_available", lambda: False)
    monkeypatch.setattr("engine.runtime.device.mps_available", lambda: False)
    assert pick_device("auto").type == "cpu"
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(ValidationError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(ValidationError, match="unknown device"):
        pick_device("tpu")
    monkeypatch.setattr("engine.runtime.device.mps_available", lambda: True)
    assert pick_device(None).type == "mps"


def test_dtype_policy_follows_upstream():
    assert default_dtypes("cpu").dit == torch.float32
    cuda = default_dtypes("cuda")
    assert (cuda.dit, cuda.text_encoder, cuda.vae) == (torch.bfloat16,) * 3
    mps = default_dtypes("mps")
    assert (mps.dit, mps.vae) == (torch.float32, torch.float16)
    assert default_dtypes("cpu", "bf16").vae == torch.bfloat16
    assert parse_dtype("fp16") == torch.float16
    with pytest.raises(ValidationError, match="not supported"):
        parse_dtype("int4")


def test_memory_tiers_match_upstream_table(monkeypatch):
    assert tier_for_vram(0).name == "tier1"
    assert tier_for_vram(8).name == "tier3"
    assert tier_for_vram(15.6).name == "tier6a"
    assert tier_for_vram(80).name == "unlimited"
    assert tier_for_vram(80).max_batch_with_lm == 8
    assert detect_tier("cpu").name == "tier1"
    monkeypatch.setenv("MAX_CUDA_VRAM", "12")
    assert detect_tier("cuda").name == "tier4"


def test_out_of_memory_detection():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
