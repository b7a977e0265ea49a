"""The export options dialog driven through its real widgets: pick a format, a destination and
a range, press Export; the files written are checked with soundfile against the offline mix.

The dialog is window-modal but non-blocking (`open()`), so a test triggers the File menu
action, finds the dialog, types and clicks in it; pressing Export runs the export (with its
progress dialog) before the click returns.
"""

import numpy as np
import pytest
import shiboken6
import soundfile as sf
from PySide6.QtCore import QPoint, QSettings, Qt, QTimer
from PySide6.QtWidgets import QProgressDialog

from desktop import dialogs
from desktop.export_dialog import ExportDialog
from engine.audio.mixer import render_range
from engine.audio.render_plan import build_render_plan
from tests.desktop.conftest import drag, scene_to_viewport

SR = 48_000
BODY_Y = 50  # inside the first lane's waveform area


@pytest.fixture
def export_window(two_clip_window, tmp_path):
    """Two tracks (A at 0-4 s, B at 6-10 s) and export memory in a throwaway .ini file."""
    window, ids = two_clip_window
    window.documents.export_settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return window, ids


def open_export(window, qtbot, action: str = "export_mix") -> ExportDialog:
    getattr(window.actions_, action).trigger()
    dialog = window.findChild(ExportDialog, "exportDialog")
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def choose(dialog: ExportDialog, label: str) -> None:
    combo = dialog.format_combo
    index = combo.findText(label)
    assert index >= 0, f"no format called {label!r}"
    combo.setCurrentIndex(index)


def type_destination(dialog: ExportDialog, qtbot, text: str) -> None:
    dialog.path_edit.selectAll()
    qtbot.keyClicks(dialog.path_edit, text)


def closed(dialog: ExportDialog) -> bool:
    """Closed dialogs delete themselves (WA_DeleteOnClose), possibly during the export."""
    return not shiboken6.isValid(dialog) or not dialog.isVisible()


def click_radio(qtbot, button) -> None:
    """Click on the round indicator (the button's middle can lie past its text)."""
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(8, button.height() // 2))


def press_export(dialog: ExportDialog, qtbot) -> None:
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)


def test_wav16_mix_is_16_bit_pcm_of_the_offline_mix_and_is_remembered(export_window, qtbot, tmp_path):
    window, _ = export_window
    dialog = open_export(window, qtbot)
    assert dialog.mix_radio.isChecked() and dialog.whole_radio.isChecked()
    assert not dialog.selection_radio.isEnabled()  # no time selection yet
    choose(dialog, "WAV 16-bit")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    type_destination(dialog, qtbot, str(out_dir / "song"))  # the suffix is added for the format
    press_export(dialog, qtbot)
    qtbot.waitUntil(lambda: closed(dialog))

    out = out_dir / "song.wav"
    info = sf.info(str(out))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", SR, 2)
    written, _ = sf.read(out, dtype="int16", always_2d=True)
    plan = build_render_plan(window.project)
    mix = render_range(plan, 0, plan.length)
    # libsndfile's quantiser: float -> 32-bit int (lrint of x * 2^31), then the top 16 bits
    # (an arithmetic shift, i.e. floor). Measured on random data: exact, where rint(x * 32767)
    # is off by one in ~half the samples.
    expected = np.clip(np.floor(np.rint(mix.astype(np.float64) * 2.0**31) / 65536.0), -32768, 32767)
    expected = expected.astype(np.int16)
    assert written.T.shape == expected.shape
    np.testing.assert_array_equal(written.T, expected)
    assert np.abs(expected).max() > 1000  # the mix is not silence

    # Remembered: the next export starts from WAV 16-bit in the same folder.
    again = open_export(window, qtbot)
    assert again.format_combo.currentText() == "WAV 16-bit"
    assert again.path_edit.text() == str(out_dir / "Untitled.wav")
    qtbot.mouseClick(again.buttons.button(again.buttons.StandardButton.Cancel), Qt.MouseButton.LeftButton)


def test_stems_as_flac_write_one_file_per_track_over_the_whole_project(export_window, qtbot, tmp_path):
    window, _ = export_window
    # A time selection exists, but stems ignore it (and the dialog says so).
    vp = window.timeline.view.viewport()
    drag(vp, scene_to_viewport(window, 1.0, BODY_Y), scene_to_viewport(window, 3.0, BODY_Y))
    dialog = open_export(window, qtbot)
    click_radio(qtbot, dialog.stems_radio)
    assert dialog.stems_radio.isChecked()
    assert dialog.dest_title.text() == "Folder:"
    assert not dialog.selection_radio.isEnabled() and "whole project" in dialog.range_hint.text()
    choose(dialog, "FLAC")
    assert dialog.files_label.text().splitlines()[1:] == ["01 A.flac", "02 B.flac"]
    folder = tmp_path / "stems"  # does not exist yet: export creates it
    type_destination(dialog, qtbot, str(folder))
    press_export(dialog, qtbot)

    files = sorted(folder.iterdir())
    assert [p.name for p in files] == ["01 A.flac", "02 B.flac"]
    plan = build_render_plan(window.project)
    for path in files:
        info = sf.info(str(path))
        assert (info.format, info.frames) == ("FLAC", plan.length)


def test_mix_of_the_time_selection_only(export_window, qtbot, tmp_path):
    window, _ = export_window
    vp = window.timeline.view.viewport()
    drag(vp, scene_to_viewport(window, 1.0, BODY_Y), scene_to_viewport(window, 3.0, BODY_Y))
    rng = window.selection.time_range
    assert (rng.start, rng.end) == (1 * SR, 3 * SR)
    dialog = open_export(window, qtbot)
    assert "0:01.000 – 0:03.000" in dialog.selection_radio.text()
    click_radio(qtbot, dialog.selection_radio)
    # Stems are whole-project only; going back to the mix restores the selection choice.
    click_radio(qtbot, dialog.stems_radio)
    assert dialog.whole_radio.isChecked() and not dialog.selection_radio.isEnabled()
    click_radio(qtbot, dialog.mix_radio)
    assert dialog.selection_radio.isChecked()
    choose(dialog, "WAV 32-bit float")
    out = tmp_path / "part.wav"
    type_destination(dialog, qtbot, str(out))
    press_export(dialog, qtbot)

    written, _ = sf.read(out, dtype="float32", always_2d=True)
    plan = build_render_plan(window.project)
    np.testing.assert_array_equal(written.T, render_range(plan, 1 * SR, 3 * SR))  # bit-identical


def test_cancel_in_the_dialog_writes_nothing(export_window, qtbot, tmp_path):
    window, _ = export_window
    dialog = open_export(window, qtbot)
    type_destination(dialog, qtbot, str(tmp_path / "never.wav"))
    choose(dialog, "MP3")
    assert dialog.path_edit.text() == str(tmp_path / "never.mp3")  # the suffix follows the format
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: closed(dialog))
    assert not list(tmp_path.glob("never*"))


def test_cancel_during_export_leaves_no_file(export_window, qtbot, tmp_path):
    window, _ = export_window
    dialog = open_export(window, qtbot)
    out = tmp_path / "cancelled.flac"
    choose(dialog, "FLAC")
    type_destination(dialog, qtbot, str(out))
    pressed = []

    def press_cancel_on_progress():
        progress = window.findChild(QProgressDialog, "exportProgress")
        if progress is None or not progress.isVisible():
            QTimer.singleShot(0, press_cancel_on_progress)  # not shown yet
            return
        pressed.append(True)
        progress.cancel()  # what its Cancel button does

    # Runs inside the progress dialog's event processing, i.e. mid-export (10 one-second blocks).
    QTimer.singleShot(0, press_cancel_on_progress)
    press_export(dialog, qtbot)
    assert pressed
    assert window.statusBar().currentMessage() == "Export cancelled"
    # Neither the file nor the writer's temporary file is left behind.
    assert {p.name for p in tmp_path.iterdir()} <= {"recovery", "settings.ini"}


def test_empty_destination_is_explained_in_the_dialog(export_window, qtbot):
    window, _ = export_window
    dialog = open_export(window, qtbot)
    dialog.path_edit.clear()
    press_export(dialog, qtbot)
    assert dialog.isVisible()  # not accepted
    assert dialog.error_label.isVisible() and "file name" in dialog.error_label.text()
    dialog.reject()


def test_existing_file_is_kept_when_replace_is_declined(export_window, qtbot, tmp_path, monkeypatch):
    window, _ = export_window
    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    asked = []
    monkeypatch.setattr(dialogs, "ask_overwrite", lambda parent, names: asked.append(names) or False)
    dialog = open_export(window, qtbot)
    type_destination(dialog, qtbot, str(out))
    press_export(dialog, qtbot)
    assert asked == [["keep.wav"]]
    assert out.read_bytes() == b"precious"


def test_empty_project_is_explained_in_the_dialog(window, qtbot, tmp_path):
    window.documents.export_settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    dialog = open_export(window, qtbot)
    type_destination(dialog, qtbot, str(tmp_path / "empty.wav"))
    press_export(dialog, qtbot)
    assert dialog.isVisible() and "no audio" in dialog.error_label.text()
    assert not (tmp_path / "empty.wav").exists()
    dialog.reject()
