"""Import of every format into 48 kHz stereo float32, clear errors, and export == the offline mix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from engine.audio.export import export_mix, export_stems
from engine.audio.files import import_audio, read_audio, to_app_format, write_audio
from engine.audio.mixer import render_range
from engine.audio.render_plan import build_render_plan
from engine.errors import AudioFileError, Cancelled
from engine.jobs.context import JobContext
from engine.project import Project
from engine.project.commands import AddClip, AddTrack, SetFades, SetTrackPan

SR = 48_000


def tone(freq: float, seconds: float, rate: int, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = amp * np.sin(2 * math.pi * freq * t)
    return np.repeat(mono[:, None], channels, axis=1).astype(np.float32)  # [frames, ch]


def dominant_freq(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * SR / len(x))


@pytest.mark.parametrize(
    "suffix, fmt, subtype",
    [
        (".wav", "WAV", "PCM_16"),
        (".flac", "FLAC", "PCM_24"),
        (".ogg", "OGG", "VORBIS"),
        (".mp3", "MP3", "MPEG_LAYER_III"),
    ],
)
def test_import_every_format_from_44k1_mono(tmp_path, suffix, fmt, subtype):
    path = tmp_path / f"tone{suffix}"
    sf.write(str(path), tone(1000, 0.5, 44_100), 44_100, format=fmt, subtype=subtype)
    audio = read_audio(path)
    assert audio.dtype == np.float32 and audio.shape[0] == 2
    # Lossy codecs may pad a little; the length must be 0.5 s at 48 kHz within a few ms.
    assert abs(audio.shape[1] - SR // 2) < 0.02 * SR
    np.testing.assert_array_equal(audio[0], audio[1])  # mono became dual mono
    assert dominant_freq(audio[0]) == pytest.approx(1000, abs=5)  # resampled, not re-pitched


def test_resampling_keeps_level_and_length_exactly():
    audio = to_app_format(tone(440, 1.0, 44_100), 44_100)
    assert audio.shape == (2, SR)
    core = audio[0, 1000:-1000]
    assert np.abs(core).max() == pytest.approx(0.5, abs=0.005)


def test_multichannel_downmix():
    six = np.zeros((100, 6), np.float32)
    six[:, 2] = 0.5  # centre only
    out = to_app_format(six, SR)
    assert out.shape == (2, 100) and np.allclose(out[0], out[1]) and 0 < out[0, 0] < 0.5
    four = np.zeros((10, 4), np.float32)
    four[:, 0] = four[:, 2] = 1.0  # both "left" channels
    out = to_app_format(four, SR)
    assert np.allclose(out[0], 1.0) and np.allclose(out[1], 0.0)


def test_import_adds_a_hashed_asset(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(str(path), tone(440, 0.1, SR, 2), SR, subtype="FLOAT")
    p = Project()
    asset = import_audio(p.assets, path)
    assert asset.name == "a.wav" and asset.id in p.assets and not asset.samples.flags.writeable
    assert import_audio(p.assets, path) is asset  # same content, stored once


def test_corrupt_missing_and_empty_files_name_the_file(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(AudioFileError, match="broken.wav"):
        read_audio(bad)
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio at all " * 50)
    with pytest.raises(AudioFileError, match="notes.mp3"):
        read_audio(text)
    with pytest.raises(AudioFileError, match="missing.flac"):
        read_audio(tmp_path / "missing.flac")
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 2), np.float32), SR)
    with pytest.raises(AudioFileError, match="empty.wav"):
        read_audio(empty)


def _song() -> Project:
    p = Project()
    a = p.assets.add(to_app_format(tone(330, 1.5, SR, 2, 0.4), SR), "a")
    b = p.assets.add(to_app_format(tone(550, 1.0, SR, 2, 0.4), SR), "b")
    p.history.push(AddTrack("Keys", track_id="ta"))
    p.history.push(AddTrack("Bass", track_id="tb"))
    p.history.push(AddClip("ta", a.id, 0, clip_id="ca"))
    p.history.push(AddClip("tb", b.id, SR // 3, clip_id="cb"))
    p.history.push(SetFades("ca", 2000, 5000))
    p.history.push(SetTrackPan("tb", 0.4))
    return p


def test_export_float_wav_is_bit_identical_to_the_offline_mix(tmp_path):
    plan = build_render_plan(_song())
    progress = []
    path = export_mix(plan, tmp_path / "mix.wav", "wav32f", JobContext(on_progress=progress.append))
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    assert rate == SR
    offline = render_range(plan, 0, plan.length, block=1024)  # a different block size on purpose
    assert np.array_equal(data.T, offline)
    assert progress[-1].step == progress[-1].total == 2


@pytest.mark.parametrize(
    "fmt, tol", [("wav16", 1 / 2**14), ("wav24", 1 / 2**22), ("flac", 1 / 2**22), ("mp3", None)]
)
def test_export_formats(tmp_path, fmt, tol):
    plan = build_render_plan(_song())
    path = export_mix(plan, tmp_path / f"mix.{fmt}", fmt)
    back = read_audio(path)
    offline = render_range(plan, 0, plan.length)
    if tol is None:  # lossy: just a plausible file of about the right length and level
        assert abs(back.shape[1] - offline.shape[1]) < 0.1 * SR and np.abs(back).max() > 0.2
    else:
        np.testing.assert_allclose(back, offline, atol=tol)


def test_export_stems_are_aligned_and_sum_to_the_mix(tmp_path):
    project = _song()
    plan = build_render_plan(project)
    names = {t.id: t.name for t in project.tracks}
    paths = export_stems(plan, tmp_path / "stems", "wav32f", names)
    assert [p.name for p in paths] == ["01 Keys.wav", "02 Bass.wav"]
    stems = [sf.read(str(p), dtype="float32", always_2d=True)[0].T for p in paths]
    assert all(s.shape[1] == plan.length for s in stems)
    np.testing.assert_allclose(stems[0] + stems[1], render_range(plan, 0, plan.length), atol=1e-6)


def test_cancelled_export_leaves_no_file(tmp_path):
    ctx = JobContext()
    ctx.cancel_token.cancel()
    with pytest.raises(Cancelled):
        export_mix(build_render_plan(_song()), tmp_path / "mix.wav", "wav16", ctx)
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_and_unwritable_path(tmp_path):
    with pytest.raises(AudioFileError, match="unknown export format"):
        write_audio(tmp_path / "x.aiff", np.zeros((2, 10), np.float32), "aiff")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AudioFileError):
        write_audio(blocker / "sub" / "x.wav", np.zeros((2, 10), np.float32), "wav16")
