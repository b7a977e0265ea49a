"""`legato generate` end to end on the tiny checkpoints: every task writes audio + a sidecar."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from engine.cli import build_parser, main

SR = 48_000


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-src")
    t = np.arange(int(3.0 * SR)) / SR
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    long_path = folder / "song.wav"
    sf.write(long_path, np.stack([tone, tone], axis=1), SR)  # 3 s: room for a 3 s repaint window
    short_path = folder / "short.flac"
    sf.write(short_path, np.stack([tone[:SR], tone[:SR]], axis=1), SR)
    return long_path, short_path


def _run(argv, capsys):
    code = main(["generate", "--quiet", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _outputs(stdout):
    rows = [line.split("\t") for line in stdout.strip().splitlines()]
    return [(row[0], row[1]) for row in rows]


def test_help_is_readable(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "--help"])
    text = capsys.readouterr().out
    for flag in ("--task", "--caption", "--lyrics", "--duration", "--src", "--ref", "--repaint", "--track",
                 "--batch", "--seeds", "--checkpoints", "--model", "--out", "--format", "--device", "--dtype",
                 "--from-sidecar", "examples:"):
        assert flag in text


CASES = [
    ("text2music", ["--caption", "lofi", "--duration", "5", "--batch", "2", "--seeds", "1,2", "--format", "wav"]),
    ("cover", ["--task", "cover", "--src", "{short}", "--cover-strength", "0.5", "--format", "flac"]),
    ("repaint", ["--task", "repaint", "--src", "{long}", "--repaint", "0:3", "--format", "wav"]),
    ("lego", ["--task", "lego", "--src", "{short}", "--track", "drums", "--steps", "2"]),
    ("extract", ["--task", "extract", "--src", "{short}", "--track", "vocals", "--steps", "2"]),
    ("complete", ["--task", "complete", "--src", "{short}", "--track", "drums", "--track", "bass",
                  "--steps", "2"]),
]


@pytest.mark.parametrize(("task", "args"), CASES, ids=[c[0] for c in CASES])
def test_generate_each_task_writes_audio_and_sidecar(task, args, tiny_checkpoints, sources, tmp_path, capsys):
    long_path, short_path = sources
    argv = [a.format(long=long_path, short=short_path) for a in args]
    seeds = [] if "--seeds" in argv else ["--seeds", "3"]
    code, out, err = _run([*argv, *seeds, "--checkpoints", str(tiny_checkpoints), "--out", str(tmp_path)], capsys)
    assert code == 0, err
    written = _outputs(out)
    assert len(written) == (2 if task == "text2music" else 1)
    for audio_path, sidecar_path in written:
        audio, rate = sf.read(audio_path, always_2d=True)
        assert rate == SR and audio.shape[1] == 2 and audio.shape[0] >= 128 * 1920
        meta = json.loads(open(sidecar_path).read())
        assert meta["task"] == task and meta["request"]["task"] == task
        expected_model = "acestep-v15-base" if task in ("lego", "extract", "complete") else "acestep-v15-turbo"
        assert meta["models"][0]["name"] == expected_model  # base picked automatically


def test_from_sidecar_reproduces_the_take_bit_for_bit(tiny_checkpoints, tmp_path, capsys):
    code, out, err = _run(["--caption", "lofi", "--duration", "5", "--batch", "2", "--seeds", "4,5",
                           "--format", "wav", "--checkpoints", str(tiny_checkpoints), "--out", str(tmp_path / "a")],
                          capsys)
    assert code == 0, err
    audio_path, sidecar_path = _outputs(out)[1]
    code, out, err = _run(["--from-sidecar", sidecar_path, "--checkpoints", str(tiny_checkpoints),
                           "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    (again_path, _), = _outputs(out)
    first, _ = sf.read(audio_path, dtype="float32")
    again, _ = sf.read(again_path, dtype="float32")
    assert np.array_equal(first, again)


def test_bad_parameters_are_reported_by_name(tiny_checkpoints, tmp_path, capsys):
    code, _, err = _run(["--task", "repaint", "--src", "nowhere.wav", "--repaint", "0:100",
                         "--checkpoints", str(tiny_checkpoints)], capsys)
    assert code == 1 and "repaint_end" in err
    code, _, err = _run(["--bpm", "5", "--checkpoints", str(tiny_checkpoints)], capsys)
    assert code == 1 and "bpm" in err
    code, _, err = _run(["--task", "extract", "--src", "x.wav", "--track", "vocals", "--model", "acestep-v15-turbo",
                         "--checkpoints", str(tiny_checkpoints), "--out", str(tmp_path)], capsys)
    assert code == 1 and "model" in err
