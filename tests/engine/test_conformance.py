"""Module conformance: our model code vs outputs recorded from upstream ACE-Step 1.5 (the kit).

Every module case of the kit (condition encoder, audio tokenizer/detokenizer, one decoder forward)
runs through `engine.models.dit_loader.load_dit` — the same loader that reads real checkpoints —
and is compared per tensor at the MANIFEST tolerances (integers exact). Cases and checkpoints are
discovered from the kit folder. Full-generation cases (gen_*) and the guidance/DCW primitives are
checked in tests/engine/test_conformance_generation.py (engine/sampling owns those).

A missing kit FAILS (it never skips): set LEGATO_CONFORMANCE_DIR or put it at ../shared/conformance.
"""

from __future__ import annotations

import pytest

from tests.engine import conformance_kit as kit

GENERATION_PREFIXES = ("gen_",)
GENERATION_CASES = {"guidance_primitives", "dcw_primitives"}


def _runner_for(name: str):
    if name.startswith("cond_encoder"):
        return _run_cond_encoder
    if name.startswith("audio_tokenizer"):
        return _run_tokenizer
    if name.startswith("audio_detokenizer"):
        return _run_detokenizer
    if name.startswith("decoder_forward"):
        return _run_decoder
    return None


def _is_generation_case(name: str) -> bool:
    return name.startswith(GENERATION_PREFIXES) or name in GENERATION_CASES


def _module_case_names() -> list[str]:
    try:
        names = kit.case_names()
    except kit.ConformanceKitMissing as exc:
        return [f"KIT-MISSING: {exc}"]
    return [n for n in names if not _is_generation_case(n)]


@pytest.fixture(scope="module")
def loaded_models():
    """Checkpoint folder -> AceStepDiT, loaded once per module through the real loader."""
    return {}


def _dit_for(case: kit.Case, cache: dict):
    import torch

    from engine.models.dit_loader import load_dit

    folder = case.checkpoint_dir()
    assert folder is not None, f"module case {case.name} names no checkpoint"
    if folder not in cache:
        cache[folder] = load_dit(folder, dtype=torch.float32, device="cpu")
    return cache[folder]


def _run_cond_encoder(dit, inputs: dict) -> dict:
    cond = dit.encode_conditions(
        inputs["text_hidden_states"],
        inputs["text_attention_mask"],
        inputs["lyric_hidden_states"],
        inputs["lyric_attention_mask"],
        inputs["refer_audio_acoustic_hidden_states_packed"],
        inputs["refer_audio_order_mask"],
    )
    return dict(cond.__dict__)


def _run_tokenizer(dit, inputs: dict) -> dict:
    import torch

    if "silence_latent" in inputs:
        # The recorded silence must be the checkpoint's own (loaded from silence_latent.pt).
        recorded = inputs["silence_latent"]
        ours = dit.silence_frames(recorded.shape[1])
        assert torch.equal(ours.float(), recorded), "silence_latent.pt differs from the kit's record"
    out = dit.tokenize(inputs["latents_25hz"], inputs.get("attention_mask"))
    return dict(out.__dict__)


def _run_detokenizer(dit, inputs: dict) -> dict:
    return dict(dit.detokenize(inputs["codes"]).__dict__)


def _run_decoder(dit, inputs: dict) -> dict:
    velocity = dit.denoise(
        inputs["hidden_states"],
        inputs["timestep"],
        inputs["timestep_r"],
        inputs["context_latents"],
        inputs["encoder_hidden_states"],
        inputs.get("encoder_attention_mask"),
    )
    time = dit.time_conditioning(inputs["timestep"], inputs["timestep_r"])
    return dict(velocity=velocity, temb=time.temb, timestep_proj=time.timestep_proj)


def test_conformance_kit_is_present_and_complete():
    """The kit exists and every case in it is claimed by this file or the generation test file."""
    cases = kit.discover_cases()  # raises ConformanceKitMissing -> test fails
    unclaimed = [n for n in cases if _runner_for(n) is None and not _is_generation_case(n)]
    assert not unclaimed, f"kit cases with no conformance runner: {unclaimed}"
    assert any(_runner_for(n) for n in cases), "kit has no module cases"
    for name in cases:
        assert kit.tolerances().get(name), f"no tolerances found for case {name}"


@pytest.mark.parametrize("case_name", _module_case_names())
def test_conformance_module_case(case_name, loaded_models, record_property):
    if case_name.startswith("KIT-MISSING"):
        pytest.fail(case_name)
    case = kit.discover_cases()[case_name]
    inputs, expected = case.load()
    dit = _dit_for(case, loaded_models)
    outputs = _runner_for(case_name)(dit, inputs)
    errors = kit.compare(case, outputs, expected)
    record_property("max_abs_errors", errors)
    print(f"{case_name}: " + ", ".join(f"{k}={v:.2e}" for k, v in sorted(errors.items())))
