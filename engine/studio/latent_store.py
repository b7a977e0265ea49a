"""The latents a take was generated from, kept so a repaint/extend of it need not VAE-encode.

A take's audio is `decode(latents) · gain` (the pipeline's anti-clip and loudness scaling are
one scalar). A bounded repaint of a 10 s window in a 4-minute generated song then needs no VAE
encode at all: the source latents of the window ± margin are a slice of the take's own latents.
Project takes do not keep latents (a project is audio + JSON), so this store keeps them beside
the document, keyed by the audio's identity: the asset id, which is the SHA-256 of the samples
(engine.project.assets). Same samples -> same key, so an undo/redo, a save/reopen in the same
session or a second clip on the same asset all find them.

Bounded: least-recently-used entries go first once the total passes `max_bytes` (default
256 MB; a 4-minute take's latents are 6000 x 64 float32 = 1.5 MB, so that is ~170 songs). Memory
only: after a restart the store is empty and an edit falls back to encoding just the cropped
window + margin (the provenance says which happened). Thread-safe: landing (main thread) puts,
builders (main thread) read, nothing in the worker touches it.

Torch-free (numpy), so engine.studio stays importable without torch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import ValidationError
from engine.tasks.source_latents import SourceLatents, vae_identity

HOP = 1920  # VAE samples per latent frame (engine.tasks.constants.HOP; kept torch-free here)
DEFAULT_MAX_BYTES = 256 * 2**20


@dataclass(frozen=True)
class StoredLatents:
    """Latents of one asset.

    Attributes:
        latents: float32 [T, C] read-only; frame f covers asset samples
            [origin + f·HOP, origin + (f+1)·HOP).
        origin: the asset sample where frame 0 starts (negative for a region take, whose asset
            starts inside the generated sequence).
        gain: asset audio = decode(latents) · gain.
        vae: `vae_identity` of the VAE whose latent space this is.
    """

    latents: np.ndarray
    origin: int
    gain: float
    vae: str

    @property
    def nbytes(self) -> int:
        return int(self.latents.nbytes)

    def covers(self, first: int, frames: int) -> range:
        """Which of the `frames` latent frames starting at asset sample `first` this entry holds
        (a range of frame indices into that request), given `first` is on this entry's grid."""
        k0 = (first - self.origin) // HOP
        lo, hi = max(0, -k0), min(frames, self.latents.shape[0] - k0)
        return range(lo, max(lo, hi))


class LatentStore:
    """Asset id -> StoredLatents, least recently used dropped past `max_bytes`."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValidationError(f"max_bytes: must be a whole number >= 0, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, StoredLatents] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def put(self, asset_id: str, latents: np.ndarray, *, origin: int = 0, gain: float = 1.0, vae: str) -> None:
        """Remember `latents` [T, C] for `asset_id` (replacing what was there)."""
        array = np.asarray(latents, np.float32)
        if array.ndim != 2 or array.shape[0] == 0:
            raise ValidationError(f"latents: must be [frames, channels], got shape {array.shape}")
        if not np.isfinite(array).all() or not np.isfinite(gain) or gain <= 0:
            raise ValidationError("latents: must be finite, with a gain above 0")
        array = np.array(array, copy=True, order="C")
        array.setflags(write=False)
        entry = StoredLatents(array, int(origin), float(gain), vae)
        with self._lock:
            old = self._entries.pop(asset_id, None)
            if old is not None:
                self._bytes -= old.nbytes
            if entry.nbytes > self.max_bytes:
                return  # larger than the whole store: keeping it would evict everything else
            self._entries[asset_id] = entry
            self._bytes += entry.nbytes
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes

    def get(self, asset_id: str) -> StoredLatents | None:
        with self._lock:
            entry = self._entries.get(asset_id)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(asset_id)
            self.hits += 1
            return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def remember_take(asset_id: str, take: Any, *, origin: int = 0, store: LatentStore | None = None) -> None:
    """Keep a generated take's latents (engine.tasks.results.Take) for the asset made from its
    audio; `origin`: the asset sample where the take's latent frame 0 starts (-a when the asset
    is the take's audio from sample a on)."""
    latents = getattr(take, "latents", None)
    if latents is None or getattr(latents, "ndim", 0) != 2 or latents.shape[0] == 0:
        return
    models = getattr(getattr(take, "provenance", None), "models", ())
    if len(models) < 3:  # no VAE recorded (a hand-made result): nothing to key the latents by
        return
    vae = vae_identity(models[2].name, dict(models[2].weight_sha256))
    gain = float(getattr(take, "latent_gain", 1.0))
    if not np.isfinite(latents).all() or not np.isfinite(gain) or gain <= 0:
        return
    (store or STORE).put(asset_id, latents, origin=origin, gain=gain, vae=vae)


def latents_record(store: LatentStore, asset_id: str, first: int, frames: int,
                   free: tuple[int, int]) -> dict[str, Any] | None:
    """How to cut `frames` latent frames starting at asset sample `first` from the asset's
    stored latents: a JSON-able record (kept in the edit's provenance, so a re-render cuts the
    same), or None when they are not stored, `first` is off their frame grid, or a frame outside
    `free` (crop frame indices whose latents do not matter: the repaint window, which the
    pipeline silences) is not covered."""
    entry = store.get(asset_id)
    if entry is None or (first - entry.origin) % HOP:
        return None
    covered = entry.covers(first, frames)
    lo, hi = free
    if len(covered) == 0:
        return None
    # Every frame NOT covered must lie inside `free`: [0, start) and [stop, frames).
    if covered.start > 0 and not (lo <= 0 and covered.start <= hi):
        return None
    if covered.stop < frames and not (lo <= covered.stop and hi >= frames):
        return None
    return {"asset": asset_id, "first": int(first), "frames": int(frames), "free": [int(lo), int(hi)],
            "vae": entry.vae}


def latents_from_record(record: Any, store: LatentStore | None = None) -> SourceLatents | None:
    """The SourceLatents a `latents_record` describes ([frames, C] float32; uncovered frames, all
    inside its `free` span, are zeros); None if the store no longer has them."""
    if not isinstance(record, Mapping):
        return None
    try:
        asset_id, first, frames = str(record["asset"]), int(record["first"]), int(record["frames"])
    except (KeyError, TypeError, ValueError):
        return None
    entry = (store or STORE).get(asset_id)
    if entry is None or entry.vae != record.get("vae") or (first - entry.origin) % HOP or frames <= 0:
        return None
    covered = entry.covers(first, frames)
    out = np.zeros((frames, entry.latents.shape[1]), np.float32)  # [frames, C]
    k0 = (first - entry.origin) // HOP
    out[covered.start : covered.stop] = entry.latents[k0 + covered.start : k0 + covered.stop]
    return SourceLatents(out, entry.vae, key=f"asset {asset_id} from sample {first}", gain=entry.gain)


STORE = LatentStore()  # the process's store (the app and the CLI share it per process)


def default_store() -> LatentStore:
    return STORE


__all__ = ["HOP", "LatentStore", "StoredLatents", "default_store", "latents_from_record", "latents_record",
           "remember_take", "vae_identity"]
