"""Hostile project folders and killed autosaves (issue 13 items 3, 5, 8, 9, 10)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest

from engine.errors import ProjectFileError
from engine.project import Project
from engine.project import io as project_io
from engine.project.autosave import Autosaver, clean_recovery_root, find_recoverable, restore
from engine.project.commands import AddClip, AddTrack, RenameTrack
from engine.project.io import PROJECT_FILE, load_project, save_project

SR = 48_000


def small_project(name: str = "Demo") -> Project:
    p = Project(name)
    a = p.assets.add((np.random.default_rng(3).standard_normal((2, SR)) * 0.1).astype(np.float32), "a.wav")
    p.history.push(AddTrack("Vox", track_id="t1"))
    p.history.push(AddClip("t1", a.id, 0, clip_id="c1"))
    return p


# --- 3. project.json linked outside -------------------------------------------------------------


def test_project_json_symlink_outside_is_not_read(tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_text('{"format": "legato-project"}')
    folder = tmp_path / "Evil.legato"
    folder.mkdir()
    (folder / PROJECT_FILE).symlink_to(secret)
    opened = []
    real_read_bytes = Path.read_bytes

    def spy(self):
        opened.append(self)
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    with pytest.raises(ProjectFileError, match=r"Evil.legato/project.json: is a link to a file outside"):
        load_project(folder)
    assert opened == []  # refused before reading, not after


def test_project_json_symlink_inside_is_fine(tmp_path):
    folder = save_project(small_project(), tmp_path / "A")
    (folder / PROJECT_FILE).rename(folder / "real.json")
    (folder / PROJECT_FILE).symlink_to(folder / "real.json")
    assert load_project(folder).tracks[0].name == "Vox"


# --- 5. odd project files ------------------------------------------------------------------------


def test_five_thousand_digit_integer_is_a_project_error(tmp_path):
    folder = save_project(small_project(), tmp_path / "A")
    text = (folder / PROJECT_FILE).read_text().replace("\"sample_rate\": 48000", "\"sample_rate\": " + "7" * 5000)
    assert "7" * 5000 in text
    (folder / PROJECT_FILE).write_text(text)
    with pytest.raises(ProjectFileError, match=r"A.legato/project.json: not valid JSON"):
        load_project(folder)


def test_unreadable_audio_folder_is_a_project_error(tmp_path, monkeypatch):
    folder = save_project(small_project(), tmp_path / "A")
    audio = folder / "audio"
    real_is_file = Path.is_file

    def denied(self):  # what an unreadable (chmod 000) audio/ does for a non-root user
        if self.parent == audio:
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", denied)
    with pytest.raises(ProjectFileError, match=r"A.legato/audio: cannot read .*Permission denied"):
        load_project(folder)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_unreadable_audio_folder_for_real(tmp_path):
    folder = save_project(small_project(), tmp_path / "A")
    (folder / "audio").chmod(0)
    try:
        with pytest.raises(ProjectFileError, match="audio"):
            load_project(folder)
    finally:
        (folder / "audio").chmod(0o755)


def test_lone_surrogate_name_loads_and_saves_again(tmp_path):
    folder = save_project(small_project(), tmp_path / "A")
    data = json.loads((folder / PROJECT_FILE).read_text())
    data["name"] = "bad \udc80 name"
    data["tracks"][0]["name"] = "\ud800"
    (folder / PROJECT_FILE).write_text(json.dumps(data))  # ensure_ascii: written as \udc80
    project = load_project(folder)
    again = save_project(project, tmp_path / "B")  # used to raise UnicodeEncodeError
    reloaded = load_project(again)
    assert reloaded.name == "bad \udc80 name" and reloaded.tracks[0].name == "\ud800"
    # Ordinary non-ASCII text stays readable in the file.
    project.history.push(RenameTrack("t1", "Gesang – Chor"))
    save_project(project, again)
    assert "Gesang – Chor" in (again / PROJECT_FILE).read_text("utf-8")


def _flip_a_sample(folder: Path) -> None:
    [wav] = (folder / "audio").glob("*.wav")
    data = bytearray(wav.read_bytes())
    data[-3] ^= 0x40
    wav.write_bytes(bytes(data))


def test_changed_audio_is_refused_by_default(tmp_path):
    folder = save_project(small_project(), tmp_path / "A")
    _flip_a_sample(folder)
    with pytest.raises(ProjectFileError, match=r"audio/[0-9a-f]{64}.wav: the audio does not match its hash"):
        load_project(folder)
    assert load_project(folder, verify_hashes=False).tracks  # still openable on request


def test_large_projects_skip_the_check_with_a_warning(tmp_path, monkeypatch, caplog):
    folder = save_project(small_project(), tmp_path / "A")
    _flip_a_sample(folder)
    monkeypatch.setattr(project_io, "VERIFY_BY_DEFAULT_BYTES", 1000)
    with caplog.at_level(logging.WARNING, logger="engine.project.io"):
        load_project(folder)
    assert "without checking their hashes" in caplog.text
    with pytest.raises(ProjectFileError, match="does not match its hash"):
        load_project(folder, verify_hashes=True)


# --- 8. marker atomic with the snapshot ----------------------------------------------------------


def test_kill_between_snapshot_and_marker_cannot_hide_newer_work(tmp_path, monkeypatch):
    """The old code wrote project.json, then recovery.json: a kill in between lost the snapshot."""
    p = small_project()
    saver = Autosaver(p, tmp_path / "rec", interval_s=0)
    saver.save_now()
    p.history.push(AddTrack("Newer", track_id="t2"))
    real_replace = os.replace

    def killed_after_project_json(src, dst):
        real_replace(src, dst)
        if Path(dst).name == PROJECT_FILE:
            raise KeyboardInterrupt("killed")  # nothing after project.json runs

    monkeypatch.setattr(os, "replace", killed_after_project_json)
    with pytest.raises(KeyboardInterrupt):
        saver.save_now()
    monkeypatch.undo()
    [rec] = find_recoverable(tmp_path / "rec")
    assert rec.revision == p.history.revision
    assert [t.name for t in restore(rec).tracks] == ["Vox", "Newer"]


def test_first_autosave_killed_after_project_json_is_offered(tmp_path, monkeypatch):
    p = small_project()
    saver = Autosaver(p, tmp_path / "rec", interval_s=0)
    real_replace = os.replace

    def killed(src, dst):
        real_replace(src, dst)
        if Path(dst).name == PROJECT_FILE:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        saver.save_now()
    monkeypatch.undo()
    assert [r.project_name for r in find_recoverable(tmp_path / "rec")] == ["Demo"]


def test_old_format_recovery_folders_are_still_offered(tmp_path):
    folder = save_project(small_project("Old"), tmp_path / "rec" / "autosave-0123456789ab")
    (folder / "recovery.json").write_text(json.dumps({"project_name": "Old", "saved_at": "2026-01-01T00:00:00+00:00"}))
    [rec] = find_recoverable(tmp_path / "rec")
    assert rec.project_name == "Old" and rec.revision is None


# --- 9. debris cleanup ---------------------------------------------------------------------------


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_orphans_and_stray_temp_files_are_cleaned(tmp_path):
    root = tmp_path / "rec"
    # A session killed during its first write: audio, a temp file, no project.json.
    orphan = root / "autosave-deadbeef0001.legato"
    (orphan / "audio").mkdir(parents=True)
    (orphan / "audio" / ".x.wav.abc.tmp").write_bytes(b"\0" * 1000)
    (orphan / "audio" / ("a" * 64 + ".wav")).write_bytes(b"\0" * 1000)
    for path in [*orphan.rglob("*"), orphan / "audio", orphan]:
        _age(path, 3600)
    # A complete snapshot (offered) with a stray temp file and an asset it no longer names.
    p = small_project()
    Autosaver(p, root, interval_s=0).save_now()
    [kept] = find_recoverable(root)
    stray = kept.folder / ".project.json.zz.tmp"
    stray.write_text("{")
    old_asset = kept.folder / "audio" / ("b" * 64 + ".wav")
    old_asset.write_bytes(b"\0" * 10)
    for path in (stray, old_asset, kept.folder / PROJECT_FILE):
        _age(path, 3600)
    # A fresh temp file: another Legato may be writing it right now.
    fresh = kept.folder / "audio" / ".y.wav.q.tmp"
    fresh.write_bytes(b"1")

    Autosaver(Project("Next"), root, interval_s=0)  # a new session cleans up on start
    assert not orphan.exists()
    assert not stray.exists() and not old_asset.exists() and fresh.exists()
    [again] = find_recoverable(root)
    assert again.folder == kept.folder and restore(again).tracks[0].name == "Vox"


def test_recent_orphans_are_left_alone(tmp_path):
    orphan = tmp_path / "rec" / "autosave-deadbeef0002.legato"
    (orphan / "audio").mkdir(parents=True)
    assert clean_recovery_root(tmp_path / "rec") == 0 and orphan.exists()


def test_save_removes_its_own_stale_temp_files(tmp_path):
    folder = save_project(small_project(), tmp_path / "A")
    stale = folder / "audio" / ".c.wav.k1.tmp"
    stale.write_bytes(b"\0" * 100)
    _age(stale, 3600)
    save_project(load_project(folder), folder)
    assert not stale.exists()


# --- 10. autosave after save reuses assets -------------------------------------------------------


def test_autosave_after_save_links_assets_instead_of_rewriting(tmp_path, monkeypatch):
    p = Project("Big")
    for i in range(3):
        a = p.assets.add(np.full((2, SR * 5), 0.01 * (i + 1), np.float32), f"{i}.wav")
        p.history.push(AddTrack(f"T{i}", track_id=f"t{i}"))
        p.history.push(AddClip(f"t{i}", a.id, 0, clip_id=f"c{i}"))
    save_project(p, tmp_path / "Big")
    saver = Autosaver(p, tmp_path / "rec", interval_s=0)
    written = []
    real = project_io._write_asset
    monkeypatch.setattr(project_io, "_write_asset", lambda path, asset: (written.append(path), real(path, asset)))
    p.history.push(RenameTrack("t0", "changed"))
    started = time.perf_counter()
    saver.save_now()
    elapsed = time.perf_counter() - started
    assert written == []  # every asset was already on disk in the saved project
    saved = sorted((tmp_path / "Big.legato" / "audio").glob("*.wav"))
    linked = sorted((saver.folder / "audio").glob("*.wav"))
    assert [f.name for f in linked] == [f.name for f in saved]
    assert all(os.path.samefile(a, b) for a, b in zip(saved, linked, strict=True))
    assert elapsed < 1.0, elapsed  # generous; milliseconds in practice
    [rec] = find_recoverable(tmp_path / "rec")
    assert restore(rec).tracks[0].name == "changed"
