"""The arrangement driven as a person would: real mouse events on the view's viewport, key
presses on the window, a file drop. Each gesture must be exactly one undo step, and undo/redo
must walk it back and forth."""

import numpy as np
import soundfile as sf
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from engine.timebase import TimeRange
from tests.desktop.conftest import click, drag, scene_to_viewport

SR = 48_000
LANE = 84  # default lane height in pixels
NAME_BAR_Y = 10  # inside a clip's name bar (move handle)
BODY_Y = 50  # inside a clip's waveform


def undo(window, qtbot):
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)


def redo(window, qtbot):
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)


def test_drag_clip_to_other_track_is_one_undo_step(two_clip_window, qtbot):
    window, ids = two_clip_window
    (track_a, clip_a), (track_b, _) = ids["A"], ids["B"]
    vp = window.timeline.view.viewport()
    drag(vp, scene_to_viewport(window, 1.0, NAME_BAR_Y), scene_to_viewport(window, 3.0, LANE + NAME_BAR_Y))
    clip = window.project.clip(clip_a)
    assert (clip.position, clip.track_id) == (2 * SR, track_b)
    assert window.project.history.count == 1
    assert window.windowTitle() == "Untitled* — Legato"
    assert window.actions_.undo.text() == "&Undo Move clip"
    item = window.timeline.scene.items_by_clip[clip_a]
    assert item.lane == 1 and item.pos().x() == 100.0  # the scene followed the document

    undo(window, qtbot)
    assert (clip.position, clip.track_id) == (0, track_a)
    assert window.timeline.scene.items_by_clip[clip_a].lane == 0
    assert not window.windowTitle().startswith(window.project.name + "*")
    redo(window, qtbot)
    assert (clip.position, clip.track_id) == (2 * SR, track_b)


def test_trim_right_edge_and_undo(two_clip_window, qtbot):
    window, ids = two_clip_window
    clip = window.project.clip(ids["B"][1])
    vp = window.timeline.view.viewport()
    start = scene_to_viewport(window, 10.0, LANE + BODY_Y) - QPoint(2, 0)
    drag(vp, start, scene_to_viewport(window, 9.0, LANE + BODY_Y))
    assert (clip.position, clip.length) == (6 * SR, 3 * SR)
    assert window.project.history.count == 1
    undo(window, qtbot)
    assert clip.length == 4 * SR
    redo(window, qtbot)
    assert clip.length == 3 * SR


def test_trim_left_edge_keeps_audio_in_place(two_clip_window, qtbot):
    window, ids = two_clip_window
    clip = window.project.clip(ids["B"][1])
    vp = window.timeline.view.viewport()
    start = scene_to_viewport(window, 6.0, LANE + BODY_Y) + QPoint(2, 0)
    drag(vp, start, scene_to_viewport(window, 7.0, LANE + BODY_Y))
    assert (clip.position, clip.length, clip.source_offset) == (7 * SR, 3 * SR, 1 * SR)
    undo(window, qtbot)
    assert (clip.position, clip.length, clip.source_offset) == (6 * SR, 4 * SR, 0)


def test_seek_on_ruler_then_split_with_s_key(two_clip_window, qtbot):
    window, ids = two_clip_window
    ruler = window.timeline.ruler
    QTest.mouseClick(ruler, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(350, 10))
    assert window.transport.position_s() == 7.0
    window.timeline.view.setFocus()
    QTest.keyClick(window, Qt.Key.Key_S)
    track_b = window.project.track(ids["B"][0])
    assert sorted((c.position, c.length) for c in track_b.clips) == [(6 * SR, 1 * SR), (7 * SR, 3 * SR)]
    assert window.timeline.scene.items_by_clip.keys() == {c.id for c in window.project.clips()}
    undo(window, qtbot)
    assert len(track_b.clips) == 1 and track_b.clips[0].length == 4 * SR
    assert len(window.timeline.scene.items_by_clip) == 2
    redo(window, qtbot)
    assert len(track_b.clips) == 2


def test_select_delete_duplicate_with_keys(two_clip_window, qtbot):
    window, ids = two_clip_window
    vp = window.timeline.view.viewport()
    click(vp, scene_to_viewport(window, 1.0, BODY_Y))  # a click on the waveform selects the clip
    assert window.timeline.scene.selected_clip_ids() == [ids["A"][1]]
    click(vp, scene_to_viewport(window, 7.0, LANE + BODY_Y), Qt.KeyboardModifier.ControlModifier)
    assert set(window.selection.clip_ids) == {ids["A"][1], ids["B"][1]}

    QTest.keyClick(window, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert len(window.project.clips()) == 4
    assert window.project.history.count == 1
    copies = set(window.timeline.scene.selected_clip_ids())
    assert len(copies) == 2 and not copies & {ids["A"][1], ids["B"][1]}
    QTest.keyClick(window, Qt.Key.Key_Delete)
    assert len(window.project.clips()) == 2
    undo(window, qtbot)
    assert len(window.project.clips()) == 4
    undo(window, qtbot)
    assert len(window.project.clips()) == 2


def test_fade_handle_drag_sets_fade_in(two_clip_window, qtbot):
    window, ids = two_clip_window
    vp = window.timeline.view.viewport()
    start = scene_to_viewport(window, 0.0, 2 + 4) + QPoint(1, 0)  # the handle square on the name bar
    drag(vp, start, scene_to_viewport(window, 1.0, 6))
    clip = window.project.clip(ids["A"][1])
    assert clip.fade_in == 1 * SR and clip.position == 0
    undo(window, qtbot)
    assert clip.fade_in == 0


def test_mute_and_solo_buttons(two_clip_window, qtbot):
    window, ids = two_clip_window
    header = window.timeline.headers.headers[ids["A"][0]]
    qtbot.mouseClick(header.mute_button, Qt.MouseButton.LeftButton)
    track = window.project.track(ids["A"][0])
    assert track.mute and window.timeline.scene.items_by_clip[ids["A"][1]].view.muted
    qtbot.mouseClick(window.timeline.headers.headers[ids["B"][0]].solo_button, Qt.MouseButton.LeftButton)
    assert window.project.track(ids["B"][0]).solo
    assert window.project.history.count == 2
    undo(window, qtbot)
    undo(window, qtbot)
    assert not track.mute and not header.mute_button.isChecked()


def test_gain_slider_drag_merges_into_one_step(two_clip_window, qtbot):
    window, ids = two_clip_window
    header = window.timeline.headers.headers[ids["A"][0]]
    slider = header.gain_slider
    slider.setSliderDown(True)  # the user holds the handle
    for tenths in (-10, -20, -35, -60):
        slider.setValue(tenths)
    slider.setSliderDown(False)
    slider.sliderReleased.emit()
    assert window.project.track(ids["A"][0]).gain_db == -6.0
    assert window.project.history.count == 1
    undo(window, qtbot)
    assert window.project.track(ids["A"][0]).gain_db == 0.0


def test_range_selection_on_lane_shows_seconds_and_bars(two_clip_window, qtbot):
    window, _ = two_clip_window
    vp = window.timeline.view.viewport()
    drag(vp, scene_to_viewport(window, 5.0, BODY_Y), scene_to_viewport(window, 9.0, BODY_Y))
    assert window.selection.time_range == TimeRange(5 * SR, 9 * SR)
    text = window.transport_bar.selection_label.text()
    assert "0:05.000 – 0:09.000" in text and "4.000 s" in text and "bars 3.3.00 – 5.3.00" in text
    assert window.project.history.count == 0  # selecting is not an edit
    # Edit it: drag its right edge from 9 s to 10 s.
    drag(vp, scene_to_viewport(window, 9.0, BODY_Y), scene_to_viewport(window, 10.0, BODY_Y))
    assert window.selection.time_range == TimeRange(5 * SR, 10 * SR)
    # Dragging across a clip's waveform selects a range too (the repaint gesture).
    drag(vp, scene_to_viewport(window, 7.0, LANE + BODY_Y), scene_to_viewport(window, 8.5, LANE + BODY_Y))
    assert window.selection.time_range == TimeRange(7 * SR, int(8.5 * SR))
    assert window.project.clip(window.project.tracks[1].clips[0].id).position == 6 * SR  # not moved
    # Loop it.
    window.actions_.loop.trigger()
    assert window.transport.player.loop == TimeRange(7 * SR, int(8.5 * SR))


def _wheel(widget, pos, delta_y: int, modifiers) -> None:
    """A real QWheelEvent (one notch = 120) at viewport point `pos`."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent

    local = QPointF(pos)
    event = QWheelEvent(local, widget.mapToGlobal(local), QPoint(0, 0), QPoint(0, delta_y),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_zoom_keys(two_clip_window, qtbot):
    window, _ = two_clip_window
    g = window.timeline.geometry_
    before = g.pixels_per_second
    QTest.keyClick(window, Qt.Key.Key_Plus)
    assert g.pixels_per_second > before
    QTest.keyClick(window, Qt.Key.Key_Minus)
    QTest.keyClick(window, Qt.Key.Key_Minus)
    assert g.pixels_per_second < before
    item = next(iter(window.timeline.scene.items_by_clip.values()))
    assert item.boundingRect().width() == g.x_of(item.view.length_s)


def test_ctrl_wheel_zooms_around_the_pointer_and_shift_wheel_scrolls(two_clip_window, qtbot):
    window, _ = two_clip_window
    view, g = window.timeline.view, window.timeline.geometry_
    vp, bar = view.viewport(), view.horizontalScrollBar()
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    pointer = QPoint(400, 40)

    def time_under_pointer() -> float:
        return g.seconds_at(bar.value() + pointer.x())

    before_pps = g.pixels_per_second
    for _ in range(3):  # three notches in; the time under the pointer (8 s) stays there
        anchored = time_under_pointer()
        _wheel(vp, pointer, 120, ctrl)
        assert g.pixels_per_second > before_pps
        before_pps = g.pixels_per_second
        assert abs(time_under_pointer() - anchored) <= 1.0 / g.pixels_per_second  # within a pixel
    assert bar.value() > 0, "zooming around x=400 must scroll the view"
    anchored = time_under_pointer()
    _wheel(vp, pointer, -120, ctrl)  # one notch out, still around the pointer
    assert g.pixels_per_second < before_pps
    assert abs(time_under_pointer() - anchored) <= 1.0 / g.pixels_per_second

    pps, scroll = g.pixels_per_second, bar.value()
    _wheel(vp, pointer, -120, shift)  # Shift+wheel down: sideways, to the right; no zoom
    assert g.pixels_per_second == pps and bar.value() == scroll + 120
    _wheel(vp, pointer, 120, shift)
    assert bar.value() == scroll
    vbar = view.verticalScrollBar()
    v_before = vbar.value()
    _wheel(vp, pointer, -120, Qt.KeyboardModifier.NoModifier)  # plain wheel: never zooms or pans sideways
    assert g.pixels_per_second == pps and bar.value() == scroll and vbar.value() >= v_before


def test_drop_audio_file_creates_track_and_clip(window, qtbot, tmp_path):
    path = tmp_path / "guitar.wav"
    t = np.arange(44_100) / 44_100
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44_100)  # 1 s mono 44.1k
    view = window.timeline.view
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = scene_to_viewport(window, 2.0, 20).toPoint()
    enter = QDragEnterEvent(pos,  # Qt declares QPoint here (QDropEvent takes QPointF)
                            Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos.toPointF(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), drop)
    project = window.project
    assert [t.name for t in project.tracks] == ["guitar"]
    clip = project.tracks[0].clips[0]
    assert clip.position == 2 * SR and clip.length == SR  # resampled to 48 kHz
    assert project.history.count == 1
    window.peaks.wait_idle()
    qtbot.waitUntil(lambda: window.timeline.scene.items_by_clip[clip.id].peaks is not None)
    undo(window, qtbot)
    assert project.tracks == () and window.timeline.headers.headers == {}
    redo(window, qtbot)
    assert len(project.tracks) == 1


def test_typing_a_track_name_renames_without_triggering_shortcuts(two_clip_window, qtbot):
    window, ids = two_clip_window
    edit = window.timeline.headers.headers[ids["A"][0]].name_edit
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, "Sax solo")  # 'S' and space must type, not split/play
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert window.project.track(ids["A"][0]).name == "Sax solo"
    assert len(window.project.clips()) == 2 and not window.transport.is_playing()
    assert window.project.history.count == 1
