"""Seeded fuzzers for the three kinds of untrusted files (issue 13): audio, project.json and
checkpoint configs/headers. Each case must end in a sane result or a clear error of our own
type naming the file - never another exception, a crash or a hang.

Every fuzzer is seeded and stops after CASES cases or BUDGET_S seconds, whichever comes first,
so it stays a few seconds on a slow CI core. A failure message gives the seed and case index;
`_mutations(seed)` regenerates exactly that case.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import struct
import time

import numpy as np
import pytest
import soundfile as sf

from engine.errors import AudioFileError, CheckpointError, ProjectFileError

SEED = 13
CASES = 400
BUDGET_S = 3.0

EXTREMES = [0, 1, -1, 2, 255, 65535, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1, 3, 7, 48000, 1 << 40]


def _cases(rng: random.Random, limit: int = CASES, budget_s: float = BUDGET_S):
    deadline = time.monotonic() + budget_s
    for index in range(limit):
        if time.monotonic() > deadline:
            return
        yield index


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """Byte-level damage: flips, overwrites with extreme integers, truncation, splices."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        if kind == 0 and buf:  # flip a byte (headers most often)
            pos = rng.randrange(min(len(buf), 128)) if rng.random() < 0.7 else rng.randrange(len(buf))
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == 1 and len(buf) > 8:  # an extreme 16/32/64-bit integer in the header
            width = rng.choice([2, 4, 8])
            pos = rng.randrange(max(1, min(len(buf), 96) - width))
            value = rng.choice(EXTREMES) % (1 << (8 * width))
            buf[pos : pos + width] = value.to_bytes(width, "little")
        elif kind == 2:  # truncate
            buf = buf[: rng.randrange(len(buf) + 1)]
        elif kind == 3 and buf:  # duplicate a slice somewhere
            a = rng.randrange(len(buf))
            b = min(len(buf), a + rng.randrange(1, 64))
            pos = rng.randrange(len(buf))
            buf[pos:pos] = buf[a:b]
        else:  # random bytes
            pos = rng.randrange(len(buf) + 1)
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    return bytes(buf)


# --- audio ---------------------------------------------------------------------------------------


def _audio_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    tone = (np.sin(np.arange(4800) / 7.0) * 0.5).astype(np.float32)
    stereo = np.stack([tone, rng.standard_normal(4800).astype(np.float32) * 0.1], 1)
    out = {}
    for name, fmt, subtype, rate, data in [
        ("pcm16.wav", "WAV", "PCM_16", 44100, stereo),
        ("float.wav", "WAV", "FLOAT", 96000, stereo),
        ("mono24.wav", "WAV", "PCM_24", 48000, tone[:, None]),
        ("ms.wav", "WAV", "MS_ADPCM", 22050, stereo),
        ("ima.wav", "WAV", "IMA_ADPCM", 48000, tone[:, None]),
        ("gsm.wav", "WAV", "GSM610", 8000, tone[:, None]),
        ("a.flac", "FLAC", "PCM_16", 48000, stereo),
        ("a.ogg", "OGG", "VORBIS", 44100, stereo),
        ("a.aiff", "AIFF", "PCM_16", 32000, stereo),
    ]:
        buf = io.BytesIO()
        sf.write(buf, data, rate, format=fmt, subtype=subtype)
        out[name] = buf.getvalue()
    return out


def test_fuzz_audio_files(tmp_path):
    from engine.audio.files import read_audio

    rng = random.Random(SEED)
    seeds = _audio_seeds()
    names = sorted(seeds)
    outcomes = {"ok": 0, "error": 0}
    for i in _cases(rng):
        name = rng.choice(names)
        path = tmp_path / f"case{i}-{name}"
        path.write_bytes(_mutate_bytes(seeds[name], rng))
        try:
            out = read_audio(path)
        except AudioFileError as exc:
            assert path.name in str(exc), f"seed {SEED} case {i}: error does not name the file: {exc}"
            outcomes["error"] += 1
        else:
            assert out.dtype == np.float32 and out.ndim == 2 and out.shape[0] == 2, f"case {i}"
            assert out.shape[1] >= 1 and np.isfinite(out).all(), f"seed {SEED} case {i}: {name}"
            outcomes["ok"] += 1
        path.unlink()
    assert outcomes["ok"] > 10 and outcomes["error"] > 10, outcomes  # both paths were exercised


# --- project.json --------------------------------------------------------------------------------

HOSTILE_VALUES = [
    None, True, False, 0, -1, 1.5, float(10**308), -(10**30), 10**20, "", "x" * 300, "\udc80", "../../etc",
    "/etc/passwd", [], [1, 2], {}, {"a": 1}, [[[[[]]]]], "audio/" + "0" * 64 + ".wav",
]


def _paths(obj, prefix=()):
    """Every (path, value) in a JSON document."""
    yield prefix, obj
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _paths(value, prefix + (index,))


def _set(doc, path, value):
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _mutate_document(doc: dict, rng: random.Random) -> str:
    doc = json.loads(json.dumps(doc))
    for _ in range(rng.randint(1, 3)):
        paths = [p for p, _ in _paths(doc) if p]
        path = rng.choice(paths)
        kind = rng.randrange(4)
        try:
            if kind == 0:
                _set(doc, path, rng.choice(HOSTILE_VALUES))
            elif kind == 1 and isinstance(path[-1], str):
                parent = doc
                for key in path[:-1]:
                    parent = parent[key]
                del parent[path[-1]]
            elif kind == 2:
                _set(doc, path, rng.choice(EXTREMES) * rng.choice([1, -1]))
            else:
                nested = json.loads(json.dumps(doc)) if rng.random() < 0.1 else "7" * rng.choice([10, 5000])
                _set(doc, path, [nested])
        except (KeyError, IndexError, TypeError):
            continue
    text = json.dumps(doc)
    if rng.random() < 0.15:  # and sometimes raw text damage on top
        text = _mutate_bytes(text.encode(), rng).decode("utf-8", "surrogateescape")
    return text


def test_fuzz_project_json(tmp_path):
    from engine.project import Project
    from engine.project.commands import AddClip, AddTrack
    from engine.project.io import load_project, save_project

    p = Project("Fuzz")
    a = p.assets.add(np.full((2, 4800), 0.1, np.float32), "a.wav")
    p.history.push(AddTrack("T", track_id="t1"))
    p.history.push(AddClip("t1", a.id, 0, clip_id="c1"))
    folder = save_project(p, tmp_path / "Fuzz")
    original = json.loads((folder / "project.json").read_text())
    rng = random.Random(SEED)
    outcomes = {"ok": 0, "error": 0}
    for i in _cases(rng):
        text = _mutate_document(original, rng)
        (folder / "project.json").write_bytes(text.encode("utf-8", "surrogateescape"))
        try:
            project = load_project(folder)
        except ProjectFileError as exc:
            assert "Fuzz.legato" in str(exc) or "audio/" in str(exc), f"seed {SEED} case {i}: {exc}"
            outcomes["error"] += 1
            continue
        outcomes["ok"] += 1
        # Whatever loads must save again (the lone-surrogate bug was: loads, cannot be saved).
        save_project(project, tmp_path / "resaved")
        shutil.rmtree(tmp_path / "resaved.legato")
    assert outcomes["ok"] > 5 and outcomes["error"] > 50, outcomes


# --- checkpoint configs and safetensors headers ---------------------------------------------------

CONFIG_VALUES = [-1, 0, 1e9, 100000, 2**63, True, None, "64", [], {}, 1.5, [8] * 100, "sliding_attention"]


def _mutate_config(config: dict, rng: random.Random) -> str:
    config = json.loads(json.dumps(config))
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(sorted(config))
        kind = rng.randrange(3)
        if kind == 0:
            config[key] = rng.choice(CONFIG_VALUES)
        elif kind == 1:
            del config[key]
        else:
            config["auto_map" if rng.random() < 0.5 else key] = {"AutoModel": "evil.Model"}
    text = json.dumps(config)
    if rng.random() < 0.2:
        text = rng.choice(["[" * 5000 + "]" * 5000, "[1, 2]", '{"hidden_size": ' + "9" * 5000 + "}", text[:-3]])
    return text


@pytest.fixture(scope="module")
def fuzz_tree(tiny_checkpoints, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-ckpt")
    for name in ("acestep-v15-turbo", "vae", "Qwen3-Embedding-0.6B"):
        shutil.copytree(tiny_checkpoints / name, root / name)
    return root


def test_fuzz_checkpoint_configs(fuzz_tree):
    from engine.models.acestep_config import AceStepConfig
    from engine.models.config_guard import read_model_config
    from engine.models.discovery import list_installed_models

    rng = random.Random(SEED)
    originals = {
        name: (fuzz_tree / name / "config.json").read_text()
        for name in ("acestep-v15-turbo", "vae", "Qwen3-Embedding-0.6B")
    }
    outcomes = {"ok": 0, "error": 0}
    try:
        for i in _cases(rng, limit=300):
            name = rng.choice(sorted(originals))
            path = fuzz_tree / name / "config.json"
            path.write_text(_mutate_config(json.loads(originals[name]), rng))
            try:
                if name == "acestep-v15-turbo":
                    AceStepConfig.from_file(path)
                else:
                    read_model_config(path)
                outcomes["ok"] += 1
            except CheckpointError as exc:
                assert str(path) in str(exc), f"seed {SEED} case {i}: {exc}"
                outcomes["error"] += 1
            if i % 25 == 0:  # the listing must survive every config (it used to crash)
                listed = {m.name: m for m in list_installed_models(fuzz_tree)}
                assert name in listed, f"seed {SEED} case {i}: {name} vanished from the listing"
            path.write_text(originals[name])
    finally:
        for name, text in originals.items():
            (fuzz_tree / name / "config.json").write_text(text)
    assert outcomes["ok"] > 5 and outcomes["error"] > 50, outcomes


def _mutate_header(data: bytes, rng: random.Random) -> bytes:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    keys = [k for k in header if k != "__metadata__"]
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(keys)
        kind = rng.randrange(6)
        if not isinstance(header.get(key), dict):
            continue
        if kind == 0:
            header[key]["dtype"] = rng.choice(["I64", "BOOL", "U8", "F64", "XX", 3, None])
        elif kind == 1:
            header[key]["shape"] = rng.choice([[2**31, 2**31], [-1], [0], "big", [1] * 20, [2**62]])
        elif kind == 2:
            header[key]["data_offsets"] = rng.choice([[0, 2**63], [10, 5], [-1, 4], [0], None])
        elif kind == 3:
            header = rng.choice([[1, 2, 3], "x", 7, None])
            break
        elif kind == 4:
            header[key] = rng.choice([None, [], "x"])
        else:
            del header[key]
    text = json.dumps(header).encode()
    length = len(text) if rng.random() < 0.7 else rng.choice([2**64 - 1, 2**40, 0, 7, len(text) + 100])
    return struct.pack("<Q", length) + text + body


def test_fuzz_safetensors_headers(fuzz_tree, tmp_path):
    from engine.models.checkpoint_files import check_float_weights, check_safetensors_complete

    rng = random.Random(SEED)
    original = (fuzz_tree / "acestep-v15-turbo" / "model.safetensors").read_bytes()
    outcomes = {"ok": 0, "error": 0}
    for i in _cases(rng):
        path = tmp_path / f"case{i}.safetensors"
        data = _mutate_header(original, rng) if rng.random() < 0.8 else _mutate_bytes(original[:4096], rng)
        path.write_bytes(data)
        try:
            check_safetensors_complete(path)
            check_float_weights(path)
            outcomes["ok"] += 1
        except CheckpointError as exc:
            assert str(path) in str(exc), f"seed {SEED} case {i}: {exc}"
            outcomes["error"] += 1
        path.unlink()
    assert outcomes["error"] > 50, outcomes


def test_fuzz_dit_loads(fuzz_tree):
    """A few full DiT loads over mutated configs: what passes the checks must build, or fail clearly."""
    from engine.models.dit_loader import load_dit

    rng = random.Random(SEED)
    folder = fuzz_tree / "acestep-v15-turbo"
    original = (folder / "config.json").read_text()
    try:
        for i in _cases(rng, limit=25, budget_s=4.0):
            (folder / "config.json").write_text(_mutate_config(json.loads(original), rng))
            try:
                load_dit(folder)
            except CheckpointError as exc:
                assert str(folder) in str(exc), f"seed {SEED} case {i}: {exc}"
    finally:
        (folder / "config.json").write_text(original)
