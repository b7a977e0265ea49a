"""Upstream's newer features (since April 2026): retake and cover-nofsq, through the request,
the CLI and the sidecar, each with the invariant that defines it."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import torch

from engine.errors import ValidationError
from engine.models.tiny.dit_checkpoint import TINY_LATENT_CHANNELS as LC
from engine.tasks import constants as C
from engine.tasks.request import GenerationRequest, request_from_dict
from tests.engine.denoise_spy import DenoiseSpy

SOURCE = (0.2 * np.sin(2 * np.pi * 220.0 * np.arange(C.SAMPLE_RATE) / C.SAMPLE_RATE)).astype(np.float32)
SOURCE = np.stack([SOURCE, np.roll(SOURCE, 50)])  # [2, 48000]: 1 s


@pytest.fixture(scope="module")
def turbo(tiny_checkpoints):
    from engine.tasks.pipeline import GenerationPipeline

    return GenerationPipeline.from_checkpoints(tiny_checkpoints, task="text2music")


def _cli_request(*argv: str) -> GenerationRequest:
    from engine.cli.generate import register, request_from_args

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return request_from_args(parser.parse_args(["generate", "--caption", "x", *argv]))


# ---- retake ------------------------------------------------------------------------------------
def test_retake_noise_is_the_cosine_sine_blend_of_the_two_seeds(turbo):
    from engine.tasks.conditioning import plan_task

    req = GenerationRequest(caption="x", duration=6.0, seeds=(3, 4), retake_seed=100, retake_variance=0.3)
    plan = plan_task(req, None)
    mixed = turbo.prepare_latents(plan, (3, 4), None, req)
    own = turbo.prepare_latents(plan, (3, 4))
    other = turbo.prepare_latents(plan, (100, 101))  # item k blends with retake_seed + k
    angle = 0.3 * math.pi / 2
    torch.testing.assert_close(mixed, math.cos(angle) * own + math.sin(angle) * other)
    assert torch.equal(turbo.prepare_latents(plan, (3, 4), None, req.with_changes(retake_variance=0.0)), own)


def test_retake_makes_a_nearby_variation_and_round_trips_through_the_sidecar(turbo):
    base = GenerationRequest(caption="lofi piano", duration=6.0, seeds=(7,))
    take = turbo(base).takes[0]
    near = turbo(base.with_changes(retake_seed=99, retake_variance=0.15)).takes[0]
    other = turbo(base.with_changes(seeds=(99,))).takes[0]
    assert not np.array_equal(near.latents, take.latents)
    # Nearby: much closer to the take than another seed's take is.
    assert np.abs(near.latents - take.latents).mean() < 0.5 * np.abs(other.latents - take.latents).mean()
    sidecar = json.loads(json.dumps(near.provenance.to_dict()))
    assert (sidecar["request"]["retake_seed"], sidecar["request"]["retake_variance"]) == (99, 0.15)
    again = turbo(request_from_dict(sidecar["request"])).takes[0]
    assert np.array_equal(again.audio, near.audio)


def test_retake_cli_and_validation():
    req = _cli_request("--retake-seed", "5", "--retake-variance", "0.4")
    assert (req.retake_seed, req.retake_variance) == (5, 0.4)
    assert _cli_request().retake_variance == 0.0
    from engine.tasks.request import validate_request

    with pytest.raises(ValidationError, match="retake_seed"):
        validate_request(GenerationRequest(retake_variance=0.5))
    with pytest.raises(ValidationError, match="retake_variance"):
        validate_request(GenerationRequest(retake_seed=1, retake_variance=1.5))


# ---- cover-nofsq -------------------------------------------------------------------------------
def test_cover_nofsq_feeds_the_raw_vae_latents_where_cover_feeds_the_fsq_roundtrip(turbo):
    req = GenerationRequest(task="cover-nofsq", caption="jazz trio", source_audio=SOURCE, seeds=(5,))
    raw = turbo._encode_audio(SOURCE, (5,), "source")[0]  # [T', C] posterior sample
    with DenoiseSpy(turbo.dit) as spy:
        take = turbo(req).takes[0]
    frames = raw.shape[0]
    src_seen = spy.contexts[0][0, :, :LC]
    torch.testing.assert_close(src_seen[:frames], raw)  # no FSQ roundtrip
    with DenoiseSpy(turbo.dit) as cover_spy:
        turbo(req.with_changes(task="cover"))
    assert not torch.allclose(cover_spy.contexts[0][0, :frames, :LC], raw, atol=1e-3)
    from engine.tasks.conditioning import plan_task

    plan = plan_task(req, SOURCE)
    assert C.INSTRUCTIONS["cover"] in plan.caption and not plan.is_cover
    assert take.provenance.task == "cover-nofsq"
    assert _cli_request("--task", "cover-nofsq", "--src", "a.wav").task == "cover-nofsq"
    sidecar_req = request_from_dict(json.loads(json.dumps(take.provenance.to_dict()))["request"] | {"source_audio": None})
    assert sidecar_req.task == "cover-nofsq"
    from engine.tasks.request import validate_request

    with pytest.raises(ValidationError, match="source_audio"):
        validate_request(GenerationRequest(task="cover-nofsq", caption="x"))


# ---- Heun sampler mode -------------------------------------------------------------------------
def test_heun_integrates_a_time_linear_velocity_exactly_where_euler_does_not():
    """v(x, t) = a·t: the exact flow from x(1) is x + a·(t'² − t²)/2 per step, which Heun's
    trapezoid reproduces; every step but the last evaluates the model twice."""
    from engine.sampling.sampler import Condition, SamplerOptions, sample

    a = torch.randn(1, 6, 64, generator=torch.Generator().manual_seed(0))
    calls = []

    def model(x, t, condition):
        calls.append(t)
        return a.expand_as(x) * t

    cond = Condition(torch.zeros(1, 2, 8), torch.ones(1, 2), torch.zeros(1, 6, 128))
    noise = torch.randn(1, 6, 64, generator=torch.Generator().manual_seed(1))
    schedule = [1.0, 0.75, 0.5, 0.25, 0.0]
    heun = sample(model, noise, cond, SamplerOptions(schedule=schedule, sampler_mode="heun"))
    assert calls == [1.0, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25]  # 2 per step, the final step once
    last = schedule[-2]
    before_final = noise + a * (last**2 - 1.0) / 2  # exact solution at t = 0.25
    torch.testing.assert_close(heun, before_final - a * last * last)  # final step: x − v·t
    calls.clear()
    euler = sample(model, noise, cond, SamplerOptions(schedule=schedule))
    assert len(calls) == 4 and not torch.allclose(euler, heun)
    with pytest.raises(ValueError, match="ode"):
        sample(model, noise, cond, SamplerOptions(schedule=schedule, sampler_mode="heun", infer_method="sde"),
               sde_noise=lambda i: noise)


def test_heun_through_the_request_cli_and_sidecar(turbo):
    req = GenerationRequest(caption="x", duration=5.0, seeds=(2,), sampler_mode="heun")
    calls = []
    original = turbo.dit.denoise

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    turbo.dit.denoise = counting
    try:
        take = turbo(req).takes[0]
    finally:
        turbo.dit.denoise = original
    assert len(calls) == 2 * 8 - 1  # turbo: 8 steps, the final one without a corrector
    assert take.provenance.request["sampler_mode"] == "heun"
    again = turbo(request_from_dict(json.loads(json.dumps(take.provenance.to_dict()))["request"])).takes[0]
    assert np.array_equal(again.audio, take.audio)
    assert _cli_request("--sampler-mode", "heun").sampler_mode == "heun"
    from engine.tasks.request import validate_request

    with pytest.raises(ValidationError, match="sampler_mode"):
        validate_request(GenerationRequest(sampler_mode="heun", infer_method="sde"))
