"""Run-inline mode, the worker's model cache, and JobContext's ETA."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import pytest

from engine.jobs import (
    FunctionJob,
    JobContext,
    JobFailed,
    JobFinished,
    JobQueue,
    JobSpec,
    ModelCache,
    ModelKey,
)
from engine.jobs.model_cache import release_accelerator_memory

WAIT_S = 10.0


class FakeModel:
    """Stands in for loaded weights; counts how often it was built."""

    built = 0

    def __init__(self, key: ModelKey):
        type(self).built += 1
        self.key = key


@dataclass(frozen=True, kw_only=True)
class UseModel(JobSpec):
    """Loads (or reuses) the model for `key` and returns its identity."""

    kind: ClassVar[str] = "fake-model"
    key: ModelKey

    def run(self, models, ctx):
        model = models.get_or_load(self.key, lambda: FakeModel(self.key))
        ctx.progress("diffusion", 1, 1)
        return id(model)


@pytest.fixture(autouse=True)
def reset_model_count():
    FakeModel.built = 0


# -- run-inline mode ------------------------------------------------------------------------------


def test_inline_mode_runs_the_job_inside_submit_on_the_calling_thread():
    seen = []
    q = JobQueue(lambda e: seen.append((e, threading.current_thread())), run_inline=True)
    job_id = q.submit(FunctionJob(fn=lambda models, ctx: (ctx.progress("lm", 1, 1), 42)[1]))

    assert [type(e).__name__ for e, _ in seen] == ["JobQueued", "JobStarted", "JobProgress", "JobFinished"]
    assert seen[-1][0] == JobFinished(job_id, 42, seen[-1][0].elapsed_s)
    assert {t for _, t in seen} == {threading.current_thread()}
    assert q.wait_until_idle(0) is True
    assert not [t for t in threading.enumerate() if t.name == "legato-job-worker"]
    assert q.shutdown()


def test_inline_jobs_submitted_from_a_sink_run_after_the_current_one_not_inside_it():
    order = []

    def sink(event):
        order.append((type(event).__name__, event.job_id))
        if isinstance(event, JobFinished) and event.result == "first":
            q.submit(FunctionJob(fn=lambda models, ctx: "second"))

    q = JobQueue(sink, run_inline=True)
    q.submit(FunctionJob(fn=lambda models, ctx: "first"))
    assert [name for name, _ in order] == [
        "JobQueued",
        "JobStarted",
        "JobFinished",  # job-1
        "JobQueued",
        "JobStarted",
        "JobFinished",  # job-2, queued by the sink, run afterwards
    ]
    assert [job for _, job in order] == ["job-1"] * 3 + ["job-2"] * 3


def test_inline_failures_are_events_not_exceptions():
    seen = []
    q = JobQueue(seen.append, run_inline=True)
    q.submit(FunctionJob(fn=lambda models, ctx: 1 / 0, label="Divide"))
    assert isinstance(seen[-1], JobFailed) and "ZeroDivisionError" in seen[-1].message


# -- the model cache ------------------------------------------------------------------------------


def test_models_stay_loaded_between_jobs():
    results = []
    q = JobQueue(lambda e: results.append(e.result) if isinstance(e, JobFinished) else None)
    try:
        turbo = ModelKey("/ckpt/acestep-v15-turbo", "cpu", "float32")
        for _ in range(3):
            q.submit(UseModel(key=turbo))
        q.submit(UseModel(key=ModelKey("/ckpt/acestep-v15-turbo", "cpu", "bfloat16")))
        assert q.wait_until_idle(WAIT_S)
    finally:
        q.shutdown(WAIT_S)
    assert results[0] == results[1] == results[2] != results[3]
    assert FakeModel.built == 2  # one per (path, device, dtype), not one per job
    assert q.models.stats().loaded == ()  # shutdown unloads everything


def test_requested_unload_applies_between_jobs():
    cache = ModelCache()
    q = JobQueue(models=cache, run_inline=True)
    a, b = ModelKey("/ckpt/a"), ModelKey("/ckpt/b")
    q.submit(UseModel(key=a))
    q.submit(UseModel(key=b))
    assert set(cache.stats().loaded) == {a, b}

    cache.request_unload(a)
    assert set(cache.stats().loaded) == {a, b}  # not under a possibly running job
    cache.housekeeping()
    assert cache.stats().loaded == (b,)

    cache.request_unload()  # everything
    q.submit(UseModel(key=a))  # loads a again, then housekeeping drops all
    assert cache.stats().loaded == ()
    assert cache.stats().loads == 3 and FakeModel.built == 3


def test_cache_counts_hits_and_can_unload_by_device():
    cache = ModelCache()
    cpu, gpu = ModelKey("/m", "cpu"), ModelKey("/m", "cuda")
    first = cache.get_or_load(cpu, lambda: FakeModel(cpu))
    assert cache.get_or_load(cpu, lambda: pytest.fail("must not reload")) is first
    cache.get_or_load(gpu, lambda: FakeModel(gpu))
    assert cache.stats().hits == 1 and cache.stats().loads == 2
    assert cache.unload_where(lambda key: key.device == "cuda") == 1
    assert cache.stats().loaded == (cpu,)
    cache.unload()
    assert cache.get(cpu) is None


def test_a_failing_loader_caches_nothing():
    cache = ModelCache()
    key = ModelKey("/broken")
    with pytest.raises(OSError):
        cache.get_or_load(key, lambda: (_ for _ in ()).throw(OSError("truncated safetensors")))
    assert cache.stats().loaded == () and cache.stats().loads == 0


def test_housekeeping_does_not_import_torch(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    release_accelerator_memory()
    ModelCache().housekeeping()
    assert "torch" not in sys.modules


def test_housekeeping_frees_cuda_cache_when_torch_is_in_use(monkeypatch):
    calls = []

    class FakeCuda:
        is_available = staticmethod(lambda: True)
        is_initialized = staticmethod(lambda: True)
        empty_cache = staticmethod(lambda: calls.append("empty_cache"))
        ipc_collect = staticmethod(lambda: calls.append("ipc_collect"))

    class FakeTorch:
        cuda = FakeCuda

        class backends:  # noqa: N801 - mirrors torch.backends
            class mps:  # noqa: N801
                is_available = staticmethod(lambda: False)

    monkeypatch.setitem(sys.modules, "torch", FakeTorch)
    cache = ModelCache(gc_interval_s=60)
    cache.housekeeping()
    assert calls == ["empty_cache", "ipc_collect"]
    cache.housekeeping()  # right after the last one: short jobs don't pay for a full gc each
    assert len(calls) == 2
    cache.put(ModelKey("/m"), object())
    cache.request_unload()
    cache.housekeeping()  # an unload frees memory at once
    assert len(calls) == 4 and cache.stats().loaded == ()
    q = JobQueue(models=cache, run_inline=True)
    q.submit(FunctionJob(fn=lambda models, ctx: None))
    assert len(calls) == 4
    q.submit(FunctionJob(fn=lambda models, ctx: 1 / 0))  # a failed job's frames may hold tensors
    assert len(calls) == 6


# -- JobContext's ETA -----------------------------------------------------------------------------


def test_eta_counts_from_the_stage_start():
    # Exact against the reports' own elapsed times (no timing margin to flake on a busy CPU):
    # one step took e1 - e0, three more like it remain. Counting from the job's start instead
    # would give 3 * e1, twice as much here (the job ran as long before the stage as in it).
    reports = []
    ctx = JobContext(on_progress=reports.append)
    time.sleep(0.05)
    ctx.progress("diffusion", 0, 4)
    time.sleep(0.05)
    ctx.progress("diffusion", 1, 4)
    assert reports[0].eta_s is None
    step_s = reports[1].elapsed_s - reports[0].elapsed_s
    assert step_s >= 0.05 and reports[0].elapsed_s >= 0.05
    assert reports[1].eta_s == pytest.approx(3 * step_s, rel=1e-9)


def test_a_stage_first_reported_midway_gets_a_nonzero_eta():
    reports = []
    ctx = JobContext(on_progress=reports.append)
    time.sleep(0.05)  # the first step of "lm" ran before its first report
    ctx.progress("lm", 1, 3)
    assert reports[0].elapsed_s >= 0.05
    assert reports[0].eta_s == pytest.approx(2 * reports[0].elapsed_s, rel=1e-9)  # 2 more like it


def test_status_snapshots_of_old_jobs_are_forgotten(monkeypatch):
    monkeypatch.setattr("engine.jobs.queue.KEEP_FINISHED_INFOS", 4)
    q = JobQueue(run_inline=True)
    ids = [q.submit(FunctionJob(fn=lambda models, ctx: None)) for _ in range(20)]
    assert 4 <= len(q.jobs()) <= 8
    assert q.info(ids[-1]) is not None and q.info(ids[0]) is None
