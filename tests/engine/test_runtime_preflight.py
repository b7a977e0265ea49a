"""Preflight: the cost model's scaling and wording, calibration storage, --dry-run, refusing a job."""

from __future__ import annotations

import dataclasses

import pytest

from engine.runtime import preflight as pf
from engine.tasks.request import GenerationRequest

GB = 1024**3


def _calib(**changes) -> pf.Calibration:
    base = pf.Calibration(
        key="test", device="cpu", weights_bytes=4 * GB, cfg_calibrated=False, memory_measured=True,
        text_encode=pf.StageCost(0.5, 0.0, 0.1 * GB, 0.0),
        diffusion_run=pf.StageCost(0.0, 0.0, 0.0, 0.0),
        diffusion_step=pf.StageCost(0.2, 0.004, 0.2 * GB, 0.0002 * GB),
        vae_decode=pf.StageCost(0.1, 0.002, 0.1 * GB, 0.0001 * GB),
        measured_at=0.0,
    )
    return dataclasses.replace(base, **changes)


def _req(**kw) -> GenerationRequest:
    return GenerationRequest(caption="x", **kw)


def test_seconds_scale_with_frames_steps_batch_and_guidance():
    c = _calib()
    t = lambda **kw: pf.predict(_req(**kw), c, "turbo", 64 * GB).seconds  # noqa: E731
    assert t(duration=60) > t(duration=30) > t(duration=10)
    assert t(duration=30, batch_size=2) == pytest.approx(2 * t(duration=30), rel=0.01)
    base = lambda **kw: pf.predict(_req(**kw), c, "base", 64 * GB)  # noqa: E731
    with_cfg, without = base(duration=30, steps=32), base(duration=30, steps=32, guidance_scale=1.0)
    assert dict(with_cfg.stage_seconds)["diffusion"] == pytest.approx(2 * dict(without.stage_seconds)["diffusion"])
    assert dict(base(duration=30, steps=16).stage_seconds)["diffusion"] == pytest.approx(
        dict(without.stage_seconds)["diffusion"])  # 16 steps x2 (CFG) == 32 steps x1
    turbo = pf.predict(_req(duration=30), c, "turbo", 64 * GB)
    expected = 0.5 + 8 * (0.2 + 0.004 * 750) + (0.1 + 0.002 * 750)
    assert turbo.seconds == pytest.approx(expected)
    with_setup = pf.predict(_req(duration=30), _calib(diffusion_run=pf.StageCost(1.0, 0.001, 0, 0)), "turbo", 64 * GB)
    assert with_setup.seconds == pytest.approx(expected + 1.0 + 0.75)  # once per run, not per step


def test_fits_line_and_the_advice_when_it_does_not():
    c = _calib()
    ok = pf.predict(_req(duration=30), c, "turbo", 64 * GB)
    assert ok.fits and ok.line.startswith("fits · about ") and ok.line.endswith(" s")
    assert ok.peak_bytes == int(4 * GB + (0.2 + 0.0002 * 750) * GB)
    big = pf.predict(_req(duration=240, batch_size=4), c, "turbo", 8 * GB, offload_possible=True)
    assert not big.fits
    assert big.line == "needs 9.6 GB, you have 8.0 GB: try batch 2 / 120 s / offload"
    assert "offload" in big.suggestions and any(s.endswith(" s") for s in big.suggestions)
    for suggestion in big.suggestions:  # every suggestion on its own really fits
        if suggestion.startswith("batch"):
            assert pf.predict(_req(duration=240, batch_size=int(suggestion.split()[1])), c, "turbo", 8 * GB).fits
        elif suggestion.endswith(" s"):
            assert pf.predict(_req(duration=float(suggestion[:-2]), batch_size=4), c, "turbo", 8 * GB).fits


def test_unknown_family_is_a_clear_error():
    with pytest.raises(Exception, match="family"):
        pf.predict(_req(), _calib(), "xl", GB)


@pytest.fixture(scope="module")
def tiny_pipeline(tiny_checkpoints):
    from engine.tasks.pipeline import GenerationPipeline

    return GenerationPipeline.from_checkpoints(tiny_checkpoints)


@pytest.fixture(scope="module")
def stored(tiny_pipeline):
    """One real calibration of the tiny pipeline, stored where the app and the CLI look for it."""
    # Users get two repeats at 5 s and 20 s; on the shared 2-core test machine that is a minute.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pf, "CALIBRATION_SECONDS", (1.0, 4.0))
        patch.setattr(pf, "CALIBRATION_REPEATS", 1)
        assert pf.stored_calibration(pf.calibration_key(tiny_pipeline)) is None
        return pf.load_or_calibrate(tiny_pipeline)


@pytest.mark.slow  # real (tiny) pipeline runs on the CPU
def test_calibration_is_measured_once_and_stored(tiny_pipeline, stored, monkeypatch):
    assert pf.calibration_path().is_file()  # under engine.settings.data_dir()
    assert stored.weights_bytes > 0 and stored.diffusion_step.fixed_s + stored.diffusion_step.per_frame_s > 0
    assert stored.key.startswith("cpu|float32|")
    assert stored.text_encode.per_frame_s == 0.0  # text cost does not depend on the length
    monkeypatch.setattr(pf, "calibrate", lambda *a, **k: pytest.fail("measured twice"))
    assert pf.load_or_calibrate(tiny_pipeline) == stored
    result = pf.predict(_req(duration=20, batch_size=2), stored, tiny_pipeline.family)
    assert result.fits and result.seconds > 0 and result.peak_bytes >= stored.weights_bytes


@pytest.mark.slow  # real (tiny) pipeline runs on the CPU
def test_dry_run_prints_the_preflight_and_writes_nothing(tiny_checkpoints, stored, tmp_path, capsys, monkeypatch):
    from engine.cli import main

    monkeypatch.setattr(pf, "calibrate", lambda *a, **k: pytest.fail("the stored calibration should be used"))
    code = main(["generate", "--caption", "x", "--duration", "10", "--checkpoints", str(tiny_checkpoints),
                 "--device", "cpu", "--dry-run", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("fits · about ") and "peak " in out
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # real (tiny) pipeline runs on the CPU
def test_a_job_that_cannot_fit_is_refused_unless_forced(tiny_checkpoints, tiny_pipeline, monkeypatch):
    from engine.errors import ValidationError
    from engine.jobs.context import JobContext
    from engine.jobs.generation import GenerateJob
    from engine.jobs.model_cache import ModelCache

    huge = _calib(weights_bytes=10**15)
    monkeypatch.setattr(pf, "stored_calibration", lambda key, path=None: huge)
    job = GenerateJob(request=_req(duration=10, seeds=(1,)), checkpoints=tiny_checkpoints, device="cpu")
    with pytest.raises(ValidationError, match="will not fit: needs .* you have"):
        job.run(ModelCache(), JobContext.inline())
    forced = dataclasses.replace(job, force=True).run(ModelCache(), JobContext.inline())
    assert len(forced.takes) == 1


def test_the_app_finds_the_calibration_by_model_folder_without_loading_it(tmp_path):
    store = tmp_path / "calib.json"
    folder = tmp_path / "acestep-v15-base"
    assert pf.calibration_for_model(folder, "cpu", store) is None
    pf.save_calibration(_calib(key="k1"), store, alias=(pf.model_alias(folder, "cpu"), "base"))
    found, family = pf.calibration_for_model(folder, "cpu", store)
    assert found.key == "k1" and family == "base"
    assert pf.calibration_for_model(folder, "cuda", store) is None  # another kind of device
    assert pf.stored_calibration("k1", store).key == "k1"  # the index never shadows a calibration
    pf.save_calibration(_calib(key="k2"), store, alias=(pf.model_alias(folder, "cpu"), "base"))
    assert pf.calibration_for_model(folder, "cpu", store)[0].key == "k2"  # the latest measurement wins
