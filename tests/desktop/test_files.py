"""Files through the window: save/reopen identical, a malformed project gives an error dialog
and keeps the current project, export equals the offline mix, recovery after a crash, the
unsaved-changes question on close."""

import json

import numpy as np
import soundfile as sf
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop import dialogs
from engine.audio.mixer import render_range
from engine.audio.render_plan import build_render_plan
from engine.project.commands import SetTrackGain, SetTrackMute
from engine.project.io import project_to_dict
from tests.desktop.conftest import REAL_DIALOGS, drag, scene_to_viewport


def _auto_close_next_modal(seen: list[str]) -> None:
    """Answer the next modal dialog with its default button, recording its text."""

    def close():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.text())
            box.done(QMessageBox.StandardButton.Ok)
        else:
            QTimer.singleShot(20, close)

    QTimer.singleShot(20, close)


def test_save_with_ctrl_s_reopen_identical(two_clip_window, qtbot, tmp_path, monkeypatch):
    window, ids = two_clip_window
    vp = window.timeline.view.viewport()
    drag(vp, scene_to_viewport(window, 1.0, 10), scene_to_viewport(window, 2.0, 10))  # move A by 1 s
    window.project.history.push(SetTrackGain(track_id=ids["B"][0], new=-4.5))
    target = tmp_path / "Song.legato"
    monkeypatch.setattr(dialogs, "ask_save_project", lambda *a: str(target))
    QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert (target / "project.json").is_file()
    assert window.windowTitle() == f"{window.project.name} — Legato"  # no unsaved marker
    before = project_to_dict(window.project)

    window.documents.new_project()
    assert window.project.tracks == ()
    assert window.documents.open_project(str(target))
    assert project_to_dict(window.project) == before
    assert [c.position for c in window.project.clips()] == [48_000, 6 * 48_000]
    assert len(window.timeline.scene.items_by_clip) == 2


def test_malformed_project_shows_error_dialog_and_keeps_current(two_clip_window, qtbot, tmp_path, monkeypatch):
    window, ids = two_clip_window
    bad = tmp_path / "Broken.legato"
    bad.mkdir()
    (bad / "project.json").write_text("{ this is not json")
    monkeypatch.setattr(dialogs, "show_error", REAL_DIALOGS["show_error"])  # a real QMessageBox
    current = window.project
    seen: list[str] = []
    _auto_close_next_modal(seen)
    assert not window.documents.open_project(str(bad))
    assert len(seen) == 1, "no error dialog was shown"
    assert "project.json" in seen[0]  # the message names the file
    assert window.project is current and len(current.tracks) == 2
    assert len(window.timeline.scene.items_by_clip) == 2


def test_hostile_project_paths_are_refused(two_clip_window, tmp_path, monkeypatch):
    """A saved project whose asset path is edited to escape the folder is refused."""
    from engine.project.io import save_project

    window, _ = two_clip_window
    folder = save_project(window.project, tmp_path / "Evil.legato")
    doc = json.loads((folder / "project.json").read_text())
    outside = tmp_path / "outside.wav"
    sf.write(outside, np.zeros((10, 2), np.float32), 48_000)
    first = next(iter(doc["assets"]))
    doc["assets"][first]["file"] = "../outside.wav"
    (folder / "project.json").write_text(json.dumps(doc))
    errors = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, message: errors.append(message))
    window.documents.new_project()
    assert not window.documents.open_project(str(folder))
    assert len(errors) == 1 and window.project.tracks == ()


def test_export_mix_equals_offline_mix(two_clip_window, tmp_path):
    window, ids = two_clip_window
    window.project.history.push(SetTrackMute(track_id=ids["A"][0], new=True))
    window.project.history.push(SetTrackGain(track_id=ids["B"][0], new=-3.0))
    out = tmp_path / "mix.wav"
    assert window.documents.export_mix(str(out), "wav32f")
    written, sr = sf.read(out, dtype="float32", always_2d=True)
    plan = build_render_plan(window.project)
    expected = render_range(plan, 0, plan.length)
    assert sr == 48_000 and written.shape == expected.T.shape
    np.testing.assert_array_equal(written.T, expected)  # bit-identical: same mixer code


def test_export_stems_one_file_per_track(two_clip_window, tmp_path):
    window, _ = two_clip_window
    assert window.documents.export_stems(str(tmp_path), "wav24")
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["01 A.wav", "02 B.wav"]


def test_import_corrupt_file_shows_clear_error(window, tmp_path, monkeypatch):
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF....not really a wav")
    errors = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, message: errors.append(message))
    assert window.documents.import_files([str(bad)], "", 0.0) == []
    assert errors and "noise.wav" in errors[0]
    assert window.project.tracks == () and window.project.history.count == 0


def test_autosave_then_recovery_offered_at_start(two_clip_window, qtbot, tmp_path, monkeypatch):
    from desktop.main_window import MainWindow
    from tests.desktop.conftest import FakePlayer

    window, ids = two_clip_window
    window.project.history.push(SetTrackGain(track_id=ids["A"][0], new=-7.0))
    window.documents.autosave_now()  # what the timer does every 30 s
    # "Crash": the first window never closes cleanly; a new start finds the autosave.
    asked = []
    monkeypatch.setattr(dialogs, "ask_recover", lambda parent, text: asked.append(text) or True)
    second = MainWindow(autosave_dir=tmp_path / "recovery", offer_recovery=True, player=FakePlayer())
    try:
        assert asked and window.project.name in asked[0]
        assert [t.name for t in second.project.tracks] == ["A", "B"]
        assert second.project.tracks[0].gain_db == -7.0
        assert second.windowTitle().endswith("* — Legato")  # recovered work is unsaved
    finally:
        second.project.history.mark_clean()
        second.close()
        second.peaks.shutdown()


def test_close_with_unsaved_changes_asks(two_clip_window, monkeypatch):
    window, ids = two_clip_window
    window.project.history.push(SetTrackMute(track_id=ids["A"][0], new=True))
    assert window.windowTitle() == f"{window.project.name}* — Legato"
    answers = []
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name, verb: answers.append(verb) or "cancel")
    assert not window.close()  # Cancel keeps the window
    assert window.isVisible() and answers == ["Close"]
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name, verb: "discard")
    assert window.close()
