"""Immutable audio assets keyed by content hash, and the store that holds them.

An `Asset` is float32, 48 kHz, stereo, shaped (2, frames), and read-only: clips reference it
by id and never change it, so the audio thread, the peak worker and the exporter can all read
it without locks. The id is the SHA-256 of the samples (plus the shape), so importing the same
audio twice stores it once and a saved project names its files by the same hash.

Public API (stable): Asset (.id, .samples, .frames, .name, .duration_s),
    content_hash(samples), as_asset_samples(array),
    AssetStore(.add(samples, name) -> Asset, .add_asset(asset), .get(id), [id], `id in store`,
    .ids(), len(store)). The store is thread-safe (a job worker may add while the UI reads).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np

from engine.errors import ValidationError
from engine.timebase import SAMPLE_RATE

CHANNELS = 2


def as_asset_samples(array: np.ndarray) -> np.ndarray:
    """Validate and freeze audio in the app's one format: float32 (2, frames), read-only.

    Raises:
        ValidationError: wrong shape, empty, or non-finite samples.
    """
    arr = np.asarray(array)
    if arr.ndim != 2 or arr.shape[0] != CHANNELS:
        raise ValidationError(f"asset audio must be shaped (2, frames), got {arr.shape}")
    if arr.shape[1] == 0:
        raise ValidationError("asset audio is empty")
    owned = False
    if arr.dtype != np.float32:
        arr, owned = arr.astype(np.float32), True
    if not np.isfinite(arr).all():
        raise ValidationError("asset audio contains NaN or infinite samples")
    if arr.flags.writeable:
        # The caller may still hold a writeable reference: copy so nobody can change an asset.
        if not owned:
            arr = np.ascontiguousarray(arr).copy()
        arr.flags.writeable = False
    return arr


def content_hash(samples: np.ndarray) -> str:
    """SHA-256 hex of the shape and the float32 samples (C order)."""
    h = hashlib.sha256()
    h.update(f"legato-f32-{samples.shape[0]}x{samples.shape[1]}-{SAMPLE_RATE}".encode())
    # Hash in chunks: a 5-minute asset is ~115 MB and a contiguous copy would double it.
    step = 1 << 20
    for start in range(0, samples.shape[1], step):
        h.update(np.ascontiguousarray(samples[:, start : start + step]).tobytes())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class Asset:
    """One immutable piece of audio. Equality is by id (content)."""

    id: str
    samples: np.ndarray  # [2, frames] float32, read-only
    name: str = ""

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / SAMPLE_RATE

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Asset) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @classmethod
    def from_samples(cls, samples: np.ndarray, name: str = "") -> Asset:
        frozen = as_asset_samples(samples)
        return cls(content_hash(frozen), frozen, name)


class AssetStore:
    """Assets by id. Adding is idempotent; assets are never removed while the project lives
    (undo may bring a clip back); saving writes only the referenced ones."""

    def __init__(self) -> None:
        self._assets: dict[str, Asset] = {}
        self._lock = threading.Lock()

    def add(self, samples: np.ndarray, name: str = "") -> Asset:
        """Freeze, hash and store audio. Thread: any. Blocking: hashes the samples."""
        return self.add_asset(Asset.from_samples(samples, name))

    def add_asset(self, asset: Asset) -> Asset:
        with self._lock:
            return self._assets.setdefault(asset.id, asset)

    def get(self, asset_id: str) -> Asset | None:
        with self._lock:
            return self._assets.get(asset_id)

    def __getitem__(self, asset_id: str) -> Asset:
        asset = self.get(asset_id)
        if asset is None:
            raise KeyError(f"no asset {asset_id!r} in the project")
        return asset

    def __contains__(self, asset_id: object) -> bool:
        with self._lock:
            return asset_id in self._assets

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._assets)

    def __len__(self) -> int:
        with self._lock:
            return len(self._assets)
