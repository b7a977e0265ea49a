"""kill -9 during autosave never loses a completed autosave (issue 13, "kill-during-save test").

A child process edits and autosaves in a tight loop, printing each revision once `write()` has
returned; the parent SIGKILLs it at seeded random moments (mid-asset, mid-project.json, between
writes). After every kill the child's recovery folder must be offered, load, and hold at least
the last revision the child reported complete - and exactly the tracks that revision had.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.project.autosave import find_recoverable, restore

REPO = Path(__file__).resolve().parents[2]
KILLS = 8

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from engine.project import Project
    from engine.project.autosave import Autosaver
    from engine.project.commands import AddClip, AddTrack

    root, seed = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(seed)
    p = Project("Killed")
    saver = Autosaver(p, root, interval_s=0)
    print("folder", saver.folder, flush=True)
    i = 0
    while True:
        i += 1
        # ~1 s of new audio per step, so kills land inside asset writes too.
        a = p.assets.add(rng.standard_normal((2, 48_000)).astype(np.float32) * 0.1, f"{i}.wav")
        with p.history.group("step"):
            p.history.push(AddTrack(f"T{i}", track_id=f"t{i}"))
            p.history.push(AddClip(f"t{i}", a.id, 0, clip_id=f"c{i}"))
        saver.save_now()
        print("done", p.history.revision, len(p.tracks), flush=True)
    """
)


def _run_until_killed(root: Path, seed: int, delay: float) -> tuple[Path, list[tuple[int, int]]]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(seed)],
        stdout=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )
    try:
        first = child.stdout.readline().split()
        assert first and first[0] == "folder", first
        folder = Path(first[1])
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        done = [tuple(map(int, line.split()[1:])) for line in child.stdout.read().splitlines()
                if line.startswith("done")]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        child.stdout.close()
    return folder, done


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_kill_during_autosave_never_loses_a_completed_autosave(tmp_path):
    rng = random.Random(13)
    root = tmp_path / "recovery"
    kills_after_a_completed_save = 0
    for k in range(KILLS):
        folder, done = _run_until_killed(root, seed=k, delay=rng.uniform(0.05, 0.6))
        offered = {r.folder: r for r in find_recoverable(root)}
        if not done:
            continue  # killed before the first autosave finished: nothing was promised
        kills_after_a_completed_save += 1
        last_revision, last_tracks = done[-1]
        assert folder in offered, f"kill {k}: completed autosave (revision {last_revision}) not offered"
        rec = offered[folder]
        assert rec.revision >= last_revision
        project = restore(rec)  # loads, every asset present and hash-checked
        # The snapshot is whole: its tracks are exactly those of the revision it claims.
        assert len(project.tracks) >= last_tracks
        assert [t.name for t in project.tracks] == [f"T{i + 1}" for i in range(len(project.tracks))]
    assert kills_after_a_completed_save >= KILLS // 2  # the test exercised what it claims
    # Every folder left is either offered and loadable, or debris young enough to be kept.
    for rec in find_recoverable(root):
        restore(rec)
