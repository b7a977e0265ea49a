"""What a generation returns: one immutable take per batch item, with full provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def read_only(array: np.ndarray) -> np.ndarray:
    """A contiguous copy nobody can write to (results cross threads)."""
    out = np.array(array, copy=True, order="C")
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class ModelIdentity:
    """Which weights made a take: folder name and sha256 of each weight file."""

    name: str
    path: str
    weight_sha256: tuple[tuple[str, str], ...]  # (file name, hex digest)


@dataclass(frozen=True)
class Provenance:
    """Everything needed to understand and reproduce a take.

    `request` is the JSON-ready request with the resolved seeds of the whole batch; re-running it
    and taking item `item_index` reproduces this take on the same device and dtype.
    """

    request: dict[str, Any]
    seed: int
    item_index: int
    task: str
    models: tuple[ModelIdentity, ...]
    device: str
    dtype: str
    schedule: tuple[float, ...]
    timings_s: tuple[tuple[str, float], ...]
    versions: tuple[tuple[str, str], ...]
    lm_metadata: tuple[tuple[str, Any], ...] = ()
    # The runtime options it ran with (offload, quantization, compile, vae_device, dtype); empty
    # when the pipeline was built without them (tests, the conformance kit).
    runtime: tuple[tuple[str, str], ...] = ()
    # Where the source latents came from: "cached" (given with the request: a take's own
    # latents, no VAE encode), "encoded" (VAE encode of the source audio), "" (no source).
    source_latents: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "legato-take/1",
            "request": self.request,
            "seed": self.seed,
            "item_index": self.item_index,
            "task": self.task,
            "models": [
                {"name": m.name, "path": m.path, "weights": dict(m.weight_sha256)} for m in self.models
            ],
            "device": self.device,
            "dtype": self.dtype,
            "schedule": list(self.schedule),
            "timings_s": dict(self.timings_s),
            "versions": dict(self.versions),
            "lm_metadata": dict(self.lm_metadata),
            "runtime": dict(self.runtime),
            "source_latents": self.source_latents,
        }


@dataclass(frozen=True)
class Take:
    """One generated item.

    Attributes:
        audio: float32 [2, S] at 48 kHz, read-only.
        latents: float32 [T, 64] the generated latents (for reuse as source), read-only.
        codes: 5 Hz FSQ codes of the generated latents (empty if the checkpoint lacks a tokenizer).
        provenance: parameters, seed, models, timings.
        latent_gain: audio = decode(latents) · latent_gain where the model made the audio (the
            anti-clip and loudness scaling; spliced source audio is the source's own).
    """

    audio: np.ndarray
    latents: np.ndarray
    codes: tuple[int, ...]
    provenance: Provenance
    sample_rate: int = 48_000
    latent_gain: float = 1.0

    @property
    def seed(self) -> int:
        return self.provenance.seed

    @property
    def duration_s(self) -> float:
        return self.audio.shape[1] / self.sample_rate


@dataclass(frozen=True)
class GenerationResult:
    """All takes of one request, in batch order."""

    takes: tuple[Take, ...]
    timings_s: tuple[tuple[str, float], ...] = field(default=())
