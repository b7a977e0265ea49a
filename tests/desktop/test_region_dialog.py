"""The region dialog on its own: rows per action, only the covered lyric lines editable, values."""

from PySide6.QtCore import Qt

from desktop.region.edit_dialog import DialogSetup, RegionEditDialog
from engine.studio.region_lyrics import split_lyrics_by_window
from engine.studio.region_target import EXTEND, EXTRACT, LAYER, REPAINT

LRC = "[00:00.00][Verse]\n[00:01.00]one\n[00:05.00]two\n[00:09.00]three\n[00:12.00][Chorus]\n[00:12.50]four\n"


def test_repaint_dialog_edits_only_the_lines_the_window_covers(qtbot):
    parts = split_lyrics_by_window(LRC, 6.0, 10.0)
    dialog = RegionEditDialog(DialogSetup(REPAINT, "0:06 – 0:10", caption="dream pop", region_lyrics=parts, bpm=90))
    qtbot.addWidget(dialog)
    assert dialog.lyrics.toPlainText() == "two\nthree"
    assert "one" in dialog.before_lines.text() and "four" not in dialog.before_lines.text()
    assert "[Chorus]" in dialog.after_lines.text()
    dialog.lyrics.selectAll()
    qtbot.keyClicks(dialog.lyrics, "new two")
    values = dialog.values()
    assert values["lyrics"].splitlines() == ["[Verse]", "one", "new two", "[Chorus]", "four"]
    assert values["caption"] == "dream pop" and values["bpm"] == 90 and values["mode"] == "balanced"
    assert values["strength"] == 0.5


def test_rows_follow_the_action(qtbot):
    extend = RegionEditDialog(DialogSetup(EXTEND, "x", context_max_s=40, context_default_s=30))
    layer = RegionEditDialog(DialogSetup(LAYER, "x"))
    extract = RegionEditDialog(DialogSetup(EXTRACT, "x"))
    for d in (extend, layer, extract):
        qtbot.addWidget(d)
    assert extend.context.maximum() == 40 and extend.values()["context_s"] == 30.0
    extend.context.setValue(5)
    assert extend.values()["context_s"] == 5.0 and "mode" not in extend.values()
    layer.instrument.setCurrentIndex(layer.instrument.findData("bass"))
    assert layer.values()["instrument"] == "bass"
    assert sorted(extract.values()["stems"]) == ["bass", "drums", "vocals"]
    extract.stem_boxes["guitar"].setChecked(True)
    assert "guitar" in extract.values()["stems"]


def test_blocked_action_cannot_run_and_errors_keep_the_dialog_open(qtbot):
    blocked = RegionEditDialog(DialogSetup(LAYER, "x", blocked="Add layer needs a base model"))
    qtbot.addWidget(blocked)
    assert not blocked.run_button.isEnabled() and blocked.blocked.isVisibleTo(blocked)
    dialog = RegionEditDialog(DialogSetup(REPAINT, "x"))
    qtbot.addWidget(dialog)
    dialog.show()
    runs = []
    dialog.run_requested.connect(lambda: (runs.append(1), dialog.show_error("repaint window: at least 3 s")))
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert runs == [1] and dialog.isVisible() and "3 s" in dialog.error.text()
