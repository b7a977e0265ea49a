"""Preflight of the planner LM stage: its scaling, where it shows, and a real (tiny) calibration."""

from __future__ import annotations

import dataclasses

import pytest

from engine.runtime import preflight as pf
from engine.runtime import preflight_lm as pl
from engine.tasks.request import GenerationRequest
from tests.engine.test_runtime_preflight import _calib

GB = 1024**3


def _dit() -> pf.Calibration:
    """The DiT side: the same hand-made calibration as the DiT preflight tests'."""
    return _calib(key="dit")


def _lm(**changes) -> pl.LMCalibration:
    base = pl.LMCalibration(key="lm", device="cpu", weights_bytes=3 * GB, load_s=4.0, call_s=0.5, per_token_s=0.05,
                            phase1_tokens=120, fixed_bytes=0.05 * GB, per_token_bytes=0.001 * GB,
                            memory_measured=True, measured_at=0.0)
    return dataclasses.replace(base, **changes)


def _think(**kw) -> GenerationRequest:
    return GenerationRequest(caption="x", thinking=True, **kw)


def test_thinking_adds_load_prompts_and_tokens_to_the_prediction():
    plain = pf.predict(GenerationRequest(caption="x", duration=30), _dit(), "turbo", 64 * GB)
    result = pf.predict(_think(duration=30, batch_size=2), _dit(), "turbo", 64 * GB, lm=_lm())
    stages = dict(result.stage_seconds)
    tokens = 120 + 2 * (150 + 1)  # chain of thought once + 5 codes/s and the end token per item
    assert stages["planner LM load"] == 4.0
    assert stages["planner LM"] == pytest.approx(3 * 0.5 + tokens * 0.05)  # 3 calls: phase 1 + 2 items
    # The DiT renders each planned item on its own: one item's stages, twice.
    assert stages["diffusion"] == pytest.approx(2 * dict(plain.stage_seconds)["diffusion"])
    assert stages["text encode"] == pytest.approx(2 * 0.5)
    assert not result.lm_unknown
    assert result.line.startswith("fits · about ") and f"~{tokens} tokens" in result.line and "planner LM" in result.line
    # Both models are resident: DiT weights + LM weights + the larger stage peak above them.
    lm_stage = 0.05 * GB + 0.001 * GB * 151
    assert result.peak_bytes == int(4 * GB + 3 * GB + max(plain.peak_bytes - 4 * GB, lm_stage))


def test_given_metadata_skips_the_chain_of_thought_and_a_loaded_lm_costs_no_load():
    full = dict(bpm=120, keyscale="C major", timesignature="4", duration=10)
    result = pf.predict(_think(**full), _dit(), "turbo", 64 * GB, lm=_lm(), lm_loaded=True)
    stages = dict(result.stage_seconds)
    assert "planner LM load" not in stages
    assert stages["planner LM"] == pytest.approx(0.5 + 51 * 0.05)  # phase 2 only: 50 codes + end
    no_cot = pf.predict(_think(duration=10, use_cot_metas=False), _dit(), "turbo", 64 * GB, lm=_lm(), lm_loaded=True)
    assert dict(no_cot.stage_seconds)["planner LM"] == pytest.approx(stages["planner LM"])


def test_without_an_lm_calibration_the_planner_is_unknown_and_said_so():
    result = pf.predict(_think(duration=30), _dit(), "turbo", 64 * GB)
    assert result.lm_unknown and result.line.endswith(" + planner LM")
    assert not any(name.startswith("planner") for name, _ in result.stage_seconds)
    plain = pf.predict(GenerationRequest(caption="x", duration=30, thinking=True, task="cover",
                                         source_audio="x.wav"), _dit(), "turbo", 64 * GB, lm=_lm())
    assert not plain.lm_unknown  # cover does not think (effective_thinking off)


def test_a_big_lm_can_make_the_request_not_fit():
    result = pf.predict(_think(duration=30), _dit(), "turbo", 8 * GB, lm=_lm(weights_bytes=6 * GB))
    assert not result.fits and result.line.startswith("needs ")


def test_the_app_finds_the_lm_calibration_by_name_without_loading_it(tmp_path):
    store = tmp_path / "calib.json"
    assert pl.lm_calibration_for(tmp_path, None, "cpu", store) is None
    pl.save_lm_calibration(_lm(key="k1"), pl.lm_alias(tmp_path, None, "cpu"), store)
    pl.save_lm_calibration(_lm(key="k2"), pl.lm_alias(tmp_path, "acestep-5Hz-lm-0.6B", "cpu"), store)
    assert pl.lm_calibration_for(tmp_path, None, "cpu", store).key == "k1"
    assert pl.lm_calibration_for(tmp_path, "acestep-5Hz-lm-0.6B", "cpu", store).key == "k2"
    assert pl.lm_calibration_for(tmp_path, None, "cuda", store) is None
    assert pl.stored_lm_calibration("k2", store) == _lm(key="k2")


@pytest.mark.slow  # the tiny planner LM really generates on the CPU
def test_tiny_lm_calibration_is_measured_once_stored_and_used_by_dry_run(tiny_checkpoints, monkeypatch, capsys, tmp_path):
    from engine.cli import main
    from engine.tasks.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_checkpoints(tiny_checkpoints)
    monkeypatch.setattr(pf, "CALIBRATION_SECONDS", (6.0, 8.0))
    monkeypatch.setattr(pf, "CALIBRATION_REPEATS", 1)
    monkeypatch.setattr(pf, "CALIBRATION_BUDGET_S", 0.0)
    calib = pl.load_or_calibrate_lm(pipe)
    assert calib is not None and calib.load_s > 0 and calib.per_token_s > 0 and calib.weights_bytes > 0
    assert 1 <= calib.phase1_tokens <= pipe.lm_caption_token_cap + 200  # metadata lines + caption
    assert pipe._planner is not None  # the pipeline keeps the LM the calibration loaded
    monkeypatch.setattr(pl, "calibrate_lm", lambda *a, **k: pytest.fail("measured twice"))
    assert pl.load_or_calibrate_lm(pipe) == calib
    assert pl.lm_calibration_for(tiny_checkpoints, None, "cpu") == calib
    code = main(["generate", "--caption", "x", "--duration", "10", "--thinking", "--checkpoints",
                 str(tiny_checkpoints), "--device", "cpu", "--dry-run", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "planner LM" in out and "tokens" in out


def test_chain_of_thought_tokens_use_their_own_measured_cost():
    req = _think(duration=10)
    same = pf.predict(req, _dit(), "turbo", 64 * GB, lm=_lm(), lm_loaded=True)
    cheaper = pf.predict(req, _dit(), "turbo", 64 * GB, lm=_lm(phase1_per_token_s=0.01), lm_loaded=True)
    drop = dict(same.stage_seconds)["planner LM"] - dict(cheaper.stage_seconds)["planner LM"]
    assert drop == pytest.approx(120 * (0.05 - 0.01))  # only the 120 phase-1 tokens change
