"""Transport through the window: space plays/pauses, the display timer moves the playhead and
meters from the engine player (FakeStream: no sound card), loop, and the no-device message."""

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from desktop.main_window import MainWindow


def test_space_plays_and_timer_follows_player(two_clip_window, qtbot):
    window, ids = two_clip_window
    player = window.transport.player
    QTest.keyClick(window, Qt.Key.Key_Space)
    assert player.playing and window.transport_bar.play_button.text() == "❚❚"
    # The device pulls ~0.5 s of audio; the mixer renders ahead (no thread in tests).
    for _ in range(24):
        player.fill_ring()
        player._stream.pull(1)
    qtbot.waitUntil(lambda: window.timeline.view.playhead_s > 0.4, timeout=2000)  # the 30 Hz timer
    assert window.transport_bar.time_label.text().startswith("0:00.")
    assert window.transport_bar.master_meter.levels_db[0] > -60  # the A clip is sounding
    assert window.timeline.headers.headers[ids["A"][0]].meter.levels_db[0] > -60
    QTest.keyClick(window, Qt.Key.Key_Space)
    assert not player.playing
    window.actions_.stop.trigger()
    assert player.position == 0


def test_without_audio_device_app_opens_and_says_so(qtbot, tmp_path):
    from engine.audio.playback import Player

    def no_device(**kwargs):
        raise OSError("no default output device")

    window = MainWindow(autosave_dir=tmp_path, offer_recovery=False,
                        player=Player(stream_factory=no_device, start_thread=False))
    try:
        window.show()
        assert "playback unavailable" in window.statusBar().currentMessage()
        QTest.keyClick(window, Qt.Key.Key_Space)  # no crash; says why
        assert "playback unavailable" in window.statusBar().currentMessage()
    finally:
        window.close()
        window.peaks.shutdown()


def test_undo_redo_menu_text_follows_history(two_clip_window):
    from engine.project.commands import SetTrackMute

    window, ids = two_clip_window
    a = window.actions_
    assert not a.undo.isEnabled() and not a.redo.isEnabled()
    window.project.history.push(SetTrackMute(track_id=ids["A"][0], new=True))
    assert a.undo.isEnabled() and a.undo.text() == "&Undo Mute track"
    a.undo.trigger()
    assert a.redo.isEnabled() and a.redo.text() == "&Redo Mute track" and not a.undo.isEnabled()
