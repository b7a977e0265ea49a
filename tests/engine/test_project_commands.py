"""Every command: do, assert, undo (back to the exact previous state), redo (the exact done state)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.errors import ValidationError
from engine.project import Project
from engine.project.commands import (
    AddClip,
    AddTake,
    AddTrack,
    DuplicateClip,
    MoveClip,
    MoveTrack,
    RemoveClip,
    RemoveClips,
    RemoveTrack,
    RenameClip,
    RenameProject,
    RenameTrack,
    SetActiveTake,
    SetClipGain,
    SetFades,
    SetMasterGain,
    SetTempo,
    SetTimeSignature,
    SetTrackColour,
    SetTrackGain,
    SetTrackMute,
    SetTrackPan,
    SetTrackSolo,
    SplitClip,
    TrimClip,
)
from engine.timebase import TimeSignature

SR = 48_000


def snapshot(project: Project) -> dict:
    """Everything observable about the document, as plain values."""
    return {
        "name": project.name,
        "tempo": project.tempo_bpm,
        "ts": project.time_signature,
        "master": project.master_gain_db,
        "tracks": [
            {
                "id": t.id,
                "name": t.name,
                "colour": t.colour,
                "gain": t.gain_db,
                "pan": t.pan,
                "mute": t.mute,
                "solo": t.solo,
                "kind": t.kind,
                "stem": t.stem,
                "clips": [
                    (
                        c.id,
                        c.name,
                        c.position,
                        c.length,
                        c.source_offset,
                        c.gain_db,
                        c.fade_in,
                        c.fade_out,
                        c.track_id,
                        c.active_take_id,
                        # every take in full: the Create panel keeps alternatives as takes
                        tuple((k.id, k.name, k.asset_id, dict(k.meta)) for k in c.takes),
                    )
                    for c in t.clips
                ],
            }
            for t in project.tracks
        ],
    }


@pytest.fixture
def project() -> Project:
    p = Project("Song")
    rng = np.random.default_rng(0)
    a = p.assets.add(rng.standard_normal((2, 10 * SR)).astype(np.float32) * 0.1, "a.wav")
    b = p.assets.add(rng.standard_normal((2, 10 * SR)).astype(np.float32) * 0.1, "b.wav")
    t1 = p.history.push(AddTrack("One", track_id="track-1"))
    p.history.push(AddTrack("Two", track_id="track-2"))
    p.history.push(AddClip(t1.track_id, a.id, position=SR, length=4 * SR, source_offset=SR, clip_id="clip-1"))
    p.history.push(AddClip("track-2", b.id, position=0, clip_id="clip-2"))
    p.history.clear()
    p.test_assets = (a, b)  # type: ignore[attr-defined]
    return p


def round_trip(project: Project, command, check_done) -> None:
    before = snapshot(project)
    was_clean = project.history.is_clean
    project.history.push(command)
    done = snapshot(project)
    assert done != before, "the command changed nothing"
    check_done(project)
    assert not project.history.is_clean and project.history.can_undo
    project.history.undo()
    assert snapshot(project) == before
    assert project.history.is_clean == was_clean and project.history.can_redo
    project.history.redo()
    assert snapshot(project) == done
    check_done(project)


def test_add_track(project):
    cmd = AddTrack("Drums", kind="stem", stem="drums")
    round_trip(project, cmd, lambda p: (p.track(cmd.track_id).stem == "drums") or pytest.fail())
    assert project.tracks[-1].id == cmd.track_id


def test_remove_track_restores_clips_and_index(project):
    round_trip(project, RemoveTrack("track-1"), lambda p: not p.has_clip("clip-1") or pytest.fail())
    assert [t.id for t in project.tracks] == ["track-2"]
    project.history.undo()
    assert project.tracks[0].id == "track-1" and project.clip("clip-1").track_id == "track-1"


def test_move_track(project):
    round_trip(project, MoveTrack("track-2", 0), lambda p: p.tracks[0].id == "track-2" or pytest.fail())


@pytest.mark.parametrize(
    "cmd, attr, value",
    [
        (RenameTrack("track-1", "Lead"), "name", "Lead"),
        (SetTrackColour("track-1", "#123456"), "colour", "#123456"),
        (SetTrackGain("track-1", -6.0), "gain_db", -6.0),
        (SetTrackPan("track-1", -0.5), "pan", -0.5),
        (SetTrackMute("track-1", True), "mute", True),
        (SetTrackSolo("track-1", True), "solo", True),
    ],
)
def test_track_setters(project, cmd, attr, value):
    round_trip(project, cmd, lambda p: getattr(p.track("track-1"), attr) == value or pytest.fail())


@pytest.mark.parametrize(
    "cmd, attr, value",
    [
        (SetTempo(96.0), "tempo_bpm", 96.0),
        (SetTimeSignature(TimeSignature(6, 8)), "time_signature", TimeSignature(6, 8)),
        (SetMasterGain(-3.0), "master_gain_db", -3.0),
        (RenameProject("Other"), "name", "Other"),
    ],
)
def test_project_setters(project, cmd, attr, value):
    round_trip(project, cmd, lambda p: getattr(p, attr) == value or pytest.fail())


def test_add_clip_defaults_to_rest_of_asset(project):
    a, _ = project.test_assets
    cmd = AddClip("track-2", a.id, position=20 * SR, source_offset=2 * SR)
    round_trip(project, cmd, lambda p: p.clip(cmd.clip_id).length == 8 * SR or pytest.fail())


def test_remove_clips_across_tracks(project):
    round_trip(project, RemoveClips(("clip-1", "clip-2")), lambda p: p.clips() == [] or pytest.fail())
    project.history.undo()
    round_trip(project, RemoveClip("clip-2"), lambda p: not p.has_clip("clip-2") or pytest.fail())


def test_remove_with_a_bad_id_changes_nothing(project):
    before = snapshot(project)
    with pytest.raises(KeyError):
        project.history.push(RemoveClips(("clip-1", "nope")))
    assert snapshot(project) == before and not project.history.can_undo


def test_move_clip_in_time_and_between_tracks(project):
    round_trip(
        project, MoveClip("clip-1", 3 * SR), lambda p: p.clip("clip-1").position == 3 * SR or pytest.fail()
    )

    def moved(p):
        clip = p.clip("clip-1")
        assert clip.track_id == "track-2" and clip in p.track("track-2").clips
        assert clip not in p.track("track-1").clips and clip.position == 5 * SR

    round_trip(project, MoveClip("clip-1", 5 * SR, new_track_id="track-2"), moved)


def test_trim_start_keeps_audio_in_place(project):
    def trimmed(p):
        c = p.clip("clip-1")
        assert (c.position, c.length, c.source_offset) == (2 * SR, 3 * SR, 2 * SR)

    round_trip(project, TrimClip("clip-1", "start", 2 * SR), trimmed)


def test_trim_start_clamps_at_the_audio_start(project):
    project.history.push(TrimClip("clip-1", "start", 0))
    c = project.clip("clip-1")  # source offset was 1 s, position 1 s: cannot reveal before frame 0
    assert (c.position, c.source_offset, c.end) == (0, 0, 5 * SR)


def test_trim_end(project):
    round_trip(
        project, TrimClip("clip-1", "end", 3 * SR), lambda p: p.clip("clip-1").end == 3 * SR or pytest.fail()
    )
    project.history.push(TrimClip("clip-1", "end", 100 * SR))  # clamped at the asset's end
    assert project.clip("clip-1").end == SR - SR + 10 * SR


def test_split_clip(project):
    project.history.push(SetFades("clip-1", SR // 2, SR // 4))
    cmd = SplitClip("clip-1", 3 * SR)

    def split(p):
        left, right = p.clip("clip-1"), p.clip(cmd.new_clip_id)
        assert (left.position, left.length, left.source_offset, left.fade_in, left.fade_out) == (
            SR,
            2 * SR,
            SR,
            SR // 2,
            0,
        )
        assert (right.position, right.length, right.source_offset, right.fade_in, right.fade_out) == (
            3 * SR,
            2 * SR,
            3 * SR,
            0,
            SR // 4,
        )
        assert right.track_id == "track-1"

    round_trip(project, cmd, split)
    with pytest.raises(ValidationError):
        project.history.push(SplitClip("clip-1", SR))  # at the edge: nothing to split


def test_duplicate_clip(project):
    cmd = DuplicateClip("clip-1")

    def dup(p):
        copy = p.clip(cmd.new_clip_id)
        assert copy.position == p.clip("clip-1").end and copy.asset_id == p.clip("clip-1").asset_id

    round_trip(project, cmd, dup)
    cmd2 = DuplicateClip("clip-1", position=0, track_id="track-2")
    round_trip(project, cmd2, lambda p: p.clip(cmd2.new_clip_id).track_id == "track-2" or pytest.fail())


def test_clip_gain_fades_rename(project):
    round_trip(
        project, SetClipGain("clip-1", -12.0), lambda p: p.clip("clip-1").gain_db == -12.0 or pytest.fail()
    )
    round_trip(
        project,
        SetFades("clip-1", 100, 200),
        lambda p: (p.clip("clip-1").fade_in, p.clip("clip-1").fade_out) == (100, 200) or pytest.fail(),
    )
    round_trip(
        project, RenameClip("clip-1", "Verse"), lambda p: p.clip("clip-1").name == "Verse" or pytest.fail()
    )
    with pytest.raises(ValidationError):
        project.history.push(SetFades("clip-1", 3 * SR, 2 * SR))


def test_add_take_and_switch(project):
    _, b = project.test_assets
    cmd = AddTake("clip-1", b.id, name="take 2", meta={"seed": 7})

    def added(p):
        clip = p.clip("clip-1")
        assert clip.active_take_id == cmd.take_id and clip.asset_id == b.id
        assert clip.active_take.meta["seed"] == 7 and len(clip.takes) == 2

    round_trip(project, cmd, added)
    first = project.clip("clip-1").takes[0].id
    round_trip(
        project, SetActiveTake("clip-1", first), lambda p: p.clip("clip-1").asset_id != b.id or pytest.fail()
    )


def test_slider_drag_merges_into_one_step(project):
    for gain in (-1.0, -2.0, -3.0, -4.5):
        project.history.push(SetTrackGain("track-1", gain, merge_id="gain-drag-1"))
    assert project.history.count == 1 and project.track("track-1").gain_db == -4.5
    project.history.undo()
    assert project.track("track-1").gain_db == 0.0
    project.history.redo()
    assert project.track("track-1").gain_db == -4.5
    # A new gesture with a new id (or after seal) is a separate step; other tracks never merge.
    project.history.push(SetTrackGain("track-1", -5.0, merge_id="gain-drag-1"))
    assert project.history.count == 2  # redo/undo sealed the top
    project.history.push(SetTrackGain("track-2", -5.0, merge_id="gain-drag-1"))
    assert project.history.count == 3


def test_group_is_one_step_and_rolls_back_on_error(project):
    with project.history.group("Move 2 clips"):
        project.history.push(MoveClip("clip-1", 0))
        project.history.push(MoveClip("clip-2", 7 * SR))
    assert project.history.count == 1 and project.history.undo_text == "Move 2 clips"
    project.history.undo()
    assert project.clip("clip-1").position == SR and project.clip("clip-2").position == 0
    project.history.redo()
    assert project.clip("clip-1").position == 0 and project.clip("clip-2").position == 7 * SR

    before = snapshot(project)
    with pytest.raises(KeyError), project.history.group("Bad"):
        project.history.push(MoveClip("clip-1", 9 * SR))
        project.history.push(MoveClip("missing", 0))
    assert snapshot(project) == before and project.history.count == 1


def test_clean_index_and_changed_signal(project):
    events = []
    project.history.changed.connect(lambda: events.append(project.history.is_clean))
    assert project.history.is_clean
    project.history.push(SetTempo(100.0))
    project.history.mark_clean()
    project.history.push(SetTempo(110.0))
    assert events == [False, True, False]
    project.history.undo()
    assert project.history.is_clean
    project.history.undo()
    project.history.push(SetTempo(90.0))  # branch away: the saved state is gone for good
    assert not project.history.is_clean


def test_signals_fire_per_object(project):
    seen = []
    project.clip("clip-1").changed.connect(lambda c, f: seen.append(("clip", f)))
    project.track("track-2").clip_added.connect(lambda c: seen.append(("added", c.id)))
    project.track("track-1").clip_removed.connect(lambda c: seen.append(("removed", c.id)))
    project.history.push(MoveClip("clip-1", 0, new_track_id="track-2"))
    assert ("removed", "clip-1") in seen and ("added", "clip-1") in seen and ("clip", "position") in seen


def test_invalid_values_are_rejected_without_change(project):
    before = snapshot(project)
    for bad in (
        SetTrackGain("track-1", 1e30),
        SetTrackGain("track-1", float("nan")),
        SetTrackPan("track-1", 2.0),
        SetTempo(0.0),
        MoveClip("clip-1", -5),
        SetTrackColour("track-1", "red"),
    ):
        with pytest.raises(ValidationError):
            project.history.push(bad)
    assert snapshot(project) == before and project.history.count == 0


def test_push_from_another_thread_is_refused(project):
    errors = []
    worker = threading.Thread(
        target=lambda: errors.append(_try(lambda: project.history.push(SetTempo(99.0))))
    )
    worker.start()
    worker.join()
    assert isinstance(errors[0], RuntimeError) and project.tempo_bpm == 120.0


def _try(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc
    return None

