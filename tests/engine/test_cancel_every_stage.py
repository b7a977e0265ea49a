"""A cancel that returned True is always honoured, at every stage (VAE encode and decode too),
and one that comes too late says so (returns False) instead of promising a stop."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from engine.errors import Cancelled
from engine.jobs import JobCancelled, JobContext, JobFinished, JobQueue, JobSpec
from tests.engine.event_recorder import Recorder

WAIT_S = 30.0


@dataclass(frozen=True, kw_only=True)
class LastStepThenPause(JobSpec):
    """Checks cancel for the last time, then does uncheckable work (like a final decode tile)."""

    kind: ClassVar[str] = "pause"
    checked: threading.Event
    release: threading.Event

    def run(self, models, ctx):
        ctx.check_cancelled()
        self.checked.set()
        assert self.release.wait(WAIT_S)
        return "made it"


def test_a_cancel_after_the_last_check_still_ends_as_cancelled():
    recorder = Recorder()
    q = JobQueue(recorder)
    try:
        checked, release = threading.Event(), threading.Event()
        job = q.submit(LastStepThenPause(checked=checked, release=release))
        assert checked.wait(WAIT_S)
        assert q.cancel(job) is True  # promised ...
        release.set()
        assert q.wait_until_idle(WAIT_S)
    finally:
        q.shutdown(WAIT_S)
    final = recorder.of(job)[-1]
    assert isinstance(final, JobCancelled) and final.was_running  # ... and kept: no result
    assert not any(isinstance(e, JobFinished) for e in recorder.of(job))


def test_a_cancel_after_the_job_ended_returns_false():
    recorder = Recorder()
    q = JobQueue(recorder)
    try:
        checked, release = threading.Event(), threading.Event()
        release.set()
        job = q.submit(LastStepThenPause(checked=checked, release=release))
        assert q.wait_until_idle(WAIT_S)
        assert q.cancel(job) is False
    finally:
        q.shutdown(WAIT_S)
    assert isinstance(recorder.of(job)[-1], JobFinished)


# ------------------------------------------------------------------ the real pipeline, tiny models


@pytest.fixture(scope="module")
def pipeline(tiny_checkpoints):
    pytest.importorskip("torch")
    from engine.tasks.pipeline import GenerationPipeline

    return GenerationPipeline.from_checkpoints(tiny_checkpoints, task="repaint")


def _cancel_on_first_call(obj, name: str, ctx: JobContext) -> list[int]:
    """Wrap obj.name so the first call cancels ctx (the user clicks Cancel during that stage)."""
    calls = []
    original = getattr(obj, name)

    def wrapped(*args, **kwargs):
        calls.append(1)
        ctx.cancel_token.cancel()
        return original(*args, **kwargs)

    setattr(obj, name, wrapped)
    return calls


def test_cancel_during_vae_decode_stops_the_generation(pipeline, monkeypatch):
    from engine.tasks.request import GenerationRequest

    ctx = JobContext()
    vae = pipeline.models.vae
    calls = _cancel_on_first_call(vae, "_decode_window", ctx)
    try:
        with pytest.raises(Cancelled):
            pipeline(GenerationRequest(caption="x", duration=6.0, seeds=(1,)), ctx)
    finally:
        del vae._decode_window  # back to the class's method
    assert len(calls) == 1  # it stopped at the next tile, not after decoding everything


def test_cancel_during_vae_encode_stops_before_diffusion(pipeline):
    from engine.tasks.request import GenerationRequest

    ctx = JobContext()
    stages = []
    ctx.on_progress = lambda p: stages.append(p.stage)
    vae = pipeline.models.vae
    calls = _cancel_on_first_call(vae, "_encode_window", ctx)
    source = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 48_000 * 12)).astype(np.float32)
    try:
        with pytest.raises(Cancelled):
            pipeline(GenerationRequest(task="repaint", source_audio=source, repaint_start=2.0, repaint_end=8.0,
                                       caption="x", seeds=(3,)), ctx)
    finally:
        del vae._encode_window
    assert len(calls) == 1 and "diffusion" not in stages
