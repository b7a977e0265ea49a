"""Odd audio files (issue 13 item 4): a sane result or an AudioFileError naming the file."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio.files import read_audio
from engine.errors import AudioFileError

F32_MAX = np.finfo(np.float32).max


def _wav(path: Path, data: np.ndarray, rate: int, subtype: str = "FLOAT") -> Path:
    sf.write(str(path), data, rate, subtype=subtype, format="WAV")
    return path


@pytest.mark.parametrize("rate", [1, 2, 999])
def test_absurdly_low_sample_rate_is_refused_before_decoding(tmp_path, rate):
    path = _wav(tmp_path / "low.wav", np.zeros((8000, 1), np.float32), 8000, "PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28] = struct.pack("<I", rate)  # fmt chunk: sample rate ...
    data[28:32] = struct.pack("<I", rate * 2)  # ... and byte rate
    path.write_bytes(bytes(data))
    with pytest.raises(AudioFileError, match=rf"low.wav: sample rate {rate} Hz is outside"):
        read_audio(path)


def test_file_in_unreadable_folder_is_an_audio_error(tmp_path, monkeypatch):
    path = _wav(tmp_path / "a.wav", np.zeros((100, 2), np.float32), 48000)

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", denied)
    with pytest.raises(AudioFileError, match="a.wav: permission denied"):
        read_audio(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_file_in_unreadable_folder_for_real(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    path = _wav(folder / "a.wav", np.zeros((100, 2), np.float32), 48000)
    folder.chmod(0)
    try:
        with pytest.raises(AudioFileError, match="a.wav"):
            read_audio(path)
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 96000])
def test_float_values_near_float32_max_stay_finite_after_resampling(tmp_path, rate):
    path = _wav(tmp_path / "loud.wav", np.full((4800, 2), F32_MAX, np.float32), rate)
    out = read_audio(path)
    assert np.isfinite(out).all() and out.shape == (2, round(4800 * 48000 / rate))


@pytest.mark.parametrize("frames", [1, 2, 3])
@pytest.mark.parametrize("rate", [176_400, 192_000, 384_000])
def test_one_to_three_frames_at_high_rates_are_not_empty(tmp_path, frames, rate):
    path = _wav(tmp_path / "short.wav", np.full((frames, 2), 0.5, np.float32), rate)
    out = read_audio(path)
    assert out.shape == (2, max(1, round(frames * 48000 / rate)))
    assert np.abs(out).max() > 0.01  # the click is there, not silence


def test_short_files_keep_their_true_length_when_resampled(tmp_path):
    for frames, rate in [(10, 44100), (441, 44100), (4000, 96000), (3, 8000)]:
        path = _wav(tmp_path / f"s{frames}.wav", np.full((frames, 2), 0.25, np.float32), rate)
        assert read_audio(path).shape[1] == round(frames * 48000 / rate)


def test_ms_adpcm_decodes_to_the_written_length(tmp_path):
    signal = (np.sin(np.arange(48000) / 10) * 0.3).astype(np.float32)
    for channels in (1, 2):
        path = _wav(tmp_path / f"ms{channels}.wav", np.stack([signal] * channels, 1), 48000, "MS_ADPCM")
        assert sf.info(str(path)).frames > 48000  # libsndfile counts the padded last block
        assert read_audio(path).shape == (2, 48000)


def _with_fact(data: bytes, samples: int) -> bytes:
    i = data.find(b"fact")
    return data[: i + 8] + struct.pack("<I", samples) + data[i + 12 :]


def test_ima_adpcm_trusts_a_correct_fact_chunk_and_ignores_a_wrong_one(tmp_path):
    """Other encoders store the true length in `fact`; libsndfile's IMA writer stores a wrong
    one, and a wrong `fact` must never cut real audio."""
    signal = (np.sin(np.arange(48000) / 10) * 0.3).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.stack([signal] * 2, 1), 48000, subtype="IMA_ADPCM", format="WAV")
    padded = sf.info(io.BytesIO(buf.getvalue())).frames
    good = tmp_path / "good.wav"
    good.write_bytes(_with_fact(buf.getvalue(), 48000))
    assert read_audio(good).shape == (2, 48000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(_with_fact(buf.getvalue(), 1000))  # would drop 47 blocks: ignored
    assert read_audio(cut).shape == (2, padded)


def test_gsm610_wav_is_read(tmp_path):
    signal = (np.sin(np.arange(8000) / 5) * 0.3).astype(np.float32)
    path = _wav(tmp_path / "gsm.wav", signal[:, None], 8000, "GSM610")
    out = read_audio(path)
    assert out.shape == (2, 48000) and np.abs(out).max() > 0.1


def test_valid_file_with_a_non_utf8_name_is_read(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9 \xff.wav"
    sf.write(raw, np.full((100, 2), 0.5, np.float32), 48000, subtype="FLOAT", format="WAV")
    for given in (raw, os.fsdecode(raw), Path(os.fsdecode(raw))):
        assert read_audio(given).shape == (2, 100)


def test_error_for_a_non_utf8_name_is_printable(tmp_path):
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/bad\xe9.wav"))
    path.write_bytes(b"not audio at all")
    with pytest.raises(AudioFileError) as caught:
        read_audio(path)
    str(caught.value).encode("utf-8")  # a lone surrogate here would break the dialog / console
    assert "bad" in str(caught.value)
