"""Source and reference audio as the model wants it: float32 [2, S] at 48 kHz, clamped to [-1, 1].

Facts: upstream_dit.md §3.2 (normalisation, silence test) and §3.7 (30 s reference assembly).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import AudioFileError, ValidationError
from engine.tasks import constants as C

SILENCE_THRESHOLD = 1e-6


def load_audio(audio: str | Path | np.ndarray, sample_rate: int, param: str) -> np.ndarray:
    """Read a file or take an array; return float32 [2, S] at 48 kHz clamped to [-1, 1].

    Mono is duplicated to stereo and only the first two channels are kept (as upstream).
    Arrays are [channels, frames] (a 1-D array is mono).
    """
    if isinstance(audio, np.ndarray):
        data = np.asarray(audio, dtype=np.float32)
        if data.ndim == 1:
            data = data[None, :]
        rate = sample_rate
    else:
        path = Path(audio)
        if not path.is_file():
            raise AudioFileError(f"{param}: file not found: {path}")
        import soundfile as sf

        try:
            frames, rate = sf.read(str(path), dtype="float32", always_2d=True)  # [S, ch]
        except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError subclasses
            raise AudioFileError(f"{param}: cannot read {path}: {exc}") from exc
        data = frames.T
    if data.shape[1] == 0:
        raise ValidationError(f"{param}: the audio is empty")
    if data.shape[0] == 1:
        data = np.concatenate([data, data], axis=0)
    data = data[:2]
    if rate != C.SAMPLE_RATE:
        import soxr

        data = soxr.resample(data.T, rate, C.SAMPLE_RATE, quality="HQ").T.astype(np.float32)
    return np.ascontiguousarray(np.clip(data, -1.0, 1.0), dtype=np.float32)


def is_silent(wav: np.ndarray) -> bool:
    return bool(np.all(np.abs(wav) < SILENCE_THRESHOLD))


def assemble_reference(wav: np.ndarray, rng: np.random.Generator, seconds: int = C.REFERENCE_SECONDS) -> np.ndarray:
    """Upstream's 30 s timbre clip: tile to ≥ 30 s, then one random 10 s window from each third.

    Upstream draws the offsets unseeded; we take them from `rng` (seeded per take) so a take is
    reproducible from its seed. Returns float32 [2, seconds·48000].
    """
    total = seconds * C.SAMPLE_RATE
    if wav.shape[1] < total:
        wav = np.tile(wav, (1, -(-total // wav.shape[1])))
    segment = wav.shape[1] // 3
    window = total // 3
    pieces = []
    for third in range(3):
        start = third * segment
        span = max(segment - window, 0)
        offset = int(rng.integers(0, span + 1))
        pieces.append(wav[:, start + offset : start + offset + window])
    return np.ascontiguousarray(np.concatenate(pieces, axis=1)[:, :total], dtype=np.float32)
