"""How much the job queue itself costs: dispatch latency, cancel latency, event rate.

No models: the jobs are fake, so the numbers are the queue's own overhead (what a user waits on
top of the model). Run: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/job_queue_latency.py`
(add `--torch` to import torch first, as the app does, which makes housekeeping's gc dearer).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from engine.jobs import FunctionJob, JobCancelled, JobFinished, JobProgress, JobQueue


def _percentiles(values: list[float]) -> str:
    values = sorted(values)
    p50 = statistics.median(values)
    p95 = values[int(0.95 * (len(values) - 1))]
    return f"p50 {p50 * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms, max {values[-1] * 1e3:.2f} ms"


def dispatch_latency(n: int) -> list[float]:
    """submit() -> JobFinished delivered, for a job that does nothing (worker idle before each)."""
    done = threading.Event()
    q = JobQueue(lambda e: done.set() if isinstance(e, JobFinished) else None)
    out = []
    try:
        for _ in range(n):
            done.clear()
            t0 = time.perf_counter()
            q.submit(FunctionJob(fn=lambda models, ctx: None))
            done.wait(10)
            out.append(time.perf_counter() - t0)
            q.wait_until_idle(10)
    finally:
        q.shutdown()
    return out


def throughput(n: int) -> float:
    """Jobs per second through one worker, back to back."""
    q = JobQueue()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            q.submit(FunctionJob(fn=lambda models, ctx: None))
        q.wait_until_idle(60)
        return n / (time.perf_counter() - t0)
    finally:
        q.shutdown()


def cancel_latency(n: int, step_s: float) -> list[float]:
    """cancel() -> JobCancelled delivered, for a job stepping every `step_s` seconds (one queue)."""
    started, cancelled = threading.Event(), threading.Event()

    def sink(e):
        if isinstance(e, JobProgress):
            started.set()
        elif isinstance(e, JobCancelled):
            cancelled.set()

    def steps(models, ctx):
        for i in range(100_000):
            ctx.check_cancelled()
            time.sleep(step_s)
            ctx.progress("diffusion", i + 1, 100_000)

    q = JobQueue(sink)
    out = []
    try:
        for _ in range(n):
            started.clear()
            cancelled.clear()
            job_id = q.submit(FunctionJob(fn=steps))
            started.wait(10)
            t0 = time.perf_counter()
            q.cancel(job_id)
            cancelled.wait(10)
            out.append(time.perf_counter() - t0)
            q.wait_until_idle(10)
    finally:
        q.shutdown()
    return out


def gc_pause(n: int) -> list[float]:
    """A forced housekeeping (full gc + empty_cache): what an unload or a failed job costs."""
    from engine.jobs import ModelCache

    cache = ModelCache()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        cache.housekeeping(after_failure=True)
        out.append(time.perf_counter() - t0)
    return out


def event_rate(steps: int, step_s: float) -> tuple[int, float]:
    """Progress events delivered for `steps` reports over steps*step_s seconds (25 Hz cap)."""
    events = []
    q = JobQueue(lambda e: events.append(e) if isinstance(e, JobProgress) else None)

    def work(models, ctx):
        for i in range(steps):
            time.sleep(step_s)
            ctx.progress("diffusion", i + 1, steps)

    try:
        t0 = time.perf_counter()
        q.submit(FunctionJob(fn=work))
        q.wait_until_idle(60)
        return len(events), len(events) / (time.perf_counter() - t0)
    finally:
        q.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--torch", action="store_true", help="import torch first, as the app does")
    args = parser.parse_args()
    if args.torch:
        import torch  # noqa: F401

    print(f"dispatch (submit -> JobFinished), 200 no-op jobs: {_percentiles(dispatch_latency(200))}")
    print(f"throughput, 2000 no-op jobs back to back: {throughput(2000):.0f} jobs/s")
    print(
        f"cancel (cancel() -> JobCancelled), 10 ms steps, 20 runs: {_percentiles(cancel_latency(20, 0.01))}"
    )
    print(f"forced housekeeping (full gc), 10 runs: {_percentiles(gc_pause(10))}")
    count, hz = event_rate(1000, 0.001)
    print(f"progress events for 1000 reports at ~1 kHz: {count} events, {hz:.1f} Hz")


if __name__ == "__main__":
    main()
