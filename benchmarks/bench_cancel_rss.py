"""RSS over generate/cancel cycles on the tiny checkpoints (issue 13): does memory keep growing?

Each cycle submits a GenerateJob through the real JobQueue (models cached between jobs, as in
the app), cancels it at a seeded random moment after its first progress event (so cancels land
in text encode, diffusion and VAE decode), and waits for the job's final event. RSS is sampled
after every cycle. At the end it prints where the growth went:

- "live" memory: torch tensors still reachable (gc) - a real leak would show here;
- glibc's free lists: RSS before/after `malloc_trim(0)`; memory returned by the trim was
  already freed by Python/torch but kept by the allocator's per-thread arenas.

Run (short, default 50 cycles): `OMP_NUM_THREADS=1 python benchmarks/bench_cancel_rss.py`
The issue's 300 cycles: `python benchmarks/bench_cancel_rss.py --full` (~3 min on 2 cores).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from engine.jobs import JobCancelled, JobFailed, JobFinished, JobProgress, JobQueue  # noqa: E402
from engine.jobs.generation import GenerateJob  # noqa: E402
from engine.tasks.request import GenerationRequest  # noqa: E402

MB = 1024 * 1024


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


def malloc_trim() -> bool:
    """Ask glibc to give freed arena memory back to the OS (no-op elsewhere)."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def live_tensor_mb() -> tuple[int, float]:
    import warnings

    import torch

    count, size = 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # isinstance() pokes deprecated torch attributes
        for obj in gc.get_objects():
            try:
                if isinstance(obj, torch.Tensor) and not obj.is_meta:
                    count += 1
                    size += obj.untyped_storage().nbytes()
            except Exception:  # noqa: BLE001, S112 - some objects refuse inspection
                continue
    return count, size / MB


class Tracker:
    """Final events and the first progress event per job, from the queue's sink thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.progress: dict[str, threading.Event] = {}
        self.final: dict[str, threading.Event] = {}
        self.outcome: dict[str, object] = {}
        self.stage: dict[str, str] = {}

    def expect(self, job_id: str) -> None:
        with self.lock:
            self.progress.setdefault(job_id, threading.Event())
            self.final.setdefault(job_id, threading.Event())

    def __call__(self, event) -> None:
        self.expect(event.job_id)
        if isinstance(event, JobProgress):
            self.stage[event.job_id] = event.stage
            self.progress[event.job_id].set()
        elif isinstance(event, JobFinished | JobFailed | JobCancelled):
            self.outcome[event.job_id] = event
            self.final[event.job_id].set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50, help="generate/cancel cycles (default 50)")
    parser.add_argument("--full", action="store_true", help="the issue's 300 cycles")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of audio per job (default 20)")
    parser.add_argument("--max-delay", type=float, default=0.6,
                        help="cancel up to this many seconds after the first progress event (default 0.6)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoints", type=Path, help="tiny checkpoints (default: built in a temp folder)")
    args = parser.parse_args(argv)
    cycles = 300 if args.full else args.cycles

    tmp = tempfile.TemporaryDirectory(prefix="legato-rss-")
    root = args.checkpoints
    if root is None:
        from engine.models.tiny import write_tiny_checkpoints

        root = Path(tmp.name) / "checkpoints"
        write_tiny_checkpoints(root, seed=0)

    tracker = Tracker()
    queue = JobQueue(tracker)
    rng = random.Random(args.seed)

    def job(seed: int) -> GenerateJob:
        request = GenerationRequest(caption="lofi piano, rain", lyrics="", instrumental=True,
                                    duration=args.duration, seeds=(seed,))
        return GenerateJob(request=request, checkpoints=root, device="cpu", dtype="float32")

    # Warm-up: one complete job loads and caches the models, so cycles measure only churn.
    start_rss = rss_mb()
    job_id = queue.submit(job(0))
    tracker.expect(job_id)
    tracker.final[job_id].wait(600)
    after_load = rss_mb()
    print(f"rss at start {start_rss:.0f} MB, after loading + one full generation {after_load:.0f} MB")

    samples, outcomes, late, stages = [], {}, 0, {}
    t0 = time.perf_counter()
    try:
        for i in range(cycles):
            job_id = queue.submit(job(i + 1))
            tracker.expect(job_id)
            tracker.progress[job_id].wait(120)
            time.sleep(rng.uniform(0.0, args.max_delay))
            stage = tracker.stage.get(job_id, "?")
            accepted = queue.cancel(job_id)
            if not tracker.final[job_id].wait(600):
                print(f"cycle {i}: no final event after 600 s", file=sys.stderr)
                return 1
            final = tracker.outcome[job_id]
            name = type(final).__name__
            outcomes[name] = outcomes.get(name, 0) + 1
            stages[stage] = stages.get(stage, 0) + 1
            if accepted and isinstance(final, JobFinished):
                late += 1  # cancel() said True, yet the job finished (issue 13 item 11)
            samples.append(rss_mb())
            if (i + 1) % max(1, cycles // 10) == 0:
                print(f"cycle {i + 1:4d}: rss {samples[-1]:.0f} MB")
        elapsed = time.perf_counter() - t0
        # Measured while the queue (and its cached models) is still alive, as in the app.
        gc.collect()
        count, live = live_tensor_mb()
        before_trim = rss_mb()
        trimmed = malloc_trim()
        after_trim = rss_mb()
    finally:
        queue.shutdown()

    half = samples[len(samples) // 2 :]
    slope = (half[-1] - half[0]) / max(1, len(half) - 1) * 100 if len(half) > 1 else 0.0
    print(f"\n{cycles} cycles in {elapsed:.0f} s; outcomes {outcomes}; cancel stage at request {stages}")
    print(f"cancel() returned True but the job finished: {late} of {cycles}")
    print(f"rss: after warm-up {after_load:.0f} MB, first cycle {samples[0]:.0f} MB, "
          f"max {max(samples):.0f} MB, last {samples[-1]:.0f} MB")
    print(f"growth over the cycles {samples[-1] - after_load:+.0f} MB; "
          f"second-half slope {slope:+.1f} MB per 100 cycles")
    print(f"live torch tensors after the cycles: {count} ({live:.0f} MB: the cached models)")
    print(f"malloc_trim(0): rss {before_trim:.0f} -> {after_trim:.0f} MB "
          f"({'returned' if trimmed else 'nothing returned'}; the difference is freed memory "
          "glibc's arenas were holding, not live objects)")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
