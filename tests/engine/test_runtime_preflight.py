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


def _vae_s(c, frames):
    return sum(c.vae_decode.seconds(t) for t in pf.decode_tiles(frames, c.vae_chunk, c.vae_overlap))


def test_seconds_scale_with_frames_steps_batch_and_guidance():
    c = _calib()
    t = lambda **kw: pf.predict(_req(**kw), c, "turbo", 64 * GB).seconds  # noqa: E731
    assert t(duration=60) > t(duration=30) > t(duration=10)
    base = lambda **kw: pf.predict(_req(**kw), c, "base", 64 * GB)  # noqa: E731
    with_cfg, without = base(duration=30, steps=32), base(duration=30, steps=32, guidance_scale=1.0)
    assert dict(with_cfg.stage_seconds)["diffusion"] > dict(without.stage_seconds)["diffusion"]
    turbo = pf.predict(_req(duration=30), c, "turbo", 64 * GB)
    expected = 0.5 + 8 * (0.2 + 0.004 * 750) + _vae_s(c, 750)
    assert turbo.seconds == pytest.approx(expected)
    with_setup = pf.predict(_req(duration=30), _calib(diffusion_run=pf.StageCost(1.0, 0.001, 0, 0)), "turbo", 64 * GB)
    assert with_setup.seconds == pytest.approx(expected + 1.0 + 0.75)  # once per run, not per step


def test_per_call_overheads_are_not_multiplied_by_the_batch():
    """Text is encoded once per call and a step's fixed cost is paid once per forward: only the
    per-frame work grows with the batch (and with guidance, which doubles the rows)."""
    c = _calib()
    one = dict(pf.predict(_req(duration=30), c, "turbo", 64 * GB).stage_seconds)
    two = dict(pf.predict(_req(duration=30, batch_size=2), c, "turbo", 64 * GB).stage_seconds)
    assert two["text encode"] == one["text encode"] == 0.5
    assert two["diffusion"] == pytest.approx(8 * (0.2 + 0.004 * 750 * 2))
    assert two["vae decode"] == pytest.approx(2 * one["vae decode"])  # items decode one at a time
    cfg = dict(pf.predict(_req(duration=30, steps=8), c, "base", 64 * GB).stage_seconds)
    assert cfg["diffusion"] == pytest.approx(two["diffusion"])  # 1 item x2 rows == 2 items


def test_vae_decode_is_costed_per_tile_and_its_memory_bounded_by_the_largest_tile():
    assert pf.decode_tiles(400, 512, 64) == [400]
    tiles = pf.decode_tiles(1500, 512, 64)  # 60 s: windows of <= 512 frames, stride 384
    assert max(tiles) <= 512 and sum(tiles) > 1500 and len(tiles) == 4
    c = _calib(diffusion_step=pf.StageCost(0.2, 0.004, 0.0, 0.0), text_encode=pf.StageCost(0.5, 0.0, 0.0, 0.0))
    long = pf.predict(_req(duration=240), c, "turbo", 64 * GB)
    tile_bytes = c.vae_decode.bytes(512)
    audio = pf.AUDIO_BYTES_PER_FRAME * 2 * (6000 - 512)
    assert long.peak_bytes == int(c.weights_bytes + tile_bytes + audio)
    assert long.peak_bytes - c.weights_bytes < c.vae_decode.bytes(6000)  # not extrapolated per frame


def test_attention_makes_a_long_step_cost_more_than_its_length():
    class Config:
        hidden_size, num_attention_heads, num_key_value_heads, head_dim = 2048, 16, 8, 128
        intermediate_size, patch_size = 6144, 2

    class Dit:
        config = Config()

    share, patch = pf.attention_profile(Dit())
    assert patch == 2 and 5e-5 < share < 1e-4  # real 2B DiT: 8192 / ~117 MFLOP per token
    assert pf.attention_profile(object()) == (0.0, 2)  # no config: purely linear
    c = _calib(attention_per_token=share, text_encode=pf.StageCost(0, 0, 0, 0),
               diffusion_step=pf.StageCost(0.0, 0.004, 0, 0), vae_decode=pf.StageCost(0, 0, 0, 0))
    step = lambda secs: dict(pf.predict(_req(duration=secs), c, "turbo", 64 * GB).stage_seconds)["diffusion"]  # noqa: E731
    assert step(240) / step(30) == pytest.approx((1 + share * 3000) / (1 + share * 375) * 8)
    assert step(240) / step(30) > 8 * 1.15  # ~20 % more per frame at 4 minutes


def test_fits_line_and_the_advice_when_it_does_not():
    c = _calib()
    ok = pf.predict(_req(duration=30), c, "turbo", 64 * GB)
    assert ok.fits and ok.line.startswith("fits · about ") and ok.line.endswith(" s")
    assert ok.peak_bytes == int(4 * GB + (0.2 + 0.0002 * 750) * GB)
    big = pf.predict(_req(duration=240, batch_size=4), c, "turbo", 8 * GB, offload_possible=True)
    assert not big.fits
    assert big.line == "needs 9.0 GB, you have 8.0 GB: try batch 3 / 180 s / offload"  # 4 + 0.2 + 4 x 1.2
    assert "offload" in big.suggestions and any(s.endswith(" s") for s in big.suggestions)
    for suggestion in big.suggestions:  # every suggestion on its own really fits
        if suggestion.startswith("batch"):
            assert pf.predict(_req(duration=240, batch_size=int(suggestion.split()[1])), c, "turbo", 8 * GB).fits
        elif suggestion.endswith(" s"):
            assert pf.predict(_req(duration=float(suggestion[:-2]), batch_size=4), c, "turbo", 8 * GB).fits


def test_weights_too_big_for_any_batch_or_length_suggest_a_smaller_model():
    c = _calib(weights_bytes=10 * GB)
    cpu = pf.predict(_req(duration=30), c, "turbo", 8 * GB, offload_possible=False)
    assert not cpu.fits and cpu.suggestions == ("a smaller model",)
    assert cpu.line.startswith("needs ") and cpu.line.endswith(": try a smaller model")
    gpu = pf.predict(_req(duration=30), c, "turbo", 8 * GB, offload_possible=True)
    assert gpu.suggestions == ("offload",)  # offload moves the idle models out: that can help


def test_unknown_family_is_a_clear_error():
    with pytest.raises(Exception, match="family"):
        pf.predict(_req(), _calib(), "xl", GB)


@pytest.fixture(scope="module")
def tiny_pipeline(tiny_checkpoints):
    from engine.tasks.pipeline import GenerationPipeline

    return GenerationPipeline.from_checkpoints(tiny_checkpoints)


@pytest.fixture(scope="module")
def stored(tiny_pipeline, tmp_path_factory):
    """One real calibration of the tiny pipeline, stored where the app and the CLI look for it.

    In a data folder of this module's own: other tests (the planner-LM preflight's dry run)
    calibrate the same tiny tree into the session's shared one, and this must see a fresh one."""
    with pytest.MonkeyPatch.context() as data:
        data.setenv("LEGATO_DATA_DIR", str(tmp_path_factory.mktemp("preflight-data")))
        # Users get two or more repeats at 5 s and 20 s; on the shared 2-core test machine that is
        # a minute: one run per length here.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pf, "CALIBRATION_SECONDS", (6.0, 8.0))
            patch.setattr(pf, "CALIBRATION_REPEATS", 1)
            patch.setattr(pf, "CALIBRATION_BUDGET_S", 0.0)
            assert pf.stored_calibration(pf.calibration_key(tiny_pipeline)) is None
            calibration = pf.load_or_calibrate(tiny_pipeline)
        yield calibration


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


def test_a_new_shape_costs_its_extra_once_per_distinct_tile_and_run():
    """Warm costs are paid by every tile of every item; the extra of a shape this process has not
    run yet is paid once per distinct tile length (the first item) and once by the DiT run."""
    extra = pf.StageCost(0.3, 0.0, 0.0, 0.0)
    c = _calib(vae_new_shape=extra, diffusion_new_shape=pf.StageCost(0.7, 0.0, 0.0, 0.0))
    plain = dict(pf.predict(_req(duration=30, batch_size=2), _calib(), "turbo", 64 * GB).stage_seconds)
    cold = dict(pf.predict(_req(duration=30, batch_size=2), c, "turbo", 64 * GB).stage_seconds)
    assert pf.decode_tiles(750, 512, 64) == [448, 430]  # two distinct tile lengths
    assert cold["vae decode"] == pytest.approx(plain["vae decode"] + 2 * 0.3)  # not 2 items x 2 tiles
    assert cold["diffusion"] == pytest.approx(plain["diffusion"] + 0.7)  # once, not per step
    sixty = pf.decode_tiles(1500, 512, 64)
    assert len(set(sixty)) < len(sixty)  # equal middle tiles are warm after the first


def test_shapes_this_process_already_ran_pay_no_new_shape_extra():
    """A second take of a length the models already ran is charged warm: the DiT shape and each
    decode tile length in `seen` lose their extra, the others keep it."""
    c = _calib(vae_new_shape=pf.StageCost(0.3, 0.0, 0.0, 0.0), diffusion_new_shape=pf.StageCost(0.7, 0.0, 0.0, 0.0))
    cold = dict(pf.predict(_req(duration=30), c, "turbo", 64 * GB).stage_seconds)
    warm_dit = pf.SeenShapes(dit=frozenset({(1, 750)}))
    assert dict(pf.predict(_req(duration=30), c, "turbo", 64 * GB, seen=warm_dit).stage_seconds)["diffusion"] \
        == pytest.approx(cold["diffusion"] - 0.7)
    # Two rows of the same length are another shape: still new.
    two = pf.predict(_req(duration=30, batch_size=2), c, "turbo", 64 * GB, seen=warm_dit)
    assert dict(two.stage_seconds)["diffusion"] > dict(pf.predict(_req(duration=30, batch_size=2), _calib(
        vae_new_shape=c.vae_new_shape), "turbo", 64 * GB).stage_seconds)["diffusion"]
    one_tile = pf.SeenShapes(vae=frozenset({448}))  # 750 frames decode as tiles of 448 and 430
    assert dict(pf.predict(_req(duration=30), c, "turbo", 64 * GB, seen=one_tile).stage_seconds)["vae decode"] \
        == pytest.approx(cold["vae decode"] - 0.3)


def test_measured_extra_rows_replace_charging_every_row_as_the_first():
    """With the calibration's batch-2 measurement a second row costs what it measured (almost
    nothing on an overhead-bound tiny DiT), in seconds and in memory; without it, in full."""
    full = _calib()
    cheap = _calib(rows_measured=True, diffusion_row=pf.StageCost(0.0, 0.001, 0.0, 0.00005 * GB))
    one = dict(pf.predict(_req(duration=30), cheap, "turbo", 64 * GB).stage_seconds)["diffusion"]
    two = pf.predict(_req(duration=30, batch_size=2), cheap, "turbo", 64 * GB)
    assert dict(two.stage_seconds)["diffusion"] == pytest.approx(one + 8 * 0.001 * 750)
    assert dict(pf.predict(_req(duration=30, batch_size=2), full, "turbo", 64 * GB).stage_seconds)["diffusion"] \
        == pytest.approx(8 * (0.2 + 0.004 * 750 * 2))
    step_peak = lambda c, b: pf.predict(_req(duration=240, batch_size=b), c, "turbo", 64 * GB).peak_bytes  # noqa: E731
    assert step_peak(cheap, 3) - step_peak(cheap, 1) == pytest.approx(2 * 0.00005 * GB * 6000, rel=1e-6)
    # Guidance doubles the rows: one base item with CFG is one extra row at the measured cost.
    cfg = dict(pf.predict(_req(duration=30, steps=8), cheap, "base", 64 * GB).stage_seconds)["diffusion"]
    assert cfg == pytest.approx(dict(two.stage_seconds)["diffusion"])


@pytest.mark.slow  # real (tiny) pipeline runs on the CPU
def test_calibration_measures_extra_rows_and_the_models_remember_their_shapes(tiny_pipeline, stored):
    assert stored.rows_measured and stored.diffusion_row.per_frame_s >= 0.0
    seen = pf.seen_shapes(tiny_pipeline)
    frames = pf.request_frames(_req(duration=8.0))  # the calibration's longer length (patched above)
    assert (1, frames) in seen.dit and (pf.CALIBRATION_BATCH, frames) in seen.dit
    assert frames in seen.vae
    # The batch-2 run stopped after diffusion: it decoded nothing of its own.
    assert frames + 3 in seen.vae  # the warm-up window past the longest length
    warm = pf.predict(_req(duration=8.0), stored, tiny_pipeline.family, 64 * GB, seen=seen)
    cold = pf.predict(_req(duration=8.0), stored, tiny_pipeline.family, 64 * GB)
    assert warm.seconds <= cold.seconds


def test_a_new_shape_peaks_higher_once_and_a_seen_one_does_not():
    """The first decode of a tile length, and the first DiT run of a shape, allocate oneDNN's
    per-shape primitives on top of the warm peak; once run, that extra is not charged again."""
    c = _calib(vae_new_shape=pf.StageCost(0.0, 0.0, 0.5 * GB, 0.0),
               diffusion_new_shape=pf.StageCost(0.0, 0.0, 0.2 * GB, 0.0))
    req = _req(duration=30)
    cold = pf.predict(req, c, "turbo", 64 * GB).peak_bytes
    warm = pf.predict(req, c, "turbo", 64 * GB, seen=pf.SeenShapes(dit=frozenset({(1, 750)}),
                                                                  vae=frozenset({448, 430}))).peak_bytes
    assert warm == pf.predict(req, _calib(), "turbo", 64 * GB).peak_bytes
    step = 0.2 * GB + 0.0002 * GB * 750  # warm DiT step peak, the largest warm stage
    vae_first = 0.1 * GB + 0.0001 * GB * 448 + pf.AUDIO_BYTES_PER_FRAME * 2 * (750 - 448) + 0.5 * GB
    assert warm == pytest.approx(4 * GB + step)
    assert cold == pytest.approx(4 * GB + max(step + 0.2 * GB, vae_first))  # the new tile's decode peaks


@pytest.mark.slow  # real (tiny) pipeline runs on the CPU
def test_more_warm_repeats_within_the_budget_outvote_one_disturbed_run(tiny_pipeline, monkeypatch):
    """One warm run slowed by something else on the machine set a length's cost when it was the
    only warm sample; repeats within the time budget keep the fastest."""
    vae = tiny_pipeline.models.vae
    longer = pf.request_frames(_req(duration=10.0))  # 1-5 s all run 128 frames
    decodes_of_longer = []
    real_decode = vae.decode

    def decode_disturbing_the_first_warm_run(z, *args, **kwargs):  # z: [1, T, C]
        if z.shape[1] == longer:
            decodes_of_longer.append(z.shape[1])
            if len(decodes_of_longer) == 2:  # the longer length's first warm repeat
                import time

                time.sleep(1.0)
        return real_decode(z, *args, **kwargs)

    monkeypatch.setattr(vae, "decode", decode_disturbing_the_first_warm_run)
    monkeypatch.setattr(pf, "CALIBRATION_MAX_REPEATS", 4)
    lone = pf.calibrate(tiny_pipeline, lengths=(6.0, 10.0), repeats=2, budget_s=0.0)
    assert len(decodes_of_longer) == 2  # budget 0: exactly `repeats` runs
    assert lone.vae_decode.seconds(longer) >= 1.0  # the disturbed run was the only warm one

    decodes_of_longer.clear()
    voted = pf.calibrate(tiny_pipeline, lengths=(6.0, 10.0), repeats=2, budget_s=60.0)
    assert len(decodes_of_longer) == 4  # the budget allows more, CALIBRATION_MAX_REPEATS caps them
    # The undisturbed runs count: about 1 s less (a tiny 250-frame decode takes 0.2-0.5 s).
    assert voted.vae_decode.seconds(longer) < lone.vae_decode.seconds(longer) - 0.5


def test_two_lengths_of_the_same_frames_fit_no_slope():
    """Lengths under MIN_FRAMES all run 128 frames: their difference is noise, not a per-frame cost
    (divided by a one-frame span it became a per-frame cost: a 750-frame request paid it 750 times)."""
    same = pf._fit([(128, 0.30, 1e6), (128, 0.32, 3e6)])
    assert same == pf.StageCost(0.30, 0.0, 3e6, 0.0)
    line = pf._fit([(128, 0.3, 1e6), (500, 0.6, 2e6)])
    assert line.seconds(128) == pytest.approx(0.3) and line.seconds(500) == pytest.approx(0.6)


class _Ran:
    """A pipeline stand-in with what publish_seen_shapes reads (the real one is covered below)."""

    def __init__(self, folder, dit_shapes, vae_lengths):
        from types import SimpleNamespace

        self.family = "turbo"
        self.models = SimpleNamespace(identities=(SimpleNamespace(path=folder),), device=SimpleNamespace(type="cpu"),
                                      dit=SimpleNamespace(shapes_seen=set(dit_shapes)),
                                      vae=SimpleNamespace(window_lengths_seen=set(vae_lengths)))


def test_published_shapes_are_a_snapshot_that_retires_with_its_pipeline(tmp_path):
    import gc

    folder = tmp_path / "acestep-v15-turbo"
    assert pf.published_seen_shapes(folder, "cpu") == pf.SeenShapes()  # nothing ran it yet
    ran = _Ran(folder, {(1, 750)}, {448, 430})
    pf.publish_seen_shapes(ran)
    ran.models.vae.window_lengths_seen.add(999)  # the worker runs on; the UI holds a snapshot
    assert pf.published_seen_shapes(folder, "cpu") == pf.SeenShapes(dit=frozenset({(1, 750)}),
                                                                     vae=frozenset({448, 430}))
    assert pf.published_seen_shapes(folder, "cuda") == pf.SeenShapes()  # another device kind
    del ran
    gc.collect()
    assert pf.published_seen_shapes(folder, "cpu") == pf.SeenShapes()  # the model cache dropped it


@pytest.mark.slow  # a real (tiny) generation
def test_a_generate_job_publishes_what_its_pipeline_ran(tiny_checkpoints):
    from engine.jobs.generation import GenerateJob
    from engine.jobs.model_cache import ModelCache

    class _Ctx:
        def check_cancelled(self):
            pass

        def progress(self, *args, **kwargs):
            pass

    models = ModelCache()
    req = _req(duration=6.0, seeds=(1,))
    GenerateJob(request=req, checkpoints=tiny_checkpoints, device="cpu").run(models, _Ctx())
    seen = pf.published_seen_shapes(tiny_checkpoints / "acestep-v15-turbo", "cpu")
    assert (1, pf.request_frames(req)) in seen.dit and pf.request_frames(req) in seen.vae
