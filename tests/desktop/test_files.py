"""Files through the window, as a person would: menu actions and shortcuts, the real file
pickers (QFileDialog's static calls answer with a path, nothing else is replaced) and real
message boxes answered by a timer. Save/reopen identical, a malformed project gives an error
dialog and keeps the current project, export equals the offline mix, the autosave timer writes
a recovery copy that a clean close discards, recovery after a crash, the unsaved-changes
question on New and on close."""

import json

import numpy as np
import soundfile as sf
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from desktop import dialogs
from engine.audio.mixer import render_range
from engine.audio.render_plan import build_render_plan
from engine.project.commands import SetTrackGain, SetTrackMute
from engine.project.io import find_recoverable, project_to_dict, restore
from tests.desktop.conftest import REAL_DIALOGS, drag, scene_to_viewport
from tests.desktop.test_export_dialog import choose, closed, open_export, press_export


def _answer_next_modal(seen: list[str], button=QMessageBox.StandardButton.Ok) -> None:
    """Answer the next modal message box with `button`, recording its text."""

    def answer():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.text())
            box.button(button).click()
        else:
            QTimer.singleShot(20, answer)

    QTimer.singleShot(20, answer)


def _real(monkeypatch, *names: str) -> None:
    """Undo the window fixture's 'unexpected dialog' guard for these dialogs."""
    for name in names:
        monkeypatch.setattr(dialogs, name, REAL_DIALOGS[name])


def _file_picker_answers(monkeypatch, **answers) -> list[str]:
    """QFileDialog.<static>(...) returns the given value; the calls are recorded."""
    calls: list[str] = []
    for name, value in answers.items():
        def picker(*args, _name=name, _value=value, **kwargs):
            calls.append(_name)
            return _value

        monkeypatch.setattr(QFileDialog, name, staticmethod(picker))
    return calls


def _key(window, sequence: QKeySequence.StandardKey | str) -> None:
    combo = QKeySequence(sequence)[0]
    QTest.keyClick(window, combo.key(), combo.keyboardModifiers())


def test_save_with_ctrl_s_reopen_identical(two_clip_window, qtbot, tmp_path, monkeypatch):
    window, ids = two_clip_window
    vp = window.timeline.view.viewport()
    drag(vp, scene_to_viewport(window, 1.0, 10), scene_to_viewport(window, 2.0, 10))  # move A by 1 s
    window.project.history.push(SetTrackGain(track_id=ids["B"][0], new=-4.5))
    target = tmp_path / "Song.legato"
    _real(monkeypatch, "ask_save_project", "ask_open_project")
    picked = _file_picker_answers(monkeypatch, getSaveFileName=(str(tmp_path / "Song"), ""),
                                  getExistingDirectory=str(target))
    _key(window, "Ctrl+S")
    assert picked == ["getSaveFileName"] and (target / "project.json").is_file()  # ".legato" added
    assert window.windowTitle() == "Untitled — Legato"  # no unsaved marker
    before = project_to_dict(window.project)

    _key(window, QKeySequence.StandardKey.New)  # saved: no question
    assert window.project.tracks == () and len(window.timeline.scene.items_by_clip) == 0
    _key(window, QKeySequence.StandardKey.Open)
    assert picked == ["getSaveFileName", "getExistingDirectory"]
    assert project_to_dict(window.project) == before
    assert [c.position for c in window.project.clips()] == [48_000, 6 * 48_000]
    assert len(window.timeline.scene.items_by_clip) == 2


def test_new_with_unsaved_changes_asks_first(two_clip_window, qtbot, monkeypatch):
    window, ids = two_clip_window
    window.project.history.push(SetTrackMute(track_id=ids["A"][0], new=True))
    _real(monkeypatch, "ask_save_changes")
    seen: list[str] = []
    _answer_next_modal(seen, QMessageBox.StandardButton.Cancel)
    window.actions_.new.trigger()
    assert len(seen) == 1 and window.project.name in seen[0]
    assert len(window.project.tracks) == 2  # Cancel keeps the project
    _answer_next_modal(seen, QMessageBox.StandardButton.Discard)
    window.actions_.new.trigger()
    assert len(seen) == 2 and window.project.tracks == () and window.project.history.is_clean


def test_malformed_project_shows_error_dialog_and_keeps_current(two_clip_window, qtbot, tmp_path, monkeypatch):
    window, ids = two_clip_window
    bad = tmp_path / "Broken.legato"
    bad.mkdir()
    (bad / "project.json").write_text("{ this is not json")
    _real(monkeypatch, "show_error", "ask_open_project")  # a real QMessageBox
    _file_picker_answers(monkeypatch, getExistingDirectory=str(bad))
    current = window.project
    seen: list[str] = []
    _answer_next_modal(seen)
    window.actions_.open.trigger()
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
    _real(monkeypatch, "show_error", "ask_open_project")
    _file_picker_answers(monkeypatch, getExistingDirectory=str(folder))
    window.actions_.new.trigger()  # the window's project is clean: no question
    seen: list[str] = []
    _answer_next_modal(seen)
    window.actions_.open.trigger()
    assert len(seen) == 1 and "project.json" in seen[0] and "../outside.wav" in seen[0]
    assert window.project.tracks == ()


def test_export_mix_equals_offline_mix(two_clip_window, qtbot, tmp_path):
    window, ids = two_clip_window
    window.documents.export_settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window.project.history.push(SetTrackMute(track_id=ids["A"][0], new=True))
    window.project.history.push(SetTrackGain(track_id=ids["B"][0], new=-3.0))
    out = tmp_path / "mix.wav"
    dialog = open_export(window, qtbot, "export_mix")  # File > Export Mix…
    choose(dialog, "WAV 32-bit float")
    dialog.path_edit.setText(str(out))
    press_export(dialog, qtbot)
    qtbot.waitUntil(lambda: closed(dialog))
    written, sr = sf.read(out, dtype="float32", always_2d=True)
    plan = build_render_plan(window.project)
    expected = render_range(plan, 0, plan.length)
    assert sr == 48_000 and written.shape == expected.T.shape
    np.testing.assert_array_equal(written.T, expected)  # bit-identical: same mixer code


def test_export_stems_one_file_per_track(two_clip_window, qtbot, tmp_path, monkeypatch):
    window, _ = two_clip_window
    window.documents.export_settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    _real(monkeypatch, "ask_export_folder")
    folder = tmp_path / "stems"
    folder.mkdir()
    picked = _file_picker_answers(monkeypatch, getExistingDirectory=str(folder))
    dialog = open_export(window, qtbot, "export_stems")  # File > Export Stems…
    assert dialog.stems_radio.isChecked()
    choose(dialog, "WAV 24-bit")
    qtbot.mouseClick(dialog.browse_button, Qt.MouseButton.LeftButton)  # "Choose…" -> folder picker
    assert picked == ["getExistingDirectory"] and dialog.path_edit.text() == str(folder)
    press_export(dialog, qtbot)
    qtbot.waitUntil(lambda: closed(dialog))
    assert sorted(p.name for p in folder.glob("*.wav")) == ["01 A.wav", "02 B.wav"]
    assert {sf.info(str(p)).subtype for p in folder.glob("*.wav")} == {"PCM_24"}


def test_add_track_from_the_menu_shortcut_is_one_undo_step(window, qtbot):
    _key(window, "Ctrl+T")
    _key(window, "Ctrl+T")
    assert [t.name for t in window.project.tracks] == ["Track 1", "Track 2"]
    assert len(window.timeline.headers.headers) == 2 and window.project.history.count == 2
    _key(window, "Ctrl+Z")
    assert [t.name for t in window.project.tracks] == ["Track 1"]


def test_import_corrupt_file_shows_clear_error(window, tmp_path, monkeypatch):
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF....not really a wav")
    _real(monkeypatch, "show_error", "ask_import_paths")
    picked = _file_picker_answers(monkeypatch, getOpenFileNames=([str(bad)], ""))
    seen: list[str] = []
    _answer_next_modal(seen)
    _key(window, "Ctrl+I")  # File > Import Audio…
    assert picked == ["getOpenFileNames"]
    assert len(seen) == 1 and "noise.wav" in seen[0]
    assert window.project.tracks == () and window.project.history.count == 0


def test_autosave_timer_writes_after_an_edit_and_a_clean_close_discards_it(qtbot, tmp_path, monkeypatch):
    """The running window's own QTimer (interval shortened from 30 s) writes the recovery copy
    after an edit, rewrites it after the next edit, and closing the window removes it."""
    from desktop.controllers import document_controller
    from desktop.main_window import MainWindow
    from tests.desktop.conftest import FakePlayer

    monkeypatch.setattr(document_controller, "AUTOSAVE_INTERVAL_MS", 100)
    recovery = tmp_path / "recovery"
    win = MainWindow(autosave_dir=recovery, offer_recovery=False, player=FakePlayer())
    win.show()
    qtbot.waitExposed(win)
    try:
        qtbot.wait(300)  # three ticks with nothing changed: nothing to recover
        assert find_recoverable(recovery) == []
        _key(win, "Ctrl+T")  # an edit; no event loop has run yet, so nothing was written
        assert find_recoverable(recovery) == []
        qtbot.waitUntil(lambda: len(find_recoverable(recovery)) == 1, timeout=10_000)
        assert [t.name for t in restore(find_recoverable(recovery)[0]).tracks] == ["Track 1"]
        _key(win, "Ctrl+T")
        qtbot.waitUntil(lambda: len(restore(find_recoverable(recovery)[0]).tracks) == 2, timeout=10_000)
        _real(monkeypatch, "ask_save_changes")
        seen: list[str] = []
        _answer_next_modal(seen, QMessageBox.StandardButton.Discard)
        assert win.close()  # a clean close (changes discarded on purpose)
        assert len(seen) == 1
        assert find_recoverable(recovery) == [], "a clean close must discard the recovery copy"
    finally:
        win.project.history.mark_clean()
        win.close()
        win.peaks.shutdown()


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
    assert window.windowTitle() == "Untitled* — Legato"
    _real(monkeypatch, "ask_save_changes")
    seen: list[str] = []
    _answer_next_modal(seen, QMessageBox.StandardButton.Cancel)
    assert not window.close()  # Cancel keeps the window
    assert window.isVisible() and len(seen) == 1
    _answer_next_modal(seen, QMessageBox.StandardButton.Discard)
    assert window.close()
    assert len(seen) == 2 and not window.isVisible()
