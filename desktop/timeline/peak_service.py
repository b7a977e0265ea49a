"""Waveform peaks computed off the UI thread and cached per asset (napari's slicer pattern).

The scene asks `get_or_request(asset)`: a cached pyramid comes back at once; otherwise the
engine's peak computation runs on a worker thread and `ready(asset_id)` fires on the main
thread when it is done. Assets are immutable and content-hashed, so the cache never goes
stale and one asset shared by many clips is computed once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QObject, Signal


class PeakService(QObject):
    """Signals:
        ready(str): the asset's pyramid is cached (emitted from the worker thread; Qt queues
            it to receivers on the main thread).
    """

    ready = Signal(str)

    def __init__(self, compute: Callable, reader: Callable, parent: QObject | None = None) -> None:
        """Args:
            compute: asset -> pyramid (engine; runs on the worker thread).
            reader: (pyramid, t0_s, t1_s, n_pixels) -> (lo, hi) arrays (main thread, per paint).
        """
        super().__init__(parent)
        self._compute = compute
        self.reader = reader
        self._cache: dict[str, object] = {}
        self._pending: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=1, thread_name_prefix="peaks")

    def cached(self, asset_id: str):
        with self._lock:
            return self._cache.get(asset_id)

    def get_or_request(self, asset):
        """The pyramid if cached, else None after queueing its computation."""
        with self._lock:
            if asset.id in self._cache:
                return self._cache[asset.id]
            if asset.id in self._pending or self._pool is None:
                return None
            self._pending[asset.id] = self._pool.submit(self._work, asset)
        return None

    def _work(self, asset) -> None:
        pyramid = self._compute(asset)
        with self._lock:
            self._cache[asset.id] = pyramid
            self._pending.pop(asset.id, None)
        self.ready.emit(asset.id)

    def compute_now(self, asset):
        """Synchronous path (benchmarks, tests): compute and cache on the calling thread."""
        pyramid = self.cached(asset.id)
        if pyramid is None:
            pyramid = self._compute(asset)
            with self._lock:
                self._cache[asset.id] = pyramid
        return pyramid

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until queued computations finish (tests)."""
        with self._lock:
            futures = list(self._pending.values())
        for f in futures:
            f.result(timeout=timeout)

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
