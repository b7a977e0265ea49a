"""Planner LM jobs on tiny checkpoints: results come back, the LM stays loaded, cancel per token."""

from __future__ import annotations

import pytest

from engine.jobs import JobCancelled, JobFailed, JobFinished, JobProgress, JobQueue, JobQueued, ModelCache
from engine.jobs.planning import PLANNER_VARIANT, CreateSampleJob, FormatSampleJob, ThinkJob, UnderstandJob

pytest.importorskip("torch")
from engine.planner.think import ThinkRequest  # noqa: E402 - after the torch check
from tests.engine.event_recorder import Recorder

WAIT_S = 120.0
pytestmark = pytest.mark.slow  # the tiny LM's tokenizer alone takes seconds to load (transformers)


def _think(seed: int = 3, **changes) -> ThinkRequest:
    # 2 s of codes (10 tokens at 5 Hz) and a short caption keep the tiny LM quick.
    base = dict(caption="lofi piano", metadata={"duration": 2}, seed=seed, max_caption_tokens=16)
    base.update(changes)
    return ThinkRequest(**base)


@pytest.fixture(scope="module")
def planner_models():
    """One model cache for this module: loading the tiny LM's tokenizer alone takes seconds."""
    return ModelCache()


def test_think_job_plans_takes_and_keeps_the_lm_loaded(tiny_checkpoints, planner_models):
    recorder = Recorder()
    q = JobQueue(recorder, models=planner_models, run_inline=True)  # inline: no shutdown unloading it
    first = q.submit(ThinkJob(request=_think(), checkpoints=tiny_checkpoints, device="cpu"))
    again = q.submit(ThinkJob(request=_think(), checkpoints=tiny_checkpoints, device="cpu"))

    done = recorder.of(first)[-1]
    assert isinstance(done, JobFinished), getattr(done, "detail", done)
    (item,) = done.result.items
    assert item.seed == 3 and item.metadata.duration == 2 and len(item.codes) > 0
    assert {"lm", "lm codes"} <= {e.stage for e in recorder.of(first) if isinstance(e, JobProgress)}

    second = recorder.of(again)[-1]
    assert isinstance(second, JobFinished)
    assert second.result == done.result  # same seed, same cached LM -> same plan
    assert "load planner" not in {e.stage for e in recorder.of(again) if isinstance(e, JobProgress)}
    assert planner_models.stats().loads == 1  # whichever test of this module ran first loaded it


def test_cancel_stops_the_lm_within_one_token(tiny_checkpoints, planner_models):
    recorder = Recorder()
    box = {}

    def sink(event):
        recorder(event)
        if isinstance(event, JobProgress) and event.stage != "load planner" and event.step == 3:
            box["queue"].cancel(event.job_id)

    q = JobQueue(
        sink, models=planner_models, run_inline=True, progress_hz=0
    )  # every token's report reaches the sink
    box["queue"] = q
    job_id = q.submit(ThinkJob(request=_think(), checkpoints=tiny_checkpoints, device="cpu"))

    events = recorder.of(job_id)
    assert events[-1] == JobCancelled(job_id, "cancelled", was_running=True)
    lm_steps = [e.step for e in events if isinstance(e, JobProgress) and e.stage != "load planner"]
    assert lm_steps[-1] <= 4  # cancelled at token 3: at most the token in flight was reported
    (key,) = q.models.stats().loaded
    assert key.variant[0] == PLANNER_VARIANT and key.device == "cpu" and key.dtype == "float32"


def test_simple_mode_format_and_understand_run_as_jobs(tiny_checkpoints, planner_models):
    from engine.planner.assist import AssistOptions, AssistResult

    recorder = Recorder()
    q = JobQueue(recorder, models=planner_models, run_inline=True)
    short = AssistOptions(max_caption_tokens=8, max_lyrics_tokens=8)
    where = dict(checkpoints=tiny_checkpoints, device="cpu", options=short)
    ids = [
        q.submit(CreateSampleJob(description="rainy lofi with soft piano", instrumental=True, **where)),
        q.submit(FormatSampleJob(caption="lofi", lyrics="[verse]\nrain", metadata={"bpm": 80}, **where)),
        q.submit(UnderstandJob(codes=(1, 2, 3, 4, 5), **where)),
        q.submit(CreateSampleJob(description="   ", **where)),
    ]
    *good, empty = [recorder.of(job_id)[-1] for job_id in ids]
    for event in good:
        assert isinstance(event, JobFinished), getattr(event, "detail", event)
        assert isinstance(event.result, AssistResult) and isinstance(event.result.caption, str)
    assert good[0].result.instrumental is True
    assert good[1].result.metadata.bpm == 80  # the user's value is forced into the output
    assert isinstance(empty, JobFailed) and "description is empty" in empty.message
    labels = [e.label for e in recorder.events if isinstance(e, JobQueued)]
    assert labels[:3] == [
        "Writing caption and lyrics",
        "Formatting caption and lyrics",
        "Describing the audio",
    ]
