"""Take lanes and comping, driven like a musician: open the lanes, drag across a lane, hear the
cut's equal-power crossfade in the rendered mix, A/B, flatten, undo/redo, save and reopen.

No model is needed: the region take is made with the engine's own `add_region_take` (what a
repaint lands), so these tests are about the lanes, the comp and the mix.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from desktop.timeline.take_lanes import LANE_HEIGHT
from engine.audio.mixer import render_range
from engine.audio.render_plan import build_render_plan
from engine.project.commands import AddClip, AddTrack, add_region_take
from tests.desktop.conftest import drag

SR = 48_000


def _const(left: float, right: float, seconds: float) -> np.ndarray:
    n = int(seconds * SR)
    return np.stack([np.full(n, left, np.float32), np.full(n, right, np.float32)])


def _setup(window, qtbot):
    """An 8 s clip whose left channel is 0.5 (the original) and a region take over 2–5 s whose
    right channel is 0.5: in the mix, L/0.5 is the original's gain and R/0.5 the take's."""
    project = window.project
    h = project.history
    tid = h.push(AddTrack("Vox")).track_id
    original = project.assets.add(_const(0.5, 0.0, 8.0), "vox.wav")
    clip_id = h.push(AddClip(tid, original.id, 0, name="Vox")).clip_id
    region = project.assets.add(_const(0.0, 0.5, 3.0), "repaint")
    take_id = add_region_take(project, clip_id, 2 * SR, 5 * SR, region.id, name="Repaint 2–5 s",
                              meta={"task": "repaint"})
    window.timeline.geometry_.set_pixels_per_second(50.0)
    window.timeline.view.horizontalScrollBar().setValue(0)
    window.timeline.scene.select_clips([clip_id])
    window.peaks.wait_idle()
    qtbot.wait(20)
    return clip_id, take_id


def _gains(window) -> tuple[np.ndarray, np.ndarray]:
    mix = render_range(build_render_plan(window.project), 0, 8 * SR)
    return mix[0] / 0.5, mix[1] / 0.5  # original gain, region-take gain per frame


def _open_lanes(window, qtbot):
    window.timeline.view.setFocus()
    QTest.keyClick(window, Qt.Key.Key_T)
    lanes = window.take_lanes
    qtbot.waitUntil(lanes.isVisible, timeout=2000)
    return lanes


def _lane_point(window, lane: int, seconds: float) -> QPointF:
    x = window.timeline.geometry_.x_of(seconds) - window.timeline.view.horizontalScrollBar().value()
    return QPointF(x, lane * LANE_HEIGHT + LANE_HEIGHT / 2)


def test_lanes_show_every_take_and_the_region_plays_only_inside_its_window(window, qtbot):
    clip_id, _ = _setup(window, qtbot)
    lanes = _open_lanes(window, qtbot)
    assert lanes.canvas.clip.id == clip_id and len(lanes.labels._labels) == 2
    assert lanes.labels._labels[0].startswith("▶") and "2.0–5.0" in lanes.labels._labels[1]
    orig, take = _gains(window)
    assert np.array_equal(orig[: 2 * SR], np.ones(2 * SR)) and not take[: 2 * SR].any()
    assert np.array_equal(orig[5 * SR:], np.ones(3 * SR)) and not take[5 * SR:].any()
    xf = window.project.clip(clip_id).crossfade
    assert xf == int(0.05 * SR)  # the 50 ms default
    inner = slice(2 * SR + xf, 5 * SR - xf)
    assert not orig[inner].any() and np.allclose(take[inner], 1.0)
    edge = slice(2 * SR, 2 * SR + xf)  # equal power through the crossfade
    assert np.allclose(orig[edge] ** 2 + take[edge] ** 2, 1.0, atol=1e-5)
    assert (np.diff(take[edge]) >= 0).all() and orig[edge][0] > 0.99


def test_drag_across_a_lane_makes_one_cut_with_a_crossfade_and_undoes(window, qtbot):
    clip_id, take_id = _setup(window, qtbot)
    lanes = _open_lanes(window, qtbot)
    before = _gains(window)
    # Drag across the Original's lane from 3.5 s to 6 s: the original plays again from 3.5 s.
    drag(lanes.canvas, _lane_point(window, 0, 3.5), _lane_point(window, 0, 6.0))
    clip = window.project.clip(clip_id)
    assert [(s.start, s.end, s.take_id) for s in clip.comp] == [(2 * SR, int(3.5 * SR), take_id)]
    assert window.project.history.undo_text.startswith("Comp take")
    orig, take = _gains(window)
    cut, xf = int(3.5 * SR), clip.crossfade
    assert np.array_equal(orig[cut:], np.ones(8 * SR - cut)) and not take[cut:].any()
    zone = slice(cut - xf, cut)  # the cut's crossfade lies inside the segment, before the cut
    assert np.allclose(orig[zone] ** 2 + take[zone] ** 2, 1.0, atol=1e-5)
    assert take[cut - xf] > 0.99 and orig[cut - 1] > 0.99
    assert np.array_equal(orig[: cut - xf], before[0][: cut - xf])  # nothing earlier changed
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(_gains(window)[1], before[1])
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(_gains(window)[1], take)


def test_ab_key_switches_the_region_and_flatten_makes_one_take(window, qtbot):
    clip_id, take_id = _setup(window, qtbot)
    with_take = _gains(window)
    window.timeline.view.setFocus()
    QTest.keyClick(window, Qt.Key.Key_A)
    assert window.project.clip(clip_id).comp == ()
    assert not _gains(window)[1].any()  # the original everywhere
    QTest.keyClick(window, Qt.Key.Key_A)
    assert np.array_equal(_gains(window)[1], with_take[1])
    lanes = _open_lanes(window, qtbot)
    assert lanes.flatten_button.isEnabled()
    qtbot.mouseClick(lanes.flatten_button, Qt.MouseButton.LeftButton)
    clip = window.project.clip(clip_id)
    assert clip.comp == () and len(clip.takes) == 3 and clip.active_take_id == clip.takes[-1].id
    flat = _gains(window)
    assert np.allclose(flat[0], with_take[0], atol=1e-6) and np.allclose(flat[1], with_take[1], atol=1e-6)
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.project.clip(clip_id).comp[0].take_id == take_id


def test_save_and_reopen_keeps_the_lanes_and_the_comp(window, qtbot, tmp_path):
    from engine.project.io import load_project, save_project

    clip_id, take_id = _setup(window, qtbot)
    lanes = _open_lanes(window, qtbot)
    drag(lanes.canvas, _lane_point(window, 0, 3.5), _lane_point(window, 0, 6.0))
    mix = render_range(build_render_plan(window.project), 0, 8 * SR)
    path = save_project(window.project, tmp_path / "Comp")
    reopened = load_project(path)
    clip = reopened.clip(clip_id)
    assert [(s.start, s.end, s.take_id) for s in clip.comp] == [(2 * SR, int(3.5 * SR), take_id)]
    assert clip.take(take_id).offset == 2 * SR and len(clip.takes) == 2
    assert np.array_equal(render_range(build_render_plan(reopened), 0, 8 * SR), mix)
