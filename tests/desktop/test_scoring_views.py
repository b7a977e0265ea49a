"""Scores and synced lyrics in the app, driven through the real widgets: the lyrics view follows
the playhead and seeks on a click, takes sort by score in the Takes panel and show their score
on the clip, Export writes the .lrc beside the mix, and (tiny models) score-after-generation."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from engine.settings import Settings, save_settings, settings_path
from tests.desktop.conftest import tone

LRC = "[00:00.00][Verse]\n[00:00.50]first line\n[00:02.00]second line\n[00:03.00][Chorus]\n[00:03.20]la la la\n"
CLIP_AT_S = 2.0


def _scored_meta(alignment: float, lrc: str = LRC) -> dict:
    return {"request": {"caption": "lofi"}, "seed": 1, "item_index": 0,
            "scores": {"quality": 0.5, "alignment": alignment, "fields": {"caption": 0.6},
                       "alignment_parts": {"coverage": 1.0, "monotonicity": 0.9, "confidence": 0.4}},
            "lrc": lrc}


@pytest.fixture
def lyric_window(window, qtbot):
    """One clip at 2 s with three takes whose lyric-fit scores are 0.2, 0.9, 0.5 (take 1 active)."""
    from engine.project.commands import AddClip, AddTake, AddTrack

    project, h = window.project, window.project.history
    track = h.push(AddTrack("Vocals")).track_id
    assets = [project.assets.add(tone(5.0, 220.0 + 40 * i), f"t{i}") for i in range(3)]
    clip = h.push(AddClip(track, assets[0].id, int(CLIP_AT_S * 48_000), name="Song",
                          take_meta=_scored_meta(0.2), take_name="take A")).clip_id
    for i, score in ((1, 0.9), (2, 0.5)):
        h.push(AddTake(clip, assets[i].id, name=f"take {'ABC'[i]}", meta=_scored_meta(score), make_active=False))
    h.clear()
    window.timeline.scene.select_clips([clip])
    qtbot.waitUntil(lambda: window.inspector.clip is not None)
    return window, clip


def test_lyric_line_highlights_while_the_playhead_moves(lyric_window, qtbot):
    window, _clip = lyric_window
    view = window.lyrics_view
    qtbot.waitUntil(lambda: view.lines.count() == 5)
    assert view.line_times() == pytest.approx([2.0, 2.5, 4.0, 5.0, 5.2])  # on the timeline
    assert view.current_line() is None
    for position, expected in ((1.0, None), (2.6, 1), (4.1, 2), (5.3, 4)):
        window.transport.seek(position)
        qtbot.waitUntil(lambda e=expected: view.current_line() == e, timeout=2000)
        if expected is not None:
            item = view.lines.item(expected)
            assert item.background().color().name() == "#3d6fb5"
            assert item.font().bold()
            others = [view.lines.item(i).background().style() for i in range(5) if i != expected]
            assert all(style == Qt.BrushStyle.NoBrush for style in others)


def test_clicking_a_line_seeks_there(lyric_window, qtbot):
    window, _clip = lyric_window
    view = window.lyrics_view
    qtbot.waitUntil(lambda: view.lines.count() == 5)
    rect = view.lines.visualItemRect(view.lines.item(2))
    qtbot.mouseClick(view.lines.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.transport.position_s() == pytest.approx(4.0, abs=1e-3)
    qtbot.waitUntil(lambda: view.current_line() == 2, timeout=2000)


def test_takes_sort_by_score_and_the_clip_shows_the_active_score(lyric_window, qtbot):
    window, clip_id = lyric_window
    inspector = window.inspector
    names = lambda: [window.project.clip(clip_id).take(t).name for t in inspector.row_take_ids()]  # noqa: E731
    assert names() == ["take A", "take B", "take C"]
    assert "★ 20" in inspector.takes.item(0).text()
    qtbot.mouseClick(inspector.sort_by_score, Qt.MouseButton.LeftButton)
    assert names() == ["take B", "take C", "take A"]
    assert "★ 90" in inspector.takes.item(0).text()
    assert inspector.scores.text() == "Lyrics fit 20 · Quality 50"
    item = window.timeline.scene.items_by_clip[clip_id]
    assert item.view.take_score == pytest.approx(0.2)
    # Choosing the best take (first row now) makes it sound; the clip's badge follows.
    inspector.takes.itemClicked.emit(inspector.takes.item(0))
    qtbot.waitUntil(lambda: window.project.clip(clip_id).active_take.name == "take B")
    qtbot.waitUntil(lambda: item.view.take_score == pytest.approx(0.9))


def test_export_writes_the_lrc_beside_the_mix(lyric_window, tmp_path):
    from desktop.export_dialog import ExportChoice

    window, _clip = lyric_window
    dest = tmp_path / "mix.wav"
    assert window.documents._export(ExportChoice("mix", "wav16", dest, False, with_lrc=True))
    lrc = (tmp_path / "mix.lrc").read_text()
    assert lrc.splitlines()[:3] == ["[00:02.00][Verse]", "[00:02.50]first line", "[00:04.00]second line"]
    dialog = window.documents.open_export_dialog("mix")
    assert dialog.lrc_check.isEnabled() and dialog.lrc_check.isChecked() and dialog.choice().with_lrc
    dialog.reject()


@pytest.fixture
def scoring_models(tiny_checkpoints):
    save_settings(Settings(checkpoints=str(tiny_checkpoints), device="cpu", score_after_generation="on"))
    yield
    settings_path().unlink(missing_ok=True)


@pytest.mark.slow
def test_generate_then_scores_and_lrc_land_in_one_undo_step(scoring_models, window, qtbot):
    """Tiny models: Generate with score-after-generation on -> the takes get scores and an LRC
    (one "Score 2 takes" undo step) and the lyrics view shows the selected take's lines."""
    panel = window.create_panel
    window.generation.refresh_models()
    qtbot.keyClicks(panel.caption, "lofi piano")
    panel.lyrics.set_lyrics("[Verse]\nhello world\nsecond line\n[Chorus]\nla la la")
    panel.duration.clear()
    qtbot.keyClicks(panel.duration, "6")
    panel.advanced_section.toggle.click()
    panel.advanced.batch.setValue(2)
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(window.project.clips())
                    and all("scores" in t.meta for t in window.project.clips()[0].takes), timeout=300_000)
    clip = window.project.clips()[0]
    assert window.project.history.undo_text == "Score 2 takes"
    assert all(t.meta["lrc"].startswith("[00:") for t in clip.takes)
    qtbot.waitUntil(lambda: window.lyrics_view.lines.count() > 0, timeout=5000)
    window.project.history.undo()
    assert all("scores" not in t.meta for t in window.project.clips()[0].takes)
    window.bridge.cancel_all()
    assert window.bridge.queue.wait_until_idle(60)
