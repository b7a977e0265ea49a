"""Generating inside a project, headless: a batch lands as ONE clip with N takes in one undo step,
takes switch what the mixer renders, provenance survives save/reopen, re-render is bit-identical."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.audio.mixer import render_range
from engine.audio.render_plan import build_render_plan
from engine.errors import Cancelled, ValidationError
from engine.jobs import JobContext, ModelCache
from engine.project import Project
from engine.project.commands import AddClip, AddTrack, SetActiveTake
from engine.project.io import load_project, save_project
from engine.studio import Placement, export_take, generate_into, request_from_take, rerender_into

pytest.importorskip("torch")
from engine.tasks.request import GenerationRequest  # noqa: E402

SECONDS = 6.0


@pytest.fixture(scope="module")
def models():
    return ModelCache()  # shared by the tests here: the tiny pipeline loads once


def _request(**changes):
    base = dict(caption="lofi piano, warm tape", duration=SECONDS, batch_size=2, seeds=(11, 12))
    base.update(changes)
    return GenerationRequest(**base)


@pytest.fixture(scope="module")
def landed(tiny_checkpoints, models):
    project = Project("Song")
    batch = generate_into(project, _request(), checkpoints=tiny_checkpoints, device="cpu", models=models)
    return project, batch


def test_a_batch_lands_as_one_clip_with_n_takes_in_one_undo_step(landed):
    project, batch = landed
    assert [t.name for t in project.tracks] == ["lofi piano, warm tape"]
    (clip,) = project.clips()
    assert clip.id == batch.clip_id and len(clip.takes) == 2 and clip.active_take_id == batch.take_ids[0]
    assert [t.name for t in clip.takes] == ["lofi piano, warm tape · take 1 · seed 11",
                                           "lofi piano, warm tape · take 2 · seed 12"]
    assert clip.length == int(SECONDS * 48_000)
    h = project.history
    assert h.undo_text == "Generate 'lofi piano, warm tape' (2 takes)"
    h.undo()
    assert project.tracks == () and not project.clips()
    h.redo()
    assert project.clip(batch.clip_id).takes == clip.takes


def test_each_take_keeps_its_provenance(landed):
    project, batch = landed
    for k, take in enumerate(project.clip(batch.clip_id).takes):
        meta = take.meta
        assert meta["seed"] == (11, 12)[k] and meta["item_index"] == k and meta["task"] == "text2music"
        assert meta["request"]["caption"] == "lofi piano, warm tape" and meta["request"]["seeds"] == [11, 12]
        model = meta["models"][0]
        assert model["name"] == "acestep-v15-turbo" and all(len(h) == 64 for h in model["weights"].values())
        assert len(meta["codes"]) == int(SECONDS * 5) and "diffusion" in meta["timings_s"]
        json.dumps(dict(meta))  # JSON-able, so project.json can hold it


def test_switching_takes_changes_what_the_mixer_renders(landed):
    project, batch = landed
    end = int(SECONDS * 48_000)
    first = render_range(build_render_plan(project), 0, end)
    project.history.push(SetActiveTake(batch.clip_id, batch.take_ids[1]))
    second = render_range(build_render_plan(project), 0, end)
    project.history.undo()
    again = render_range(build_render_plan(project), 0, end)
    assert np.abs(first).max() > 0 and not np.array_equal(first, second)
    assert np.array_equal(first, again)


def test_save_and_reopen_keeps_takes_and_provenance(landed, tmp_path):
    project, batch = landed
    save_project(project, tmp_path / "Song.legato")
    reopened = load_project(tmp_path / "Song.legato")
    a, b = project.clip(batch.clip_id), reopened.clip(batch.clip_id)
    assert [(t.id, t.name, t.asset_id, dict(t.meta)) for t in a.takes] == \
        [(t.id, t.name, t.asset_id, dict(t.meta)) for t in b.takes]
    assert b.active_take_id == a.active_take_id


def test_rerender_is_bit_identical_and_one_undo_step(landed, tiny_checkpoints, models):
    project, batch = landed
    clip = project.clip(batch.clip_id)
    second = clip.takes[1]
    new_id = rerender_into(project, batch.clip_id, second.id, checkpoints=tiny_checkpoints, models=models)
    clip = project.clip(batch.clip_id)
    new = clip.take(new_id)
    assert clip.active_take_id == new_id and len(clip.takes) == 3
    assert new.asset_id == second.asset_id  # same samples -> same content hash
    assert new.meta["seed"] == 12 and new.name.endswith("take 3 · seed 12")
    project.history.undo()
    assert len(project.clip(batch.clip_id).takes) == 2


def test_apply_settings_gives_the_takes_own_request(landed):
    project, batch = landed
    take = project.clip(batch.clip_id).takes[1]
    req = request_from_take(project, take)
    assert req.caption == "lofi piano, warm tape" and req.seeds == (12,) and req.batch_size == 1
    assert req.duration == SECONDS


def test_export_take_writes_audio_and_a_sidecar(landed, tmp_path):
    project, batch = landed
    take = project.clip(batch.clip_id).takes[0]
    written = export_take(project, take, tmp_path / "out", "wav")
    assert written.audio_path.is_file() and json.loads(written.sidecar_path.read_text())["seed"] == 11
    imported = Project("x")
    tid = imported.history.push(AddTrack("t")).track_id
    asset = imported.assets.add(np.zeros((2, 100), np.float32))
    clip_id = imported.history.push(AddClip(tid, asset.id, 0)).clip_id
    with pytest.raises(ValidationError, match="not generated"):
        export_take(imported, imported.clip(clip_id).takes[0], tmp_path / "no")


def test_a_cancelled_generation_leaves_the_project_unchanged(tiny_checkpoints, models):
    project = Project("Song")
    ctx = JobContext()
    ctx.cancel_token.cancel()
    with pytest.raises(Cancelled):
        generate_into(project, _request(), checkpoints=tiny_checkpoints, device="cpu", models=models, ctx=ctx)
    assert project.tracks == () and not project.history.can_undo


def test_landing_on_a_chosen_track_at_a_position(tiny_checkpoints, models):
    project = Project("Song")
    tid = project.history.push(AddTrack("Keys")).track_id
    batch = generate_into(project, _request(batch_size=1, seeds=(5,)), checkpoints=tiny_checkpoints,
                          device="cpu", models=models, placement=Placement.on_track(tid, 96_000))
    clip = project.clip(batch.clip_id)
    assert clip.track_id == tid and clip.position == 96_000 and len(project.tracks) == 1
