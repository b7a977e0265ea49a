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
import struct
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
# Below 1 kHz nothing is audio (telephone speech is 8 kHz); above 1.536 MHz no converter exists.
# The lower bound also caps soxr's upsampling ratio at 48x.
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 1_536_000
MAX_CHANNELS = 64
# Above this peak (far beyond audio's +-1) soxr's float32 filter can overflow to Inf.
_RESAMPLE_F32_SAFE_PEAK = 1e30
_SHORT_INPUT_FRAMES = 4096  # inputs shorter than this are padded before resampling
_READ_BLOCK_FRAMES = 1 << 20  # ~21 s at 48 kHz per decode block
# WAV format tags whose data comes in fixed blocks: MS ADPCM, IMA ADPCM, GSM 6.10.
_BLOCK_CODECS = {0x0002, 0x0011, 0x0031}

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
        stereo = _resample(stereo, sample_rate)
    return np.ascontiguousarray(stereo.T, dtype=np.float32)  # [2, frames]


def _resample(stereo: np.ndarray, rate: int) -> np.ndarray:
    """[frames, 2] float32 at `rate` -> [round(frames * 48k / rate) (at least 1), 2] at 48 kHz.

    Two edge cases soxr alone gets wrong:
    - float files with values near float32's maximum overshoot to Inf in the filter's ringing:
      such input is resampled in float64 and clipped back into float32's range;
    - 1-3 frames at >= 176 kHz come back empty (the one-shot output rounds to 0 frames and the
      filter never fills): short input is padded with silence and the output trimmed to its
      true length, at least one frame.
    """
    frames = stereo.shape[0]
    target = max(1, round(frames * SAMPLE_RATE / rate))
    work = stereo
    if np.abs(stereo).max(initial=0.0) > _RESAMPLE_F32_SAFE_PEAK:
        work = stereo.astype(np.float64)
    if frames < _SHORT_INPUT_FRAMES:
        work = np.concatenate([work, np.zeros((_SHORT_INPUT_FRAMES - frames, 2), work.dtype)])
    out = soxr.resample(work, rate, SAMPLE_RATE, quality=RESAMPLE_QUALITY)[:target]
    if out.shape[0] < target:
        out = np.concatenate([out, np.zeros((target - out.shape[0], 2), out.dtype)])
    if out.dtype != np.float32:
        limit = np.finfo(np.float32).max
        out = np.clip(out, -limit, limit).astype(np.float32)
    return out


def _display_name(path: Path) -> str:
    """The file name as printable text: a non-UTF-8 name would otherwise make the error message
    itself unprintable (UnicodeEncodeError on the console or in a dialog)."""
    return os.fsencode(path.name).decode("utf-8", "replace")


def _riff_chunks(path: Path, wanted: set[bytes]) -> dict[bytes, bytes]:
    """The first few bytes of the wanted chunks of a RIFF/WAVE file ({} for other formats)."""
    found: dict[bytes, bytes] = {}
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return found
            for _ in range(64):  # a real WAV has a handful of chunks before data
                chunk = fh.read(8)
                if len(chunk) < 8:
                    break
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid in wanted:
                    found[cid] = fh.read(min(size, 64))
                    fh.seek(size - len(found[cid]) + (size & 1), os.SEEK_CUR)
                else:
                    fh.seek(size + (size & 1), os.SEEK_CUR)
                if cid == b"data":
                    break
    except (OSError, struct.error):
        return {}
    return found


def _true_frames(path: Path, decoded: int) -> int:
    """Frames of a block-compressed WAV (ADPCM, GSM) without the last block's padding.

    libsndfile reports whole blocks; the real length is the `fact` chunk's sample count. It is
    trusted only when it trims at most one block (libsndfile's own IMA writer stores a wrong
    `fact`, which this check ignores), so a bad `fact` can never cut real audio.
    """
    chunks = _riff_chunks(path, {b"fmt ", b"fact"})
    fmt, fact = chunks.get(b"fmt "), chunks.get(b"fact")
    if not fmt or not fact or len(fmt) < 20 or len(fact) < 4:
        return decoded
    tag = struct.unpack("<H", fmt[:2])[0]
    samples_per_block = struct.unpack("<H", fmt[18:20])[0]
    true = struct.unpack("<I", fact[:4])[0]
    if tag in _BLOCK_CODECS and 0 < true <= decoded and decoded - true <= max(samples_per_block, 1):
        return true
    return decoded


def _read_all(f: sf.SoundFile, name: str) -> np.ndarray:
    """Every frame as [frames, channels] float32, read block by block.

    Why blocks: a one-shot read allocates what the header CLAIMS (a mutated FLAC can claim hours
    of audio in a few bytes); block reads only ever hold what really decodes. They also work for
    codecs that cannot seek (GSM 6.10 in WAV), where soundfile refuses a one-shot read.
    """
    limit = MAX_IMPORT_SECONDS * f.samplerate
    blocks, total = [], 0
    while True:
        block = f.read(_READ_BLOCK_FRAMES, dtype="float32", always_2d=True)
        if block.shape[0] == 0:
            break
        total += block.shape[0]
        if total > limit:
            raise AudioFileError(f"{name}: longer than {MAX_IMPORT_SECONDS // 3600} hours")
        blocks.append(block)
        if block.shape[0] < _READ_BLOCK_FRAMES and f.seekable():
            break  # a short block from a seekable file is the end
    if not blocks:
        return np.zeros((0, f.channels), np.float32)
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def read_audio(path: str | os.PathLike) -> np.ndarray:
    """Decode a file to [2, frames] float32 at 48 kHz.

    Raises:
        AudioFileError: missing, unreadable, unsupported, empty or absurdly long; the message
            names the file.
    """
    path = Path(os.fsdecode(path))
    name = _display_name(path)
    try:
        if not path.is_file():
            raise AudioFileError(f"{name}: no such file")
        # Bytes on POSIX: soundfile encodes str names as strict UTF-8, which refuses valid
        # non-UTF-8 file names (they arrive as lone surrogates).
        with sf.SoundFile(os.fsencode(path) if os.name == "posix" else str(path)) as f:
            rate, frames, channels = f.samplerate, f.frames, f.channels
            # Bound what decoding and resampling will allocate BEFORE decoding: a header
            # claiming 1-2 Hz made soxr allocate many GB (MemoryError or a segfault).
            if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
                raise AudioFileError(
                    f"{name}: sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
                )
            if not 1 <= channels <= MAX_CHANNELS:
                raise AudioFileError(f"{name}: {channels} channels (at most {MAX_CHANNELS})")
            if frames > MAX_IMPORT_SECONDS * rate:
                raise AudioFileError(f"{name}: longer than {MAX_IMPORT_SECONDS // 3600} hours")
            data = _read_all(f, name)
    except AudioFileError:
        raise
    except PermissionError as exc:
        raise AudioFileError(f"{name}: permission denied (check the file's and its folder's access)") from exc
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError, MemoryError) as exc:
        raise AudioFileError(f"{name}: cannot read this audio file ({exc})") from exc
    data = data[: _true_frames(path, data.shape[0])]
    if data.shape[0] == 0:
        raise AudioFileError(f"{name}: the file holds no audio")
    try:
        return to_app_format(data, rate)
    except MemoryError as exc:
        raise AudioFileError(f"{name}: too large to convert in the memory available") from exc


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
