"""Source latents handed to a generation instead of VAE-encoding its source audio.

A repaint/extend of a generated take can reuse the latents the take was made from (see
engine.studio.latent_store): they are what the VAE encode of that audio stands for, without
the encode's cost (for a 4-minute song the encode alone costs minutes on a CPU). The pipeline
uses them only with the VAE they were made by; otherwise it encodes as before, and the take's
provenance says which happened (`source_latents`: "cached" | "encoded").

Torch-free, so the request module and engine.studio stay importable without torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import ValidationError


def vae_identity(name: str, weights: Mapping[str, str]) -> str:
    """One string for "this VAE": folder name + a digest of its weight files' SHA-256s."""
    digest = hashlib.sha256(json.dumps(sorted(weights.items())).encode()).hexdigest()[:16]
    return f"{name}@{digest}"


@dataclass(frozen=True, eq=False)
class SourceLatents:
    """Latents standing for the VAE encode of a request's (padded) source audio.

    Attributes:
        latents: float32 [T, C]; T = source samples // 1920 (the source is a whole number of
            latent frames), C = the DiT's latent channels. Frames inside the repaint window
            may be anything (the pipeline replaces them with silence latents).
        vae: `vae_identity` of the VAE whose latent space they are in.
        key: where they came from, for the provenance ("asset <sha256> from sample N").
        gain: the source audio is decode(latents) · gain (a generated take was loudness-
            normalised after decoding); the pipeline scales what it decodes by it, so the new
            window sits at the level of the audio around it.
    """

    latents: np.ndarray
    vae: str
    key: str = ""
    gain: float = 1.0

    def __post_init__(self) -> None:
        array = self.latents
        if not isinstance(array, np.ndarray) or array.ndim != 2 or array.shape[0] == 0:
            shape = getattr(array, "shape", type(array).__name__)
            raise ValidationError(f"source_latents: must be a float32 [frames, channels] array, got {shape}")
        if array.dtype != np.float32 or not np.isfinite(array).all():
            raise ValidationError("source_latents: must be finite float32")
        if isinstance(self.gain, bool) or not isinstance(self.gain, int | float) or not 0 < self.gain < 1e6:
            raise ValidationError(f"source_latents: gain must be a number above 0, got {self.gain!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (the array itself is not written into a sidecar)."""
        return {"array": list(self.latents.shape), "vae": self.vae, "key": self.key, "gain": self.gain}


__all__ = ["SourceLatents", "vae_identity"]
