"""Screenshots of judging takes on tiny checkpoints (for looking at what we built).

    python tools/screenshot_scoring.py OUT_DIR [--checkpoints DIR]

Generates a batch of 4 takes with lyrics and "score after generation" on, then writes
sorted_by_score.png (the Takes panel listing the batch best first, scores on the rows and the
clip), lyrics_view.png (the lyrics dock following the playhead, from the tiny model's own LRC)
and lyrics_view_demo.png (the same dock over a hand-written LRC on a second clip, to show what
real timings look like; random tiny weights cannot place words). Temporary settings folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

DEMO_LRC = ("[00:00.00][Verse]\n[00:00.40]Streetlights hum beneath the rain\n[00:03.10]Coffee cold, I write your name\n"
            "[00:06.00][Chorus]\n[00:06.20]Slow down, slow down\n[00:08.60]Let the city drown\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--checkpoints", type=Path, default=None, help="default: fresh tiny checkpoints")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sandbox = Path(tempfile.mkdtemp(prefix="legato-shots-"))
    os.environ["LEGATO_CONFIG_DIR"] = str(sandbox / "config")
    os.environ["LEGATO_DATA_DIR"] = str(sandbox / "data")
    checkpoints = args.checkpoints
    if checkpoints is None:
        from engine.models.tiny import write_tiny_checkpoints

        checkpoints = sandbox / "checkpoints"
        write_tiny_checkpoints(checkpoints, seed=0)
    from engine.settings import Settings, save_settings

    save_settings(Settings(checkpoints=str(checkpoints), device="cpu", score_after_generation="on"))

    from PySide6.QtCore import QTimer

    from desktop.app import create_application
    from desktop.main_window import MainWindow

    app = create_application([])
    window = MainWindow(offer_recovery=False)
    window.resize(1500, 900)
    window.show()
    panel = window.create_panel
    panel.caption.setPlainText("lofi hip hop, warm Rhodes piano, vinyl crackle, soft rain, mellow")
    panel.lyrics.set_lyrics("[Verse]\nStreetlights hum beneath the rain\nCoffee cold, I write your name\n\n[Chorus]\n"
                            "Slow down, slow down\nLet the city drown")
    panel.duration.setText("10")
    panel.advanced.batch.setValue(4)
    panel.advanced.seeds.setText("11, 12, 13, 14")

    def scored() -> bool:
        clips = window.project.clips()
        return bool(clips) and all("scores" in t.meta for t in clips[0].takes)

    def wait_scores() -> None:
        if not scored():
            QTimer.singleShot(500, wait_scores)
            return
        window.peaks.wait_idle()
        window.timeline.zoom_to_fit()
        clip = window.project.clips()[0]
        window.timeline.scene.select_clips([clip.id])
        app.processEvents()
        window.inspector_dock.raise_()
        window.inspector.sort_by_score.setChecked(True)
        best = window.inspector.row_take_ids()[0]
        window.inspector.takes.itemClicked.emit(window.inspector.takes.item(0))
        app.processEvents()
        assert window.project.clip(clip.id).active_take_id == best
        window.transport.seek(4.0)
        QTimer.singleShot(400, lambda: shoot("sorted_by_score.png", then=demo))

    def shoot(name: str, then=None) -> None:
        app.processEvents()
        window.grab().save(str(args.out / name))
        if name == "sorted_by_score.png":
            window.lyrics_dock.grab().save(str(args.out / "lyrics_view.png"))
        if then:
            then()

    def demo() -> None:
        from engine.project.commands import AddClip, AddTrack, SetTakeMeta

        clip = window.project.clips()[0]
        take = clip.active_take
        h = window.project.history
        track = h.push(AddTrack("Demo vocals")).track_id
        new = h.push(AddClip(track, take.asset_id, 0, name="demo (hand-written LRC)",
                             take_meta=dict(take.meta))).clip_id
        demo_take = window.project.clip(new).active_take.id
        h.push(SetTakeMeta(new, demo_take, {"lrc": DEMO_LRC}))
        window.timeline.scene.select_clips([new])
        window.transport.seek(7.0)
        QTimer.singleShot(400, lambda: (window.lyrics_dock.grab().save(str(args.out / "lyrics_view_demo.png")),
                                        window.grab().save(str(args.out / "window_demo.png")), finish()))

    def finish() -> None:
        window.project.history.mark_clean()
        window.close()

    def start() -> None:
        window.generation.generate()
        QTimer.singleShot(1000, wait_scores)

    QTimer.singleShot(1500, start)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
