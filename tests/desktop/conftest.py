"""Desktop tests: pytest-qt, offscreen; helpers that drive widgets as a person would."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from desktop import dialogs as _dialogs  # noqa: E402

# The real dialog functions, for tests that want a real QMessageBox (auto-closed by a timer).
REAL_DIALOGS = {name: getattr(_dialogs, name) for name in dir(_dialogs) if name.startswith(("ask_", "show_"))}


@pytest.fixture(autouse=True, scope="session")
def _qt_test_mode():
    from PySide6.QtCore import QStandardPaths

    QStandardPaths.setTestModeEnabled(True)  # never touch the user's settings (Orange)


def FakePlayer():  # noqa: N802 - a factory standing in for the class
    """The engine's real Player over its FakeStream: no sound card, no mixer thread; tests pull
    blocks explicitly (`player.fill_ring()`, `stream.pull()`)."""
    from engine.audio.playback import FakeStream, Player

    return Player(stream_factory=FakeStream, start_thread=False)


def tone(seconds: float, freq: float = 220.0, sr: int = 48_000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    mono = (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono, mono * 0.8])


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """The real main window over an empty project. Closed by this fixture (not qtbot), after
    marking the project clean, so no 'save changes?' dialog blocks the teardown."""
    from desktop import dialogs
    from desktop.main_window import MainWindow

    def unexpected(*args):
        raise AssertionError(f"unexpected modal dialog {args[1:]!r}")

    for name in ("ask_save_changes", "ask_recover", "show_error", "ask_open_project", "ask_save_project",
                 "ask_import_paths", "ask_export_path", "ask_export_folder"):
        monkeypatch.setattr(dialogs, name, unexpected)
    win = MainWindow(autosave_dir=tmp_path / "recovery", offer_recovery=False, player=FakePlayer())
    win.resize(1200, 700)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()  # window shortcuts (Ctrl+S, Esc, [ ]) need the active window
    qtbot.waitUntil(win.isActiveWindow, timeout=2000)
    yield win
    win.project.history.mark_clean()  # no "save changes?" question on teardown
    win.close()
    win.peaks.shutdown()
    assert not win.transport._timer.isActive(), "the display timer must stop when the window closes"


@pytest.fixture
def two_clip_window(window, qtbot):
    """Two tracks with one 4 s clip each: at 0 s on track A and 6 s on track B."""
    from engine.project.commands import AddClip, AddTrack

    project = window.project
    h = project.history
    ids = {}
    for name, start, freq in (("A", 0, 220.0), ("B", 6, 330.0)):
        tid = h.push(AddTrack(name)).track_id
        asset = project.assets.add(tone(4.0, freq), name)
        ids[name] = (tid, h.push(AddClip(tid, asset.id, start * 48_000, name=name)).clip_id)
    h.clear()
    window.timeline.geometry_.set_pixels_per_second(50.0)
    window.timeline.view.horizontalScrollBar().setValue(0)
    window.peaks.wait_idle()
    qtbot.wait(20)
    return window, ids


@pytest.fixture
def models_at(tiny_checkpoints):
    """Point the app's Settings at a checkpoints folder (tiny by default) for one test."""
    from engine.settings import Settings, save_settings, settings_path

    chosen = []

    def point(folder=tiny_checkpoints):
        save_settings(Settings(checkpoints=str(folder), device="cpu"))
        chosen.append(folder)
        return folder

    point()
    yield point
    settings_path().unlink(missing_ok=True)


@pytest.fixture
def gen_window(models_at, window, qtbot):
    window.generation.refresh_models()
    events = []
    window.bridge.job_event.connect(events.append)
    window.events = events
    yield window
    window.generation.set_autogen(False)
    window.bridge.cancel_all()
    assert window.bridge.queue.wait_until_idle(60)


# --- mouse helpers: real QMouseEvents on the view's viewport -------------------------------
def _send_mouse(widget, kind, pos, buttons, button, modifiers=None):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    local = QPointF(pos)
    event = QMouseEvent(kind, local, widget.mapToGlobal(local), button, buttons,
                        modifiers or Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def drag(widget, start, end, steps: int = 6, modifiers=None):
    """Press at `start`, move in steps, release at `end` (viewport coordinates)."""
    from PySide6.QtCore import QEvent, QPointF, Qt

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    start, end = QPointF(start), QPointF(end)
    _send_mouse(widget, QEvent.Type.MouseButtonPress, start, left, left, modifiers)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        _send_mouse(widget, QEvent.Type.MouseMove, p, left, none, modifiers)
    _send_mouse(widget, QEvent.Type.MouseButtonRelease, end, none, left, modifiers)


def click(widget, pos, modifiers=None):
    drag(widget, pos, pos, steps=0, modifiers=modifiers)


def scene_to_viewport(window, x_s: float, y: float):
    """Viewport point for time x_s (seconds) and scene y."""
    from PySide6.QtCore import QPointF

    view = window.timeline.view
    return QPointF(view.mapFromScene(QPointF(window.timeline.geometry_.x_of(x_s), y)))


def drag_lane_range(window, lane: int, a_s: float, b_s: float, last_lane: int | None = None):
    """Clear the range, then drag across the waveform of `lane` (down to `last_lane`) from a_s
    to b_s (keep away from clip edges, which trim). Returns the new (grid-snapped) selection."""
    window.timeline.view.set_selection(None)
    g = window.timeline.geometry_
    y0 = g.lane_top(lane) + g.lane_height * 0.6
    y1 = g.lane_top(last_lane if last_lane is not None else lane) + g.lane_height * 0.6
    drag(window.timeline.view.viewport(), scene_to_viewport(window, a_s, y0), scene_to_viewport(window, b_s, y1))
    return window.timeline.view.selection


def right_click_lane(window, at_s: float, lane: int = 0):
    """A right-click on `lane` at time at_s (a real QContextMenuEvent); returns the region menu."""
    from PySide6.QtGui import QContextMenuEvent
    from PySide6.QtWidgets import QApplication

    g = window.timeline.geometry_
    viewport = window.timeline.view.viewport()
    pos = scene_to_viewport(window, at_s, g.lane_top(lane) + g.lane_height * 0.6).toPoint()
    QApplication.sendEvent(viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, viewport.mapToGlobal(pos)))
    return window.context_menu


@pytest.fixture(autouse=True)
def _no_leftovers(request):
    """Fail a test that leaves our worker threads running or top-level windows open
    (napari's dangling-QThread/widget fixtures, in small)."""
    import threading

    before = {t.ident for t in threading.enumerate()}
    yield
    from PySide6.QtWidgets import QApplication

    ours = ("peaks", "legato-mixer")
    leaked = [t.name for t in threading.enumerate()
              if t.ident not in before and t.is_alive() and t.name.startswith(ours)]
    app = QApplication.instance()
    windows = [w for w in (app.topLevelWidgets() if app else []) if w.isVisible()]
    for w in windows:
        w.close()
    assert not leaked, f"threads left running: {leaked}"
    assert not windows, f"windows left open: {[type(w).__name__ for w in windows]}"
