"""Take lanes and comping, headless: region takes with offsets, comp segments with equal-power
crossfades inside them, the mix outside a segment bit-identical, A/B, flatten, save/reopen and
hostile comp data in project.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.audio.mixer import render_range
from engine.audio.render_plan import build_render_plan, render_clip_source
from engine.errors import ProjectFileError, ValidationError
from engine.project import CompSegment, Project
from engine.project.commands import (
    AddClip,
    AddTake,
    AddTrack,
    SetActiveTake,
    SetComp,
    SetFades,
    SplitClip,
    TrimClip,
    ab_switch,
    add_region_take,
    comp_with,
    flatten_comp,
)
from engine.project.io import load_project, save_project

SR = 48_000
X = 2400  # the default crossfade


def sine(freq: float, frames: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(frames) / SR
    mono = (amp * np.sin(2 * math.pi * freq * t)).astype(np.float32)
    return np.stack([mono, 0.5 * mono])


def const(value: float, frames: int) -> np.ndarray:
    return np.full((2, frames), value, np.float32)


@pytest.fixture
def song():
    """One clip at timeline 1 s showing source frames [0.5 s, 4.5 s) of a 5 s take A."""
    p = Project()
    a = p.assets.add(sine(220, 5 * SR), "A")
    p.history.push(AddTrack("T", track_id="t"))
    p.history.push(AddClip("t", a.id, SR, length=4 * SR, source_offset=SR // 2, clip_id="c"))
    p.history.push(SetFades("c", fade_in=1000, fade_out=3000))
    p.history.clear()
    return p


def mix(project, end=6 * SR):
    return render_range(build_render_plan(project), 0, end)


def test_comp_with_paints_trims_splits_and_removes():
    a = comp_with((), 100, 200, "b")
    assert a == (CompSegment(100, 200, "b"),)
    b = comp_with(a, 150, 300, "c")
    assert b == (CompSegment(100, 150, "b"), CompSegment(150, 300, "c"))
    split = comp_with((CompSegment(0, 1000, "b"),), 400, 500, "c")
    assert split == (CompSegment(0, 400, "b"), CompSegment(400, 500, "c"), CompSegment(500, 1000, "b"))
    assert comp_with(split, 400, 500, "b") == (CompSegment(0, 1000, "b"),)  # merged again
    assert comp_with(split, 0, 1000, "active", active_take_id="active") == ()
    with pytest.raises(ValidationError):
        comp_with((), 5, 5, "b")


def test_region_take_plays_only_in_its_window_with_equal_power_crossfades(song):
    before = mix(song)
    start, end = 2 * SR, 3 * SR  # source frames: timeline 2.5 s .. 3.5 s
    region = song.assets.add(const(0.25, end - start), "region")
    take_id = add_region_take(song, "c", start, end, region.id, name="repaint", meta={"seed": 1})
    clip = song.clip("c")
    assert clip.active_take_id != take_id and clip.take(take_id).offset == start
    assert clip.comp == (CompSegment(start, end, take_id),)
    assert song.history.count == 1 and song.history.undo_text == "Add take"
    after = mix(song)
    t0, t1 = clip.timeline_frame(start), clip.timeline_frame(end)
    # Outside the segment: bit-identical to the mix before the take existed.
    assert np.array_equal(after[:, :t0], before[:, :t0]) and np.array_equal(after[:, t1:], before[:, t1:])
    # Fully inside: the region take alone.
    assert np.array_equal(after[:, t0 + X : t1 - X], np.full((2, t1 - t0 - 2 * X), 0.25, np.float32))
    # Crossfades lie inside the segment and are equal-power: g_in² + g_out² = 1.
    a_src = song.assets[clip.active_take.asset_id].samples
    frames = np.arange(t0, t0 + X)
    g_in = after[0, t0 : t0 + X] / 0.25  # the region take is a constant
    # Reconstruct: mix = A·g_out + 0.25·g_in. Check against the closed form.
    phase = (frames - t0 + 0.5) / X * (math.pi / 2)
    expected = a_src[0, frames - clip.position + clip.source_offset] * np.cos(phase) + 0.25 * np.sin(phase)
    np.testing.assert_allclose(after[0, t0 : t0 + X], expected, atol=1e-6)
    np.testing.assert_allclose(np.sin(phase) ** 2 + np.cos(phase) ** 2, 1.0, atol=1e-12)
    assert g_in.shape == (X,)
    song.history.undo()
    assert song.clip("c").comp == () and len(song.clip("c").takes) == 1
    assert np.array_equal(mix(song), before)
    song.history.redo()
    assert np.array_equal(mix(song), after)


def test_comp_two_takes_with_one_cut_and_its_crossfade():
    """Two whole-clip takes A (1.0) and B (-0.5): paint B from the middle on; the cut is one
    equal-power crossfade at the middle, inside B's segment."""
    p = Project()
    a, b = p.assets.add(const(0.5, 4 * SR), "A"), p.assets.add(const(-0.5, 4 * SR), "B")
    p.history.push(AddTrack("T", track_id="t"))
    p.history.push(AddClip("t", a.id, 0, clip_id="c"))
    tb = p.history.push(AddTake("c", b.id, make_active=False)).take_id
    p.history.push(SetComp("c", comp_with((), 2 * SR, 8 * SR, tb)))  # past the clip end: no fade back
    out = mix(p, 4 * SR)[0]
    cut = 2 * SR
    assert np.all(out[:cut] == 0.5) and np.all(out[cut + X :] == -0.5)
    phase = (np.arange(X) + 0.5) / X * (math.pi / 2)
    np.testing.assert_allclose(out[cut : cut + X], 0.5 * np.cos(phase) - 0.5 * np.sin(phase), atol=1e-6)


def test_adjacent_segments_cut_once_inside_the_later_one():
    p = Project()
    ids = [p.assets.add(const(v, 4 * SR), str(v)).id for v in (0.1, 0.2, 0.3)]
    p.history.push(AddTrack("T", track_id="t"))
    p.history.push(AddClip("t", ids[0], 0, clip_id="c"))
    t2 = p.history.push(AddTake("c", ids[1], make_active=False)).take_id
    t3 = p.history.push(AddTake("c", ids[2], make_active=False)).take_id
    p.history.push(SetComp("c", (CompSegment(SR, 2 * SR, t2), CompSegment(2 * SR, 3 * SR, t3))))
    out = mix(p, 4 * SR)[0]
    np.testing.assert_array_equal(out[SR + X : 2 * SR], np.float32(0.2))  # no fade-out of t2 before the cut
    phase = (np.arange(X) + 0.5) / X * (math.pi / 2)
    np.testing.assert_allclose(out[2 * SR : 2 * SR + X], 0.2 * np.cos(phase) + 0.3 * np.sin(phase), atol=1e-6)
    np.testing.assert_array_equal(out[2 * SR + X : 3 * SR - X], np.float32(0.3))
    np.testing.assert_array_equal(out[3 * SR :], np.float32(0.1))


def test_crossfade_is_clamped_to_half_a_short_segment():
    p = Project()
    a, b = p.assets.add(const(0.5, SR), "A"), p.assets.add(const(0.25, SR), "B")
    p.history.push(AddTrack("T", track_id="t"))
    p.history.push(AddClip("t", a.id, 0, clip_id="c"))
    tb = p.history.push(AddTake("c", b.id, make_active=False)).take_id
    p.history.push(SetComp("c", (CompSegment(1000, 2000, tb),)))  # 1000 frames < 2 X
    out = mix(p, SR)[0]
    assert np.all(out[:1000] == 0.5) and np.all(out[2000:] == 0.5)
    assert abs(out[1499] - 0.25) < 1e-3 and abs(out[1500] - 0.25) < 1e-3  # the middle is B


def test_ab_switch_flips_the_region_then_undo_redo(song):
    start, end = 2 * SR, 3 * SR
    first = song.assets.add(const(0.1, SR), "r1")
    second = song.assets.add(const(0.2, SR), "r2")
    t1 = add_region_take(song, "c", start, end, first.id)
    t2 = add_region_take(song, "c", start, end, second.id)
    assert song.clip("c").comp == (CompSegment(start, end, t2),)
    assert ab_switch(song, "c") and song.clip("c").comp == (CompSegment(start, end, t1),)
    assert song.history.undo_text == "Switch take (A/B)"
    assert ab_switch(song, "c") and song.clip("c").comp == (CompSegment(start, end, t2),)
    song.history.undo()
    assert song.clip("c").comp == (CompSegment(start, end, t1),)
    song.history.redo()
    assert song.clip("c").comp == (CompSegment(start, end, t2),)


def test_ab_switch_with_one_region_take_toggles_against_the_active_take(song):
    t1 = add_region_take(song, "c", SR, 2 * SR, song.assets.add(const(0.1, SR), "r").id)
    assert ab_switch(song, "c") and song.clip("c").comp == ()
    assert ab_switch(song, "c") and song.clip("c").comp == (CompSegment(SR, 2 * SR, t1),)


def test_ab_switch_of_whole_takes_and_nothing_to_switch(song):
    assert ab_switch(song, "c") is False
    original = song.clip("c").active_take_id
    new = song.history.push(AddTake("c", song.assets.add(const(0.1, 5 * SR), "B").id)).take_id
    assert song.clip("c").active_take_id == new
    assert ab_switch(song, "c") and song.clip("c").active_take_id == original
    assert ab_switch(song, "c") and song.clip("c").active_take_id == new


def test_render_clip_source_and_flatten(song):
    start, end = 2 * SR, 3 * SR
    add_region_take(song, "c", start, end, song.assets.add(const(0.25, SR), "r").id)
    clip = song.clip("c")
    source = render_clip_source(song, clip)  # the visible window, no gain/fades
    assert source.shape == (2, clip.length)
    inside = start - clip.source_offset
    assert np.all(source[:, inside + X : inside + SR - X] == 0.25)
    a = song.assets[clip.active_take.asset_id].samples
    assert np.array_equal(source[:, :inside], a[:, clip.source_offset : start])
    before = mix(song)
    take_id = flatten_comp(song, "c")
    clip = song.clip("c")
    assert clip.active_take_id == take_id and clip.comp == () and song.history.undo_text == "Flatten comp"
    np.testing.assert_allclose(mix(song), before, atol=1e-6)
    # The flattened take covers the whole source (0..5 s), so trimming wider still finds audio.
    assert clip.take(take_id).offset == 0 and song.assets[clip.take(take_id).asset_id].frames == 5 * SR
    song.history.undo()
    assert len(song.clip("c").comp) == 1 and np.array_equal(mix(song), before)


def test_split_and_trim_keep_the_comp_on_the_source_timeline(song):
    add_region_take(song, "c", 2 * SR, 3 * SR, song.assets.add(const(0.25, SR), "r").id)
    before = mix(song)
    song.history.push(SplitClip("c", int(2.7 * SR), new_clip_id="c2"))  # inside the segment
    assert song.clip("c2").comp == song.clip("c").comp
    assert np.array_equal(mix(song), before)
    song.history.push(TrimClip("c2", "end", 10 * SR))  # clamped to the longest take (offset-aware)
    assert song.clip("c2").end == SR + 5 * SR - SR // 2


def test_take_with_offset_is_silent_before_its_audio(song):
    late = song.assets.add(const(0.5, SR), "late")
    song.history.push(AddTake("c", late.id, offset=3 * SR))  # active: sounds from source 3 s on
    out = mix(song)[0]
    t = song.clip("c").timeline_frame(3 * SR)
    assert np.all(out[SR : t] == 0) and np.all(out[t + 1000 : t + SR - 3000] == 0.5)


def test_save_and_reopen_keeps_lanes_comp_offsets_and_crossfade(song, tmp_path):
    t1 = add_region_take(song, "c", 2 * SR, 3 * SR, song.assets.add(const(0.25, SR), "r").id)
    before = mix(song)
    save_project(song, tmp_path / "S.legato")
    again = load_project(tmp_path / "S.legato")
    clip = again.clip("c")
    assert clip.comp == (CompSegment(2 * SR, 3 * SR, t1),) and clip.crossfade == X
    assert clip.take(t1).offset == 2 * SR and [t.id for t in clip.takes] == [t.id for t in song.clip("c").takes]
    assert np.array_equal(mix(again), before)


def _tamper(folder, change):
    path = folder / "project.json"
    doc = json.loads(path.read_text())
    change(doc["tracks"][0]["clips"][0])
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("change,words", [
    (lambda c: c.update(comp=[[0, 10, "take-nope"]]), "not a take of the clip"),
    (lambda c: c.update(comp=[[10, 5, c["takes"][1]["id"]]]), "must be after its start"),
    (lambda c: c.update(comp=[[0, 100, c["takes"][1]["id"]], [50, 200, c["takes"][1]["id"]]]), "overlap"),
    (lambda c: c.update(comp=[[0, 10]]), "must be \\[start, end, take id\\]"),
    (lambda c: c.update(comp=[[True, 10, c["takes"][1]["id"]]]), "must be \\[start, end, take id\\]"),
    (lambda c: c.update(comp=[[-5, 10, c["takes"][1]["id"]]]), "comp segment start"),
    (lambda c: c.update(comp=[[0, 10**30, c["takes"][1]["id"]]]), "comp segment end"),
    (lambda c: c.update(comp="all"), "wrong type"),
    (lambda c: c.update(comp=[[i, i + 1, c["takes"][1]["id"]] for i in range(5000)]), "at most"),
    (lambda c: c.update(crossfade=-1), "crossfade"),
    (lambda c: c.update(crossfade=1.5), "wrong type"),
    (lambda c: c["takes"][1].update(offset=-3), "take offset"),
    (lambda c: c["takes"][1].update(offset="0"), "wrong type"),
])
def test_hostile_comp_data_is_refused_with_a_clear_error(song, tmp_path, change, words):
    add_region_take(song, "c", 2 * SR, 3 * SR, song.assets.add(const(0.25, SR), "r").id)
    folder = save_project(song, tmp_path / "S.legato")
    _tamper(folder, change)
    with pytest.raises(ProjectFileError, match=words):
        load_project(folder)


def test_old_files_without_comp_or_offsets_load(song, tmp_path):
    folder = save_project(song, tmp_path / "S.legato")
    doc = json.loads((folder / "project.json").read_text())
    clip = doc["tracks"][0]["clips"][0]
    del clip["comp"], clip["crossfade"]
    (folder / "project.json").write_text(json.dumps(doc))
    again = load_project(folder)
    assert again.clip("c").comp == () and again.clip("c").crossfade == X


def test_set_comp_refuses_unknown_takes_and_drops_active_take_segments(song):
    with pytest.raises(ValidationError, match="not a take"):
        song.history.push(SetComp("c", (CompSegment(0, 10, "take-x"),)))
    active = song.clip("c").active_take_id
    song.history.push(SetComp("c", (CompSegment(0, 10, active),)))
    assert song.clip("c").comp == ()
    b = song.history.push(AddTake("c", song.assets.add(const(0.1, SR), "b").id, make_active=False)).take_id
    song.history.push(SetComp("c", (CompSegment(0, 10, b),)))
    song.history.push(SetActiveTake("c", b))
    # a segment naming the (now) active take plays as the active take: no crossfade bump
    out = mix(song)
    assert np.all(np.abs(out) <= 0.1 + 1e-7)
