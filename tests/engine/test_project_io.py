"""Save/reopen round trip, atomic folder layout, hostile project files, autosave and recovery."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from engine.audio.mixer import render_range
from engine.audio.render_plan import build_render_plan
from engine.errors import ProjectFileError
from engine.project import Project
from engine.project.commands import (
    AddClip,
    AddTake,
    AddTrack,
    SetFades,
    SetMasterGain,
    SetTempo,
    SetTimeSignature,
    SetTrackPan,
    SetTrackSolo,
)
from engine.project.io import (
    Autosaver,
    discard_recovery,
    find_recoverable,
    load_project,
    restore,
    save_project,
)
from engine.timebase import TimeSignature
from tests.engine.test_project_commands import snapshot

SR = 48_000


def make_project() -> Project:
    rng = np.random.default_rng(1)
    p = Project("Demo")
    a = p.assets.add((rng.standard_normal((2, SR)) * 0.1).astype(np.float32), "a.wav")
    b = p.assets.add((rng.standard_normal((2, SR // 2)) * 0.1).astype(np.float32), "b.flac")
    h = p.history
    h.push(AddTrack("Vox", track_id="t1"))
    h.push(AddTrack("Drums", kind="stem", stem="drums", track_id="t2"))
    h.push(AddClip("t1", a.id, 1000, length=SR - 2000, source_offset=500, clip_id="c1"))
    h.push(AddClip("t2", b.id, 0, clip_id="c2"))
    h.push(
        AddTake("c1", b.id, name="take B", meta={"seed": 42, "caption": "lofi, 90 bpm", "scores": [0.5, 1]})
    )
    h.push(SetFades("c2", 100, 200))
    h.push(SetTrackPan("t2", -0.25))
    h.push(SetTrackSolo("t1", True))
    h.push(SetTempo(93.5))
    h.push(SetTimeSignature(TimeSignature(7, 8)))
    h.push(SetMasterGain(-1.5))
    return p


def mix(p: Project) -> np.ndarray:
    plan = build_render_plan(p)
    return render_range(plan, 0, plan.length)


@pytest.mark.parametrize("lazy", [True, False])
def test_save_and_reopen_is_identical(tmp_path, lazy):
    p = make_project()
    folder = save_project(p, tmp_path / "Demo")
    assert folder.name == "Demo.legato" and p.path == folder and p.history.is_clean
    assert sorted(os.listdir(folder)) == ["audio", "project.json"]
    assert len(os.listdir(folder / "audio")) == 2
    q = load_project(folder, lazy=lazy)
    assert snapshot(q) == snapshot(p)
    assert q.clip("c1").active_take.meta["caption"] == "lofi, 90 bpm"
    for aid in p.assets.ids():
        assert np.array_equal(q.assets[aid].samples, p.assets[aid].samples)
        assert not q.assets[aid].samples.flags.writeable
    assert np.array_equal(mix(q), mix(p))
    assert q.history.is_clean and not q.history.can_undo
    load_project(folder, verify_hashes=True)  # the files hash to their names


def test_saving_again_rewrites_json_only(tmp_path):
    p = make_project()
    folder = save_project(p, tmp_path / "Demo.legato")
    asset_files = {f: (folder / "audio" / f).stat().st_mtime_ns for f in os.listdir(folder / "audio")}
    p.history.push(SetTempo(100.0))
    assert not p.history.is_clean
    save_project(p, folder)
    assert {f: (folder / "audio" / f).stat().st_mtime_ns for f in os.listdir(folder / "audio")} == asset_files
    assert load_project(folder).tempo_bpm == 100.0
    assert not [f for f in os.listdir(folder) if f.endswith(".tmp")]


def test_a_save_that_fails_midway_keeps_the_old_save_loadable(tmp_path, monkeypatch):
    """The second save writes a new take's audio, then fails as project.json is put in place
    (disk full, power cut): the folder still opens as the FIRST save, with nothing left over."""
    p = make_project()
    folder = save_project(p, tmp_path / "Demo")
    first = snapshot(load_project(folder))
    new_audio = p.assets.add(np.full((2, 4800), 0.25, np.float32), "new take")
    p.history.push(AddTake("c2", new_audio.id, name="new", meta={"seed": 7}))
    p.history.push(SetTempo(100.0))
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.path.basename(dst) == "project.json":
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(ProjectFileError, match="cannot save"):
        save_project(p, folder)
    monkeypatch.undo()
    assert not p.history.is_clean  # the failed save did not claim success
    reopened = load_project(folder, verify_hashes=True)
    assert snapshot(reopened) == first and reopened.tempo_bpm == 93.5
    assert not [f for f in os.listdir(folder) if f.endswith(".tmp")]
    assert not [f for f in os.listdir(folder / "audio") if f.endswith(".tmp")]


@pytest.fixture
def saved(tmp_path):
    folder = save_project(make_project(), tmp_path / "Demo")
    return folder, json.loads((folder / "project.json").read_text())


def corrupt(folder, doc):
    (folder / "project.json").write_text(json.dumps(doc))


def edit(doc, path, value):
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("tracks", 0, "clips", 0, "length"), -5, "length"),
        (("tracks", 0, "clips", 0, "length"), "long", "wrong type"),
        (("tracks", 0, "clips", 0, "position"), 1.5, "wrong type"),
        (("tracks", 0, "gain_db"), 1e30, "gain"),
        (("tracks", 0, "gain_db"), True, "wrong type"),
        (("tracks", 0, "pan"), 7, "pan"),
        (("tracks", 0, "mute"), "yes", "wrong type"),
        (("tracks", 0, "colour"), "javascript:", "colour"),
        (("tracks", 0, "kind"), "midi", "kind"),
        (("tracks", 0, "id"), "../../etc", "id"),
        (("tracks", 1, "id"), "t1", "already"),
        (("tracks", 0, "clips", 0, "active_take"), "nope", "active take"),
        (("tracks", 0, "clips", 0, "takes"), [], "takes"),
        (("tracks", 0, "clips", 0, "fade_in"), 10**12, "fade"),
        (("tempo_bpm",), 0, "tempo"),
        (("time_signature",), [4, 5], "denominator"),
        (("master_gain_db",), "loud", "wrong type"),
        (("schema_version",), 99, "newer"),
        (("format",), "something-else", "not a Legato project"),
        (("sample_rate",), 44100, "sample rate"),
        (("tracks",), {"a": 1}, "wrong type"),
        (("tracks",), [{}] * 600, "tracks"),
    ],
)
def test_hostile_values_give_a_clear_error(saved, path, value, message):
    folder, doc = saved
    corrupt(folder, edit(doc, path, value))
    with pytest.raises(ProjectFileError, match=message):
        load_project(folder)


def test_bad_json_nan_and_deep_nesting(saved):
    folder, doc = saved
    (folder / "project.json").write_text("{ not json")
    with pytest.raises(ProjectFileError, match="not valid JSON"):
        load_project(folder)
    (folder / "project.json").write_text(json.dumps(doc).replace('"gain_db": 0.0', '"gain_db": NaN', 1))
    with pytest.raises(ProjectFileError, match="gain"):
        load_project(folder)
    (folder / "project.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ProjectFileError):
        load_project(folder)
    (folder / "project.json").write_bytes(b"\xff\xfe garbage")
    with pytest.raises(ProjectFileError):
        load_project(folder)


def test_missing_and_escaping_assets(saved, tmp_path):
    folder, doc = saved
    aid = next(iter(doc["assets"]))

    def refused(match):  # loading fails and writes nothing anywhere
        before = sorted((str(p), p.lstat().st_mtime_ns) for p in tmp_path.rglob("*"))
        with pytest.raises(ProjectFileError, match=match):
            load_project(folder)
        assert sorted((str(p), p.lstat().st_mtime_ns) for p in tmp_path.rglob("*")) == before

    corrupt(folder, edit(json.loads(json.dumps(doc)), ("assets", aid, "file"), "../../outside.wav"))
    refused("inside the project")
    corrupt(folder, edit(json.loads(json.dumps(doc)), ("assets", aid, "file"), "/etc/passwd"))
    refused("inside the project")
    # A symlink inside audio/ that points outside the folder is refused too.
    outside = tmp_path / "outside.wav"
    os.replace(folder / "audio" / f"{aid}.wav", outside)
    os.symlink(outside, folder / "audio" / f"{aid}.wav")
    corrupt(folder, doc)
    refused("outside the project")
    os.unlink(folder / "audio" / f"{aid}.wav")
    refused("missing")
    # A take naming an asset that is not listed.
    del doc["assets"][aid]
    corrupt(folder, doc)
    refused("not listed")


def test_asset_that_is_not_audio_or_has_the_wrong_length(saved):
    folder, doc = saved
    aid, entry = next(iter(doc["assets"].items()))
    corrupt(folder, edit(doc, ("assets", aid, "frames"), entry["frames"] + 1))
    with pytest.raises(ProjectFileError, match="frames"):
        load_project(folder)
    (folder / "audio" / f"{aid}.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(ProjectFileError, match="not a valid Legato audio asset"):
        load_project(folder)
    with pytest.raises(ProjectFileError, match="no project.json"):
        load_project(folder / "audio")


def test_autosave_only_when_due_and_changed(tmp_path):
    p = make_project()
    root = tmp_path / "recovery"
    saver = Autosaver(p, root, interval_s=30)
    t0 = saver._last_time
    assert not saver.tick(t0 + 10)  # not due
    assert saver.tick(t0 + 31)  # due and dirty
    assert not saver.tick(t0 + 70)  # due but nothing changed since
    p.history.push(SetTempo(140.0))
    assert saver.tick(t0 + 101)
    [rec] = find_recoverable(root)
    assert rec.project_name == "Demo" and rec.original_path is None
    q = restore(rec)
    assert snapshot(q) == snapshot(p) and not q.history.is_clean
    discard_recovery(rec)
    assert find_recoverable(root) == []


def test_crash_recovery_after_a_save_points_back_at_the_project(tmp_path):
    p = make_project()
    folder = save_project(p, tmp_path / "Song")
    saver = Autosaver(p, tmp_path / "recovery", interval_s=0)
    p.history.push(SetTempo(77.0))
    saver.tick()
    # ... the app crashes here; at the next start:
    [rec] = find_recoverable(tmp_path / "recovery")
    q = restore(rec)
    assert q.tempo_bpm == 77.0 and q.path == folder
    save_project(q, q.path)
    discard_recovery(rec)
    assert load_project(folder).tempo_bpm == 77.0
    # A clean close discards the autosave, so nothing is offered.
    saver2 = Autosaver(q, tmp_path / "recovery", interval_s=0)
    q.history.push(SetTempo(78.0))
    saver2.tick()
    saver2.discard()
    assert find_recoverable(tmp_path / "recovery") == []


def test_unwritable_save_location(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ProjectFileError, match="cannot save"):
        save_project(make_project(), blocker / "Song")
