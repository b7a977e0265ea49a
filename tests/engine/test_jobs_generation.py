"""Generation through the job queue on tiny checkpoints: takes come back, models stay loaded, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from engine.jobs import JobCancelled, JobFailed, JobFinished, JobProgress, JobQueue
from engine.jobs.generation import PIPELINE_VARIANT, GenerateJob

pytest.importorskip("torch")
from engine.tasks.request import GenerationRequest  # noqa: E402 - after the torch check
from tests.engine.event_recorder import Recorder

WAIT_S = 120.0
SECONDS = 6.0  # the pipeline never makes less than 5.12 s


def _request(**changes):
    base = dict(
        caption="lofi piano, rain", lyrics="[Instrumental]", duration=SECONDS, seeds=(7,), batch_size=1
    )
    base.update(changes)
    return GenerationRequest(**base)


def test_a_generation_job_produces_takes_and_keeps_its_models_loaded(tiny_checkpoints):
    recorder = Recorder()
    q = JobQueue(recorder)
    try:
        first = q.submit(
            GenerateJob(
                request=_request(batch_size=2, seeds=(7, 8)), checkpoints=tiny_checkpoints, device="cpu"
            )
        )
        again = q.submit(GenerateJob(request=_request(), checkpoints=tiny_checkpoints, device="cpu"))
        assert q.wait_until_idle(WAIT_S)
        loaded = q.models.stats().loaded
    finally:
        q.shutdown(WAIT_S)

    (key,) = loaded  # one pipeline, keyed by DiT folder, device and dtype
    assert key.path == str((tiny_checkpoints / "acestep-v15-turbo").resolve())
    assert (key.device, key.dtype, key.variant[0]) == ("cpu", "float32", PIPELINE_VARIANT)
    done = recorder.of(first)[-1]
    assert isinstance(done, JobFinished), getattr(done, "detail", done)
    takes = done.result.takes
    assert len(takes) == 2 and [t.seed for t in takes] == [7, 8]
    for take in takes:
        assert take.audio.dtype == np.float32 and take.audio.shape == (2, int(SECONDS * 48_000))
        assert not take.audio.flags.writeable  # crosses to the UI thread
    stages = [e.stage for e in recorder.of(first) if isinstance(e, JobProgress)]
    for stage in ("load models", "text encode", "diffusion", "vae decode"):
        assert stage in stages

    # The second job reused the loaded pipeline, and seed 7 alone reproduced batch item 0
    # (to float32 rounding: a batch of 2 runs different matmul shapes than a batch of 1).
    second = recorder.of(again)[-1]
    assert isinstance(second, JobFinished)
    assert "load models" not in [e.stage for e in recorder.of(again) if isinstance(e, JobProgress)]
    np.testing.assert_allclose(second.result.takes[0].audio, takes[0].audio, atol=1e-5)
    stats = q.models.stats()
    assert stats.loads == 1 and stats.hits == 1
    assert stats.loaded == ()  # unloaded by shutdown


def test_cancel_stops_a_generation_within_one_diffusion_step(tiny_checkpoints):
    recorder = Recorder()
    box = {}

    def sink(event):
        recorder(event)
        if isinstance(event, JobProgress) and event.stage == "diffusion" and event.step == 2:
            box["queue"].cancel(event.job_id)

    q = JobQueue(sink, run_inline=True, progress_hz=0)  # every step reaches the sink
    box["queue"] = q
    job_id = q.submit(GenerateJob(request=_request(), checkpoints=tiny_checkpoints, device="cpu"))

    events = recorder.of(job_id)
    assert events[-1] == JobCancelled(job_id, "cancelled", was_running=True)
    diffusion_steps = [e.step for e in events if isinstance(e, JobProgress) and e.stage == "diffusion"]
    assert max(diffusion_steps) <= 3  # cancelled at step 2: at most the step in flight finished
    assert "vae decode" not in [e.stage for e in events if isinstance(e, JobProgress)]


def test_a_bad_request_fails_with_a_message_naming_the_parameter(tiny_checkpoints):
    recorder = Recorder()
    q = JobQueue(recorder, run_inline=True)
    job_id = q.submit(GenerateJob(request=_request(duration=0.2), checkpoints=tiny_checkpoints, device="cpu"))
    missing = q.submit(GenerateJob(request=_request(), checkpoints=tiny_checkpoints / "nope", device="cpu"))

    failed = recorder.of(job_id)[-1]
    assert isinstance(failed, JobFailed) and "duration" in failed.message
    assert failed.error_type == "ValidationError"
    assert "load models" not in [e.stage for e in recorder.of(job_id) if isinstance(e, JobProgress)]
    assert isinstance(recorder.of(missing)[-1], JobFailed) and "nope" in recorder.of(missing)[-1].message


def test_generate_job_labels_itself():
    job = GenerateJob(request=_request(batch_size=3, seeds=None), checkpoints="/ckpt")
    assert job.display_label == "text2music: 3 takes"
    assert GenerateJob(request=_request(), checkpoints="/c", label="Intro").display_label == "Intro"
