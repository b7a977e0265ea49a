"""Audio files at the app's edges: decode anything to 48 kHz stereo float32, encode the mix.

Import reads WAV/FLAC/OGG/MP3 (and anything else libsndfile knows) with soundfile, converts
once to the app's single format — float32, 48 kHz, stereo, shaped (2, frames) — mono becomes
dual mono, more than two channels are downmixed, and other rates are resampled with soxr at
very high quality. Export writes WAV (16/24-bit or 32-bit float), FLAC (24-bit) or MP3 in
blocks through `AudioWriter`, into a temp file renamed into place, so a cancelled or failed
export never leaves half a file under the requested name.

Public API (stable):
    read_audio(path) -> np.ndarray [2, frames] float32 @ 48 kHz      (AudioFileError)
    import_audio(store, path) -> Asset                               (AudioFileError)
    to_app_format(data [frames, ch], sample_rate) -> [2, frames]
    EXPORT_FORMATS: {"wav16", "wav24", "wav32f", "flac", "mp3"} -> suffix
    AudioWriter(path, fmt) context manager: .write(block [2, n]); atomic on close
    write_audio(path, samples [2, n], fmt)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import soxr

from engine.errors import AudioFileError
from engine.timebase import SAMPLE_RATE

if TYPE_CHECKING:
    from engine.project.assets import Asset, AssetStore

MAX_IMPORT_SECONDS = 4 * 3600  # refuse absurd files before allocating for them
RESAMPLE_QUALITY = "VHQ"

# name -> (soundfile format, subtype, file suffix)
_FORMATS: dict[str, tuple[str, str, str]] = {
    "wav16": ("WAV", "PCM_16", ".wav"),
    "wav24": ("WAV", "PCM_24", ".wav"),
    "wav32f": ("WAV", "FLOAT", ".wav"),
    "flac": ("FLAC", "PCM_24", ".flac"),
    "mp3": ("MP3", "MPEG_LAYER_III", ".mp3"),
}
EXPORT_FORMATS: dict[str, str] = {name: spec[2] for name, spec in _FORMATS.items()}

# ITU-R BS.775 style 5.1 downmix (L R C LFE Ls Rs, the WAV channel order); LFE is dropped.
_DOWNMIX_51 = np.array(
    [[1.0, 0.0, 0.7071, 0.0, 0.7071, 0.0], [0.0, 1.0, 0.7071, 0.0, 0.0, 0.7071]], dtype=np.float32
)


def to_app_format(data: np.ndarray, sample_rate: int) -> np.ndarray:
    """[frames, channels] at any rate -> [2, frames] float32 at 48 kHz (C-contiguous)."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    channels = data.shape[1]
    if channels == 1:
        stereo = np.repeat(data, 2, axis=1)
    elif channels == 2:
        stereo = data
    elif channels == 6:
        stereo = data @ _DOWNMIX_51.T / 2.4142  # keep a full-scale centre channel under 0 dBFS
    else:
        # Unknown layout: odd channels to the left, even to the right, averaged.
        stereo = np.stack([data[:, 0::2].mean(axis=1), data[:, 1::2].mean(axis=1)], axis=1)
    # A float file may carry NaN/inf; they would poison every mix downstream.
    stereo = np.nan_to_num(stereo, nan=0.0, posinf=0.0, neginf=0.0)
    if sample_rate != SAMPLE_RATE:
        stereo = soxr.resample(stereo, sample_rate, SAMPLE_RATE, quality=RESAMPLE_QUALITY)
    return np.ascontiguousarray(stereo.T, dtype=np.float32)  # [2, frames]


def read_audio(path: str | os.PathLike) -> np.ndarray:
    """Decode a file to [2, frames] float32 at 48 kHz.

    Raises:
        AudioFileError: missing, unreadable, unsupported, empty or absurdly long; the message
            names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path.name}: no such file")
    try:
        with sf.SoundFile(str(path)) as f:
            rate, frames = f.samplerate, f.frames
            if rate <= 0:
                raise AudioFileError(f"{path.name}: invalid sample rate {rate}")
            if frames > MAX_IMPORT_SECONDS * rate:
                raise AudioFileError(f"{path.name}: longer than {MAX_IMPORT_SECONDS // 3600} hours")
            data = f.read(dtype="float32", always_2d=True)
    except AudioFileError:
        raise
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise AudioFileError(f"{path.name}: cannot read this audio file ({exc})") from exc
    if data.shape[0] == 0:
        raise AudioFileError(f"{path.name}: the file holds no audio")
    return to_app_format(data, rate)


def import_audio(store: AssetStore, path: str | os.PathLike) -> Asset:
    """Read a file and add it to a project's asset store (deduplicated by content).

    Thread: any (the store is thread-safe); slow for long files, so the desktop runs it off
    the UI thread and then pushes an AddClip on the main thread.
    """
    return store.add(read_audio(path), Path(path).name)


def _format_spec(fmt: str) -> tuple[str, str, str]:
    try:
        return _FORMATS[fmt]
    except KeyError:
        raise AudioFileError(f"unknown export format {fmt!r}; choose one of {sorted(_FORMATS)}") from None


class AudioWriter:
    """Write [2, n] float32 blocks to a file; the file appears under its name only on success.

    Use as a context manager; an exception inside (e.g. Cancelled) deletes the temp file.
    """

    def __init__(self, path: str | os.PathLike, fmt: str, sample_rate: int = SAMPLE_RATE) -> None:
        self.path = Path(path)
        self.format, self.subtype, _ = _format_spec(fmt)
        self.sample_rate = sample_rate
        self._tmp = self.path.with_name(f".{self.path.name}.part")
        self._file: sf.SoundFile | None = None

    def __enter__(self) -> AudioWriter:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            extra = {}
            if self.format == "MP3":
                extra = {"compression_level": 0.0, "bitrate_mode": "CONSTANT"}  # 320 kb/s
            self._file = sf.SoundFile(
                str(self._tmp), "w", self.sample_rate, 2, self.subtype, format=self.format, **extra
            )
        except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as exc:
            raise AudioFileError(f"{self.path.name}: cannot write ({exc})") from exc
        return self

    def write(self, block: np.ndarray) -> None:
        """Append [2, n] float32 samples."""
        assert self._file is not None, "use AudioWriter as a context manager"
        try:
            self._file.write(np.ascontiguousarray(block.T))
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise AudioFileError(f"{self.path.name}: write failed ({exc})") from exc

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._file is not None:
            self._file.close()
        if exc_type is not None:
            self._tmp.unlink(missing_ok=True)
            return
        try:
            with open(self._tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(self._tmp, self.path)
        except OSError as e:
            self._tmp.unlink(missing_ok=True)
            raise AudioFileError(f"{self.path.name}: cannot finish writing ({e})") from e


def write_audio(path: str | os.PathLike, samples: np.ndarray, fmt: str = "wav32f") -> None:
    """Write a whole [2, n] array at 48 kHz in one go."""
    with AudioWriter(path, fmt) as writer:
        writer.write(samples)
