"""The model inside the app, driven as a musician would on tiny checkpoints: fill the Create panel,
click Generate, watch the job strip, get one clip with N takes, flip takes, undo, save, cancel."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from desktop import dialogs
from engine.audio.mixer import render_range
from engine.audio.render_plan import build_render_plan
from engine.jobs import JobCancelled, JobProgress
from tests.desktop.conftest import click

pytest.importorskip("torch")

WAIT_MS = 180_000
SECONDS = 6


def fill_and_generate(window, qtbot, caption="lofi piano, warm tape", takes=2, seeds="11, 12"):
    panel = window.create_panel
    panel.caption.setFocus()
    qtbot.keyClicks(panel.caption, caption)
    panel.duration.clear()
    qtbot.keyClicks(panel.duration, str(SECONDS))
    panel.advanced_section.toggle.click()  # open Advanced
    panel.advanced.batch.setValue(takes)
    panel.advanced.seeds.clear()
    qtbot.keyClicks(panel.advanced.seeds, seeds)
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)


def wait_for_clip(window, qtbot, takes: int):
    qtbot.waitUntil(lambda: bool(window.project.clips()) and len(window.project.clips()[0].takes) >= takes, timeout=WAIT_MS)
    return window.project.clips()[0]


def mix(window) -> np.ndarray:
    return render_range(build_render_plan(window.project), 0, SECONDS * 48_000)


def test_generate_shows_progress_and_lands_one_clip_with_n_takes(gen_window, qtbot):
    window = gen_window
    assert window.create_panel.model.currentText() == "acestep-v15-turbo"  # the everyday model first
    rows_seen = []
    window.bridge.job_event.connect(lambda e: rows_seen.append(
        (e.stage, window.job_strip.row(e.job_id).bar.value()) if isinstance(e, JobProgress)
        and window.job_strip.row(e.job_id) else None))
    fill_and_generate(window, qtbot, takes=3, seeds="11, 12, 13")
    clip = wait_for_clip(window, qtbot, 3)
    assert [t.meta["seed"] for t in clip.takes] == [11, 12, 13] and clip.active_take_id == clip.takes[0].id
    assert clip.takes[1].name == "lofi piano, warm tape · take 2 · seed 12"
    assert window.project.tracks[0].name == "lofi piano, warm tape"
    assert window.project.history.undo_text == "Generate 'lofi piano, warm tape' (3 takes)"
    stages = [r[0] for r in rows_seen if r]
    assert "diffusion" in stages and "vae decode" in stages  # the strip showed each stage
    qtbot.waitUntil(lambda: not window.job_strip.job_ids(), timeout=5000)  # and the row went away
    # The landed clip is selected and shown in the inspector.
    assert window.inspector.clip is not None and window.inspector.clip.id == clip.id
    assert window.inspector.takes.count() == 3 and window.inspector.seed.text().startswith("11")


def test_switching_takes_changes_the_mix_and_undoes(gen_window, qtbot):
    window = gen_window
    fill_and_generate(window, qtbot)
    clip = wait_for_clip(window, qtbot, 2)
    first = mix(window)
    window.timeline.view.setFocus()
    QTest.keyClick(window.timeline.view, Qt.Key.Key_BracketRight)  # "]": next take
    assert window.project.clip(clip.id).active_take_id == clip.takes[1].id
    second = mix(window)
    assert not np.array_equal(first, second)
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.project.clip(clip.id).active_take_id == clip.takes[0].id
    assert np.array_equal(mix(window), first)
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(mix(window), second)
    # The ◀ arrow of the clip's take switcher goes back.
    item = window.timeline.scene.items_by_clip[clip.id]
    switcher = item.switcher_rect()
    assert switcher is not None
    scene_point = item.mapToScene(switcher.topLeft() + type(switcher.topLeft())(4, 8))
    click(window.timeline.view.viewport(), window.timeline.view.mapFromScene(scene_point))
    assert window.project.clip(clip.id).active_take_id == clip.takes[0].id
    # Clicking a take in the inspector switches too.
    window.inspector.takes.setCurrentRow(1)
    window.inspector.takes.itemClicked.emit(window.inspector.takes.item(1))
    assert window.project.clip(clip.id).active_take_id == clip.takes[1].id


def test_save_and_reopen_keep_takes_and_provenance(gen_window, qtbot, tmp_path, monkeypatch):
    from engine.project.io import load_project

    window = gen_window
    fill_and_generate(window, qtbot)
    clip = wait_for_clip(window, qtbot, 2)
    target = tmp_path / "Song.legato"
    monkeypatch.setattr(dialogs, "ask_save_project", lambda *a: str(target))
    QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    reopened = load_project(target).clip(clip.id)
    assert [(t.id, t.name, t.asset_id, dict(t.meta)) for t in reopened.takes] == \
        [(t.id, t.name, t.asset_id, dict(t.meta)) for t in clip.takes]
    assert reopened.takes[0].meta["models"][0]["name"] == "acestep-v15-turbo"


def _block_first_call(monkeypatch, cls, name):
    """Make the first call of cls.name wait until released (the test cancels meanwhile)."""
    entered, release = threading.Event(), threading.Event()
    original = getattr(cls, name)

    def blocking(self, *args, **kwargs):
        if not entered.is_set():
            entered.set()
            release.wait(60)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, blocking)
    return entered, release


@pytest.mark.parametrize("stage", ["diffusion", "vae decode"])
def test_cancel_mid_stage_leaves_the_project_unchanged(gen_window, qtbot, monkeypatch, stage):
    from engine.models.dit import AceStepDiT
    from engine.models.vae import AudioVAE

    window = gen_window
    cls, name = (AceStepDiT, "denoise") if stage == "diffusion" else (AudioVAE, "_decode_window")
    entered, release = _block_first_call(monkeypatch, cls, name)
    fill_and_generate(window, qtbot)
    qtbot.waitUntil(entered.is_set, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bool(window.job_strip.job_ids()), timeout=5000)
    if stage == "diffusion":
        row = window.job_strip.row(window.job_strip.job_ids()[-1])
        qtbot.mouseClick(row.cancel, Qt.MouseButton.LeftButton)  # the strip's Cancel
    else:
        QTest.keyClick(window, Qt.Key.Key_Escape)  # Esc cancels the running job
    release.set()
    qtbot.waitUntil(lambda: any(isinstance(e, JobCancelled) for e in window.events), timeout=WAIT_MS)
    assert window.project.tracks == () and not window.project.history.can_undo
    assert "nothing was added" in window.statusBar().currentMessage()


def test_a_bad_field_shows_its_error_and_submits_nothing(gen_window, qtbot):
    window = gen_window
    panel = window.create_panel
    qtbot.keyClicks(panel.caption, "anything")
    qtbot.keyClicks(panel.bpm, "500")
    before = len(window.bridge.queue.jobs())
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert panel.error_text("bpm").startswith("bpm: must be between 30 and 300")
    panel.bpm.clear()
    panel.advanced.seeds.setText("1, two")
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert panel.error_text("seeds").startswith("seeds:") and panel.error_text("bpm") == ""
    assert len(window.bridge.queue.jobs()) == before  # nothing was submitted


def test_missing_models_give_a_clear_message(gen_window, qtbot, models_at, tiny_checkpoints, tmp_path):
    window = gen_window
    panel = window.create_panel
    empty = models_at(tmp_path / "empty")
    empty.mkdir()
    window.generation.refresh_models()
    qtbot.keyClicks(panel.caption, "anything")
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert "no DiT model is installed in" in panel.error_text("model") and str(empty) in panel.error_text("model")
    # A DiT without its VAE: the job fails and says what is missing and where it looked.
    partial = tmp_path / "partial"
    shutil.copytree(tiny_checkpoints, partial, ignore=lambda d, names: ["vae"] if d == str(tiny_checkpoints) else [])
    models_at(partial)
    window.generation.refresh_models()
    panel.duration.setText(str(SECONDS))
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.general_error.isVisible(), timeout=WAIT_MS)
    text = panel.general_error.text()
    assert "vae" in text and str(partial) in text
    assert window.project.tracks == ()


def test_simple_mode_fills_the_fields_from_the_planner(gen_window, qtbot):
    from engine.planner.assist import AssistOptions

    window = gen_window
    window.generation.assist_options = AssistOptions(max_caption_tokens=8, max_lyrics_tokens=8)
    panel = window.create_panel
    panel.mode.setCurrentIndex(0)
    qtbot.keyClicks(panel.description, "a rainy-day lofi beat")
    qtbot.mouseClick(panel.write_button, Qt.MouseButton.LeftButton)
    assert not panel.write_button.isEnabled()  # busy while the planner writes
    qtbot.waitUntil(lambda: panel.write_button.isEnabled(), timeout=WAIT_MS)
    assert panel.mode.currentIndex() == 1  # switched to Custom for review
    assert panel.caption.toPlainText()  # the planner's caption
    bpm = int(panel.bpm.text())  # constrained decoding: always a valid BPM
    assert 30 <= bpm <= 300 and panel.duration.text() and panel.keyscale.currentData()


def test_autogen_adds_a_second_batch_to_the_same_clip(gen_window, qtbot):
    window = gen_window
    window.create_panel.autogen.setChecked(True)
    assert window.generate_actions.autogen.isChecked()
    fill_and_generate(window, qtbot, seeds="")
    clip = wait_for_clip(window, qtbot, 4)
    window.create_panel.autogen.setChecked(False)
    assert window.bridge.queue.wait_until_idle(120)
    qtbot.wait(50)
    clip = window.project.clip(clip.id)
    assert len(window.project.clips()) == 1 and len(clip.takes) >= 4
    seeds = [t.meta["seed"] for t in clip.takes]
    assert len(set(seeds)) == len(seeds)  # fresh seeds for every batch


def test_inspector_apply_source_rerender_and_export(gen_window, qtbot, tmp_path, monkeypatch):
    window = gen_window
    fill_and_generate(window, qtbot)
    clip = wait_for_clip(window, qtbot, 2)
    panel, inspector = window.create_panel, window.inspector
    inspector.takes.setCurrentRow(1)
    # Apply settings: the take's own request, its own seed.
    panel.caption.setPlainText("something else")
    qtbot.mouseClick(inspector.apply_button, Qt.MouseButton.LeftButton)
    assert panel.caption.toPlainText() == "lofi piano, warm tape" and panel.advanced.seeds.text() == "12"
    # Use as source: Remix from that take.
    qtbot.mouseClick(inspector.source_button, Qt.MouseButton.LeftButton)
    assert panel.source_asset == clip.takes[1].asset_id and panel.task.currentData() == "cover"
    # Re-render: a new, bit-identical take.
    inspector.takes.setCurrentRow(1)
    qtbot.mouseClick(inspector.rerender_button, Qt.MouseButton.LeftButton)
    clip = wait_for_clip(window, qtbot, 3)
    assert clip.takes[2].asset_id == clip.takes[1].asset_id and clip.active_take_id == clip.takes[2].id
    # Export take: audio + sidecar.
    monkeypatch.setattr(dialogs, "ask_take_export_folder", lambda *a: str(tmp_path / "export"))
    inspector.takes.setCurrentRow(0)
    qtbot.mouseClick(inspector.export_button, Qt.MouseButton.LeftButton)
    assert len(list((tmp_path / "export").glob("*.flac"))) == 1 and len(list((tmp_path / "export").glob("*.json"))) == 1
