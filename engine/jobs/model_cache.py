"""The worker's model cache: weights stay loaded between jobs, freed on request.

Loading a DiT + VAE + text encoder takes seconds to minutes; a musician asks for take after
take, so the worker keeps what the last job loaded and only reloads when the checkpoint path,
device or dtype changes. Unloading is explicit (`unload`) or requested from any thread
(`request_unload`) and applied between jobs, never under a running job (ComfyUI's
unload/free flags between prompts).

`housekeeping()` runs after each job: gc plus `torch.cuda.empty_cache()` so memory a finished
job freed goes back to the driver (at most every `gc_interval_s`, and always after an unload). torch is touched only if something already imported it,
so `import engine.jobs` stays light.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ModelKey:
    """What identifies a loaded model.

    Attributes:
        path: The checkpoint folder (e.g. ".../checkpoints/acestep-v15-turbo").
        device: "cpu", "cuda", "cuda:1", "mps".
        dtype: "float32", "bfloat16", "float16".
        variant: Anything else that changes the loaded object (quantization, LoRA + scale,
            the component loaded from a folder), as short strings.
    """

    path: str
    device: str = "cpu"
    dtype: str = "float32"
    variant: tuple[str, ...] = ()


@dataclass(frozen=True)
class CacheStats:
    loads: int  # loader calls (cache misses)
    hits: int
    loaded: tuple[ModelKey, ...]


class ModelCache:
    """Models by `ModelKey`. Loads happen on the worker thread; requests may come from any thread."""

    def __init__(self, gc_interval_s: float = 10.0) -> None:
        self._gc_interval_s = gc_interval_s
        self._last_gc = -float("inf")
        self._lock = threading.Lock()
        self._models: dict[ModelKey, Any] = {}
        self._pending_unload: set[ModelKey] | None = set()  # None = unload everything
        self._loads = 0
        self._hits = 0

    def get_or_load(self, key: ModelKey, loader: Callable[[], T]) -> T:
        """The model for `key`, calling `loader()` only if it is not loaded yet."""
        with self._lock:
            if key in self._models:
                self._hits += 1
                return self._models[key]
        # Load outside the lock: it takes seconds and other threads may want `stats()` meanwhile.
        model = loader()
        with self._lock:
            self._loads += 1
            self._models[key] = model
        return model

    def get(self, key: ModelKey) -> Any | None:
        with self._lock:
            return self._models.get(key)

    def put(self, key: ModelKey, model: Any) -> None:
        with self._lock:
            self._models[key] = model

    def unload(self, key: ModelKey | None = None) -> None:
        """Drop `key` (or every model) now. Call on the worker thread or while idle."""
        with self._lock:
            if key is None:
                self._models.clear()
            else:
                self._models.pop(key, None)

    def unload_where(self, predicate: Callable[[ModelKey], bool]) -> int:
        """Drop every model whose key matches; e.g. all models on one device. Returns the count."""
        with self._lock:
            doomed = [k for k in self._models if predicate(k)]
            for k in doomed:
                del self._models[k]
        return len(doomed)

    def request_unload(self, key: ModelKey | None = None) -> None:
        """Ask for an unload from any thread; applied at the next `housekeeping()` (between jobs)."""
        with self._lock:
            if key is None:
                self._pending_unload = None
            elif self._pending_unload is not None:
                self._pending_unload.add(key)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._loads, self._hits, tuple(self._models))

    def housekeeping(self, after_failure: bool = False) -> None:
        """Between jobs: apply requested unloads, collect garbage, return freed GPU memory.

        Args:
            after_failure: The job just raised. Its traceback's frames may hold tensors in
                reference cycles (the classic leak after a CUDA OOM), so collect now.
        """
        with self._lock:
            pending, self._pending_unload = self._pending_unload, set()
            before = len(self._models)
            if pending is None:
                self._models.clear()
            else:
                for k in pending:
                    self._models.pop(k, None)
            unloaded = before - len(self._models)
        # A full collection costs 50-150 ms once torch is loaded and holds the GIL all along
        # (the UI thread waits too), so, like ComfyUI's prompt worker, collect at most every
        # `gc_interval_s`, unless models were just dropped or a job failed (memory matters now).
        now = time.monotonic()
        if unloaded or after_failure or now - self._last_gc >= self._gc_interval_s:
            gc.collect()
            self._last_gc = now
            release_accelerator_memory()


def release_accelerator_memory() -> None:
    """Give cached CUDA/MPS blocks back to the driver, if torch is already in use."""
    torch = sys.modules.get("torch")
    if torch is None:  # nobody loaded a model: nothing to free, and importing torch costs seconds
        return
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
            torch.cuda.ipc_collect()
        mps = getattr(torch, "mps", None)
        if mps is not None and torch.backends.mps.is_available():
            mps.empty_cache()
    except Exception:  # noqa: BLE001 - freeing memory is best effort; never take the worker down
        pass
