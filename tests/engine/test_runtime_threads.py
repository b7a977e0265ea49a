"""Thread-count scoping for latency-bound decode loops (engine/runtime/threads.py)."""

from __future__ import annotations

import torch

from engine.runtime.threads import SMALL_MODEL_PARAMS, decode_threads, intra_op_threads


def test_intra_op_threads_sets_and_restores():
    before = torch.get_num_threads()
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with intra_op_threads(None):
        assert torch.get_num_threads() == before


def test_intra_op_threads_restores_after_an_error():
    before = torch.get_num_threads()
    try:
        with intra_op_threads(1):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert torch.get_num_threads() == before


def test_decode_threads_is_one_for_a_small_cpu_model_only():
    small = torch.nn.Linear(4, 4)
    assert decode_threads(small) == 1
    assert decode_threads(object()) is None

    class Big(torch.nn.Module):
        def __init__(self):
            super().__init__()
            # meta tensors: counted, never allocated; not on the CPU, so left alone too
            self.w = torch.nn.Parameter(torch.empty(SMALL_MODEL_PARAMS + 1, device="meta"))

    assert decode_threads(Big()) is None


def test_lower_current_thread_priority_affects_only_the_calling_thread():
    import os
    import sys
    import threading

    import pytest

    from engine.runtime.threads import lower_current_thread_priority

    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread niceness is a Linux feature; elsewhere the call is a no-op")
    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}

    def worker():
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        seen["changed"] = lower_current_thread_priority(5)
        seen["delta"] = os.getpriority(os.PRIO_PROCESS, tid) - before

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["changed"] is True
    assert seen["delta"] == min(5, 19 - main_before)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before
