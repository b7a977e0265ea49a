"""Re-render from the take inspector on a REGION take: it lands as a region take of the same
region (cropped like the original), bit-identical, not as a whole-clip take."""

from __future__ import annotations

import pytest

from engine.project.commands import AddClip, AddTrack
from tests.desktop.conftest import tone

pytest.importorskip("torch")

SR = 48_000
WAIT_MS = 240_000


def test_rerender_of_a_region_take_lands_in_its_region(gen_window, qtbot, tiny_checkpoints):
    from engine.jobs import ModelCache
    from engine.studio import repaint_region, run_edit

    window = gen_window
    project = window.project
    tid = project.history.push(AddTrack("Keys")).track_id
    asset = project.assets.add(tone(5.0, 330.0), "keys.wav")
    cid = project.history.push(AddClip(tid, asset.id, 0, name="Keys")).clip_id
    edit = repaint_region(project, cid, SR, 4 * SR, caption="pad", context_s=0.0, seed=4,
                          checkpoints=tiny_checkpoints, device="cpu")
    (region_take,) = run_edit(project, edit, models=ModelCache()).take_ids
    window.generation.rerender(cid, region_take)
    qtbot.waitUntil(lambda: len(project.clip(cid).takes) == 3, timeout=WAIT_MS)
    clip = project.clip(cid)
    new = clip.takes[2]
    assert new.asset_id == clip.take(region_take).asset_id  # bit-identical, holding just the window
    assert new.offset == SR and new.meta["region"] == [SR, 4 * SR]
    assert [(s.start, s.end, s.take_id) for s in clip.comp] == [(SR, 4 * SR, new.id)]
    assert clip.active_take_id == clip.takes[0].id  # the original still plays outside
