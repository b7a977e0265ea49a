"""Generation invariants on the tiny checkpoints (real loaders, real upstream layout).

Random weights make noise, so these check structure: lengths, determinism per seed, the audio
outside a repaint window untouched, lego/complete really hearing their context, cancel within a
step. The tiny VAE's encoder is slow on a CPU (~2 s per second of audio: it keeps the real
128-channel width at 48 kHz), so sources are short, and the repaint-geometry tests swap in a
fast stand-in ENCODER (`FastEncode`; decoding stays real): what they check is the pipeline's
region logic, which does not depend on what the encoder computes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import Cancelled, ValidationError
from engine.jobs.context import CancelToken, JobContext
from engine.models.tiny.dit_checkpoint import TINY_LATENT_CHANNELS as LC
from engine.tasks import constants as C
from engine.tasks.request import GenerationRequest
from tests.engine.denoise_spy import DenoiseSpy
from tests.fast_encoder import stand_in_latents

SR = C.SAMPLE_RATE
HOP = C.HOP


def _tone(seconds: float, freqs=(220.0, 330.0), seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    left = sum(0.2 * np.sin(2 * np.pi * f * t) for f in freqs) + 0.01 * rng.standard_normal(t.size)
    right = np.roll(left, 100)
    return np.stack([left, right]).astype(np.float32)


SOURCE = _tone(4.0)  # repaint geometry (fast encoder)
SHORT = _tone(1.0)  # real-encoder tests
OTHER_SHORT = _tone(1.0, freqs=(97.0, 611.0), seed=1)


class FastEncode:
    """A cheap deterministic stand-in for the VAE encoder: per-frame channel means through a fixed
    2->C projection. Same interface as AudioVAE.encode; [B, 2, S] -> [B, S // 1920, C]."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.vae = pipeline.models.vae

    def encode(self, audio, sample=True, generator=None, on_tile=None):
        if on_tile is not None:  # the job's cancel check, as the real encoder calls it per tile
            on_tile()
        return stand_in_latents(audio, self.vae.latent_channels)  # [B, 2, S] -> [B, T, C]

    def __enter__(self):
        self.pipeline._encode_cache.clear()
        self.original = self.vae.encode
        self.vae.encode = self.encode
        return self

    def __exit__(self, *exc):
        self.vae.encode = self.original
        self.pipeline._encode_cache.clear()


@pytest.fixture(scope="module")
def turbo(tiny_checkpoints):
    from engine.tasks.pipeline import GenerationPipeline

    return GenerationPipeline.from_checkpoints(tiny_checkpoints, task="text2music")


@pytest.fixture(scope="module")
def base(tiny_checkpoints):
    from engine.tasks.pipeline import GenerationPipeline

    return GenerationPipeline.from_checkpoints(tiny_checkpoints, task="lego")


def test_text2music_length_batch_items_and_provenance(turbo):
    result = turbo(GenerationRequest(caption="lofi piano", lyrics="la la", duration=6.0, batch_size=2, seeds=(1, 2)))
    assert len(result.takes) == 2
    take = result.takes[1]
    assert take.audio.shape == (2, 150 * HOP) and take.audio.dtype == np.float32
    assert not take.audio.flags.writeable and not take.latents.flags.writeable
    assert take.latents.shape == (150, LC) and len(take.codes) == 30
    prov = take.provenance
    assert prov.seed == 2 and prov.item_index == 1 and prov.request["seeds"] == [1, 2]
    assert prov.models[0].name == "acestep-v15-turbo" and len(dict(prov.models[0].weight_sha256)["model.safetensors"]) == 64
    assert dict(prov.timings_s)["diffusion"] > 0
    # Item k of a batch equals a single run with seed k: identical noise, same result up to the
    # float re-association of batched matmuls.
    single = turbo(GenerationRequest(caption="lofi piano", lyrics="la la", duration=6.0, seeds=(2,)))
    np.testing.assert_allclose(single.takes[0].latents, take.latents, atol=2e-5)
    np.testing.assert_allclose(single.takes[0].audio, take.audio, atol=2e-4)
    assert not np.allclose(result.takes[0].latents, take.latents)  # different seeds differ


def test_same_request_same_seed_is_bit_identical(turbo):
    req = GenerationRequest(caption="x", duration=5.0, seeds=(11,), infer_method="sde", dcw_enabled=True)
    a, b = turbo(req), turbo(req)
    assert np.array_equal(a.takes[0].audio, b.takes[0].audio)


def test_min_length_is_128_frames(turbo):
    take = turbo(GenerationRequest(caption="x", duration=2.0, seeds=(3,))).takes[0]
    assert take.audio.shape[1] == 128 * HOP


def test_cancel_stops_within_one_step(turbo):
    token = CancelToken()
    calls = []
    original = turbo.dit.denoise

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    def on_progress(p):
        if p.stage == "diffusion" and p.step == 2:
            token.cancel()

    turbo.dit.denoise = counting
    try:
        with pytest.raises(Cancelled):
            turbo(GenerationRequest(caption="x", duration=5.0, seeds=(1,)),
                  JobContext(cancel_token=token, on_progress=on_progress))
    finally:
        turbo.dit.denoise = original
    assert len(calls) <= 3  # cancelled while step 2 ran: step 3 never starts


class StepSpy:
    """Wraps dit.denoise to record, per call: x [B', T, C], t, context [B', T, 2C] and the
    condition states [B', L, H] the model was given."""

    def __init__(self, dit):
        self.dit, self.original, self.calls = dit, dit.denoise, []

    def __enter__(self):
        def spy(x, t, r, context_latents, encoder_hidden_states, *args, **kwargs):
            self.calls.append((x.detach().clone(), float(t), context_latents.detach().clone(),
                               encoder_hidden_states.detach().clone()))
            return self.original(x, t, r, context_latents, encoder_hidden_states, *args, **kwargs)

        self.dit.denoise = spy
        return self

    def __exit__(self, *exc):
        self.dit.denoise = self.original


CODES_A = tuple(range(100, 130))  # 30 codes = 6 s = 150 frames
CODES_B = tuple(range(5000, 5030))


def _hints_of(dit, codes):
    return dit.detokenize(torch.tensor(codes)[None, :, None]).latents_25hz.float()  # [1, 150, C]


def test_cover_from_source_uses_the_source(turbo):
    from engine.tasks.diffusion import fit_frames, fsq_hints

    silence = turbo.dit.silence_frames(128).float()
    outputs = []
    # The real tiny VAE encoder (cheap since the tiny latent has 8 channels): the stand-in's
    # near-zero per-frame means of two tones FSQ-quantise to the same codes.
    for source in (SHORT, OTHER_SHORT):
        with StepSpy(turbo.dit) as spy:
            take = turbo(GenerationRequest(task="cover", source_audio=source, caption="jazz", seeds=(7,))).takes[0]
        assert take.audio.shape == (2, 128 * HOP)  # 1 s source -> 25 frames -> min 128
        # The model sees the FSQ round trip of THIS source (padded with silence to 128 frames)
        encoded = fit_frames(turbo._encode_audio(source, (7,), "source"), 128, silence)
        torch.testing.assert_close(spy.calls[0][2][:, :, :LC], fsq_hints(turbo.dit, encoded))
        outputs.append(take.latents)
    assert not np.allclose(outputs[0], outputs[1], atol=1e-4), "a different source must change the cover"


def test_cover_from_codes_uses_the_codes(turbo):
    outputs = []
    for codes in (CODES_A, CODES_B):
        with StepSpy(turbo.dit) as spy:
            take = turbo(GenerationRequest(audio_codes=codes, seeds=(7,))).takes[0]
        assert take.audio.shape == (2, 150 * HOP)
        torch.testing.assert_close(spy.calls[0][2][:, :, :LC], _hints_of(turbo.dit, codes))
        outputs.append(take.latents)
    assert not np.allclose(outputs[0], outputs[1], atol=1e-4), "different codes must change the output"


def test_cover_strength_switches_condition_at_int_steps_times_strength(turbo):
    # audio_cover_strength 0.45 on 8 turbo steps: upstream switches at int(8 * 0.45) = 3 to the
    # text2music caption with silence as context (round() would say 4).
    base_req = GenerationRequest(audio_codes=CODES_A, caption="jazz", seeds=(7,))
    runs = {}
    for strength in (1.0, 0.45):
        with StepSpy(turbo.dit) as spy:
            turbo(base_req.with_changes(audio_cover_strength=strength))
        runs[strength] = spy.calls
    full, part = runs[1.0], runs[0.45]
    assert len(full) == len(part) == 8
    hints, silence = _hints_of(turbo.dit, CODES_A), turbo.dit.silence_frames(150).float()
    for i in range(8):
        ctx = part[i][2][:, :, :LC]
        torch.testing.assert_close(ctx, hints if i < 3 else silence)
        torch.testing.assert_close(full[i][2][:, :, :LC], hints)
        same_condition = torch.equal(part[i][3], full[i][3])
        assert same_condition == (i < 3), f"step {i}: condition switched at the wrong step"
        # x entering step i depends only on steps < i: identical up to the switch, then apart
        assert torch.equal(part[i][0], full[i][0]) == (i <= 3), f"step {i}: trajectory"


@pytest.mark.parametrize("strength,first", [(0.5, 6), (0.25, 4)])
def test_cover_noise_strength_starts_from_the_source_at_the_nearest_step(turbo, strength, first):
    # turbo shift 3 table: [1, .955, .9, .833, .75, .643, .5, .3, 0]; 1 - 0.5 -> index 6, 0.75 -> 4
    from engine.sampling.schedules import turbo_schedule

    table = turbo_schedule(3.0)
    noise = torch.randn(1, 150, LC, generator=torch.Generator().manual_seed(3))
    req = GenerationRequest(audio_codes=CODES_A, seeds=(7,), cover_noise_strength=strength)
    with StepSpy(turbo.dit) as spy:
        take = turbo(req, initial_noise=noise).takes[0]
    assert [t for _, t, _, _ in spy.calls] == pytest.approx(table[first:-1])
    t0 = table[first]
    expected_x0 = t0 * noise + (1.0 - t0) * _hints_of(turbo.dit, CODES_A)  # mixed with the source
    torch.testing.assert_close(spy.calls[0][0], expected_x0)
    assert take.provenance.schedule == pytest.approx(table[first:])


def test_repaint_leaves_audio_outside_the_window_unchanged(turbo):
    req = GenerationRequest(task="repaint", source_audio=SOURCE, repaint_start=0.5, repaint_end=3.5, seeds=(7,))
    with FastEncode(turbo):
        take = turbo(req).takes[0]
        clean = turbo._encode_audio(SOURCE, (7,), "source")[0].numpy()
    assert take.audio.shape == (2, 128 * HOP)
    margin = int(0.025 * SR)  # balanced mode: 25 ms waveform crossfade
    a, b = int(0.5 * SR), int(3.5 * SR)
    np.testing.assert_array_equal(take.audio[:, : a - margin], SOURCE[:, : a - margin])
    np.testing.assert_array_equal(take.audio[:, b + margin : SOURCE.shape[1]], SOURCE[:, b + margin :])
    assert not np.allclose(take.audio[:, a:b], SOURCE[:, a:b], atol=1e-3)  # the window was regenerated
    # In latent space, frames beyond the 12-frame blend are exactly the clean source latents.
    s = int(0.5 * SR // HOP)
    np.testing.assert_array_equal(take.latents[: s - 12], clean[: s - 12])


def test_extend_and_intro_produce_the_requested_length(turbo):
    # 4 s source, window 3..7 s: the source is extended to 7 s.
    with FastEncode(turbo):
        extend = turbo(GenerationRequest(task="repaint", source_audio=SOURCE, repaint_start=3.0, repaint_end=7.0,
                                         seeds=(7,))).takes[0]
        intro = turbo(GenerationRequest(task="repaint", source_audio=SOURCE, repaint_start=-3.0, repaint_end=1.0,
                                        seeds=(7,))).takes[0]
    assert extend.audio.shape[1] == int(7.0 * SR) // HOP * HOP
    np.testing.assert_array_equal(extend.audio[:, : int(2.9 * SR)], SOURCE[:, : int(2.9 * SR)])
    # Window -3..1 s: a 3 s intro is added before the source; the source follows, shifted.
    assert intro.audio.shape[1] == int(7.0 * SR) // HOP * HOP
    shift = 3 * SR
    np.testing.assert_array_equal(intro.audio[:, shift + int(1.1 * SR) : shift + SOURCE.shape[1]],
                                  SOURCE[:, int(1.1 * SR) :])


@pytest.mark.parametrize("task,tracks", [("lego", ("drums",)), ("complete", ("drums", "bass"))])
def test_lego_and_complete_hear_their_context(base, task, tracks):
    silence = base.dit.silence_frames(128).float()
    outputs = []
    for source in (SHORT, OTHER_SHORT):
        with DenoiseSpy(base.dit) as spy:
            take = base(GenerationRequest(task=task, source_audio=source, tracks=tracks, steps=3,
                                          seeds=(7,))).takes[0]
        src_seen = spy.contexts[0][0, :, :LC]  # cond row: the source latents the model receives
        assert take.audio.shape == (2, 128 * HOP)
        assert not torch.allclose(src_seen[:25], silence[0, :25], atol=1e-3), "model got silence, not the context"
        expected = base._encode_audio(source, (7,), "source")[0]
        torch.testing.assert_close(src_seen[:25], expected[:25])
        outputs.append(take.audio)
    assert not np.allclose(outputs[0], outputs[1], atol=1e-4), "changing the context must change the output"


def test_extract_length_and_base_only_rule(base, turbo):
    take = base(GenerationRequest(task="extract", source_audio=SHORT, tracks=("vocals",), steps=2,
                                  seeds=(7,))).takes[0]
    assert take.audio.shape == (2, 128 * HOP)
    with pytest.raises(ValidationError, match="^model:"):
        turbo(GenerationRequest(task="extract", source_audio=SHORT, tracks=("vocals",)))


@pytest.mark.parametrize(("task", "tracks"), [("lego", ("bass",)), ("extract", ("vocals",)),
                                             ("complete", ("drums", "bass"))])
def test_context_tasks_never_drop_their_source_when_thinking(base, task, tracks, monkeypatch):
    """Upstream bug #1286: with thinking on, the LM's codes replaced the source of lego/complete/
    extract. Legato never runs the planner for them, and neither the LM's nor pasted codes
    replace the source latents the DiT hears: the take is the same as without thinking."""
    def no_planner(*args, **kwargs):
        raise AssertionError("the planner LM must not run for a context task")

    monkeypatch.setattr(base, "planner", no_planner)
    monkeypatch.setattr(base, "_generate_with_planner", no_planner)
    plain = GenerationRequest(task=task, source_audio=SHORT, tracks=tracks, steps=2, seeds=(7,))
    expected = base._encode_audio(SHORT, (7,), "source")[0]
    takes = []
    for req in (plain, plain.with_changes(thinking=True), plain.with_changes(thinking=True, audio_codes=(5,) * 10)):
        with DenoiseSpy(base.dit) as spy:
            takes.append(base(req).takes[0])
        torch.testing.assert_close(spy.contexts[0][0, :25, :LC], expected[:25])  # the source, not codes
    for take in takes[1:]:
        np.testing.assert_array_equal(take.audio, takes[0].audio)
        assert take.provenance.lm_metadata == ()


def test_base_guidance_methods_each_give_their_own_result(base):
    """CFG, APG and ADG through the pipeline: each output is the sampler run with that method
    (replayed from the recorded model outputs with the guidance primitives that
    test_conformance_guidance_primitives checks against upstream), and all three differ."""
    from engine.sampling.guidance import MomentumBuffer, adg, apg, cfg
    from engine.sampling.steps import ode_step, predicted_clean

    req = GenerationRequest(caption="x", duration=5.0, steps=2, seeds=(1,), guidance_scale=5.0)
    latents = {}
    for method in ("apg", "adg", "cfg"):
        with StepSpy(base.dit) as spy:
            take = base(req.with_changes(guidance_method=method)).takes[0]
        latents[method] = torch.from_numpy(np.array(take.latents))
        assert len(spy.calls) == 2 and spy.calls[0][0].shape[0] == 2  # cond + uncond rows
        # Replay the 2 steps with the model's own raw outputs and this method's formula
        x = spy.calls[0][0][:1]
        buffer = MomentumBuffer()
        for i, (_, t, _, _) in enumerate(spy.calls):
            torch.testing.assert_close(spy.calls[i][0][:1], x, atol=1e-5, rtol=0)
            v_raw = base.dit.denoise(spy.calls[i][0], t, t, spy.calls[i][2], spy.calls[i][3])
            vc, vu = v_raw[:1], v_raw[1:]
            if method == "cfg":
                v = cfg(vc, vu, 5.0)
            elif method == "apg":
                v = apg(vc, vu, 5.0, buffer, dims=(1,))
            else:
                v = adg(vc, vu, x, t, 5.0)
            x = predicted_clean(x, v, t) if i == 1 else ode_step(x, v, t, spy.calls[i + 1][1])
        torch.testing.assert_close(latents[method][None], x, atol=1e-5, rtol=0)
    for a, b in (("apg", "adg"), ("apg", "cfg"), ("adg", "cfg")):
        assert not torch.allclose(latents[a], latents[b], atol=1e-4), f"{a} and {b} gave the same result"


def test_turbo_step_rule(turbo):
    with pytest.raises(ValidationError, match="^steps:"):
        turbo(GenerationRequest(caption="x", steps=30))


def test_reference_audio_changes_the_timbre_condition(turbo):
    req = GenerationRequest(caption="x", duration=5.0, seeds=(5,))
    with FastEncode(turbo):
        plain = turbo(req).takes[0]
        with_ref = turbo(req.with_changes(reference_audio=SHORT)).takes[0]
        again = turbo(req.with_changes(reference_audio=SHORT)).takes[0]
    assert not np.allclose(plain.latents, with_ref.latents)
    assert np.array_equal(with_ref.audio, again.audio)  # the random 10 s windows are seeded per take


def test_repaint_to_the_end_checks_the_window_length(turbo):
    with pytest.raises(ValidationError, match="^repaint_start:"):
        turbo(GenerationRequest(task="repaint", source_audio=SHORT, repaint_start=0.0, repaint_end=-1, seeds=(1,)))


def test_dcw_is_on_for_turbo_by_default_with_a_switch_and_recorded_in_provenance(turbo, base):
    """Newest upstream default: DCW on for turbo (double, 0.05/0.02, haar); off = a switch."""
    default = GenerationRequest(caption="x", duration=5.0, seeds=(4,))
    options = turbo.sampler_options(default, turbo.schedule_for(default)).dcw
    assert (options.enabled, options.mode, options.scaler, options.high_scaler, options.wavelet) == (
        True, "double", 0.05, 0.02, "haar")
    assert base.sampler_options(default, base.schedule_for(default)).dcw.enabled is False
    off = default.with_changes(dcw_enabled=False)
    assert turbo.sampler_options(off, turbo.schedule_for(off)).dcw.enabled is False
    on_take, off_take = turbo(default).takes[0], turbo(off).takes[0]
    assert on_take.provenance.request["dcw_enabled"] is True  # the resolved choice, not None
    assert off_take.provenance.request["dcw_enabled"] is False
    assert not np.array_equal(on_take.latents, off_take.latents)  # the corrector really ran
    from engine.tasks.request import request_from_dict

    again = turbo(request_from_dict(on_take.provenance.request)).takes[0]
    assert np.array_equal(again.audio, on_take.audio)  # the sidecar's request re-runs it exactly
    with pytest.raises(ValidationError, match="dcw_wavelet"):
        turbo(default.with_changes(dcw_wavelet="db4"))


def test_cli_dcw_switch():
    import argparse

    from engine.cli.generate import register, request_from_args

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    base_args = ["generate", "--caption", "x", "--out", "o"]
    assert request_from_args(parser.parse_args(base_args)).dcw_enabled is None
    assert request_from_args(parser.parse_args([*base_args, "--no-dcw"])).dcw_enabled is False
    assert request_from_args(parser.parse_args([*base_args, "--dcw"])).dcw_enabled is True
