"""Torch's intra-op thread count around latency-bound work.

Why: a token step of a small LM (the tiny checkpoints, or the 0.6B class) is a chain of
micro-second ops. With 2 OpenMP threads on a 2-core machine that other processes also use,
every op ends in a barrier that waits for a descheduled thread: measured on this machine under
load (load average ~4), one SDPA call of the tiny LM took ~15 ms with 2 threads and ~0.1 ms with
1. Large matmuls (real-size DiT, VAE) still gain from every core, so this is scoped to the
decode loop of small models only.

`torch.set_num_threads` is process-wide; the engine runs torch work on its one worker thread,
so the scope is that job's loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Below this many parameters a decode step is latency-bound on a CPU (0.6B LM: ~2 ms matmuls).
SMALL_MODEL_PARAMS = 100_000_000


@contextmanager
def intra_op_threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` torch intra-op threads (None: leave as is), then restore."""
    import torch

    before = torch.get_num_threads()
    if count is None or count == before:
        yield
        return
    torch.set_num_threads(max(1, int(count)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def decode_threads(model: Any) -> int | None:
    """1 for a small model on the CPU (latency-bound decode), else None (keep the setting)."""
    try:
        first = next(model.parameters())
    except (StopIteration, AttributeError, TypeError):
        return None
    if first.device.type != "cpu":
        return None
    params = sum(p.numel() for p in model.parameters())
    return 1 if params < SMALL_MODEL_PARAMS else None


# How much nicer than the app the generation worker runs: the audio callback and the UI thread
# then win the CPU whenever they are runnable, and generation takes what is left.
WORKER_NICE = 10


def lower_current_thread_priority(nice: int = WORKER_NICE) -> bool:
    """Make the calling thread (and threads it creates later, e.g. torch's OpenMP pool when its
    first parallel op runs here) `nice` steps nicer. Linux only (niceness is per thread there);
    elsewhere, or without permission, returns False and changes nothing.

    Why per thread: the PortAudio callback and the Qt UI live in the same process; lowering the
    whole process would lower them too.
    """
    import sys
    import threading

    if not sys.platform.startswith("linux") or nice <= 0:
        return False
    import os

    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + nice))
    except OSError:
        return False
    return True
