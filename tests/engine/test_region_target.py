"""Which region actions a selection offers (the rules the app's region menu shows)."""

import numpy as np

from engine.project import Project
from engine.project.commands import AddClip, AddTrack
from engine.studio.region_target import (
    COMPLETE,
    EXTEND,
    EXTRACT,
    INTRO,
    LAYER,
    REMIX,
    REPAINT,
    resolve_target,
)

SR = 48_000


def _project():
    p = Project("t")
    a = p.assets.add(np.zeros((2, 20 * SR), np.float32), "a.wav")
    p.history.push(AddTrack("Vocals", track_id="t1"))
    p.history.push(AddTrack("Empty", track_id="t2"))
    p.history.push(AddClip("t1", a.id, position=10 * SR, length=20 * SR, clip_id="c1"))
    return p


def _on(p, a_s, b_s, tracks=("t1",), clips=()):
    return resolve_target(p, int(a_s * SR), int(b_s * SR), tracks, clips)


def test_range_inside_a_clip_offers_repaint_layer_extract_complete_remix_not_extend_or_intro():
    t = _on(_project(), 14, 20)
    assert t.clip_id == "c1"
    for action in (REPAINT, LAYER, EXTRACT, COMPLETE, REMIX):
        assert t.available(action), action
    assert not t.available(EXTEND) and "past its end" in t.why_not(EXTEND)
    assert not t.available(INTRO)


def test_range_past_the_end_offers_extend():
    t = _on(_project(), 25, 40)
    assert t.available(EXTEND) and t.clip_id == "c1"
    t = _on(_project(), 32, 40)  # a gap after the clip: still extends the clip before it
    assert t.available(EXTEND) and not t.available(REPAINT) and not t.available(LAYER)


def test_range_before_the_start_offers_intro():
    t = _on(_project(), 4, 12)
    assert t.available(INTRO) and not t.available(EXTEND)
    assert not _on(_project(), 4, 35).available(INTRO)  # covers the whole clip: neither


def test_empty_lane_and_no_clip():
    p = _project()
    t = _on(p, 14, 20, tracks=("t2",))
    assert t.clip_id is None
    for action in (REPAINT, EXTEND, INTRO, REMIX, LAYER, EXTRACT, COMPLETE):
        assert not t.available(action)
    # over both lanes the range hears the vocal: a layer can be added
    both = _on(p, 14, 20, tracks=("t2", "t1"))
    assert both.available(LAYER)


def test_selected_clip_without_range_uses_the_whole_clip():
    t = resolve_target(_project(), 0, 0, (), ["c1"])
    assert (t.start, t.end, t.track_ids) == (10 * SR, 30 * SR, ("t1",))
    assert t.available(REPAINT) and t.available(REMIX) and not t.available(EXTEND)
