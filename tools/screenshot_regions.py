"""Screenshots of generative editing on tiny checkpoints (for looking at what we built).

    xvfb-run -a -s "-screen 0 1600x1000x24" python tools/screenshot_regions.py OUT_DIR

Writes region_menu.png (a selected range with its action menu), repaint_dialog.png (the repaint
dialog over the tiny model's own, bunched LRC: the whole lyrics, with the reason),
repaint_dialog_lrc_demo.png (the same dialog over a hand-written LRC: only the lines the window
covers are editable), take_lanes.png (a clip expanded into take lanes with
a comp) and lego_stack.png (a stack of lego layers). The edits run inline through the same
engine functions the app's jobs run. Uses a temporary settings folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

LYRICS = ("[Verse]\nStreetlights hum beneath the rain\nCoffee cold, I write your name\n"
          "Every window holds a light\n[Chorus]\nSlow down, slow down\nLet the city drown")


DEMO_LRC = ("[00:00.00][Verse]\n[00:00.50]Streetlights hum beneath the rain\n[00:03.20]Coffee cold, I write your name\n"
            "[00:06.10]Every window holds a light\n[00:09.00][Chorus]\n[00:09.40]Slow down, slow down\n"
            "[00:12.30]Let the city drown\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sandbox = Path(tempfile.mkdtemp(prefix="legato-shots-"))
    os.environ["LEGATO_CONFIG_DIR"] = str(sandbox / "config")
    os.environ["LEGATO_DATA_DIR"] = str(sandbox / "data")
    from engine.models.tiny import write_tiny_checkpoints
    from engine.settings import Settings, save_settings

    checkpoints = sandbox / "checkpoints"
    write_tiny_checkpoints(checkpoints, seed=0)
    save_settings(Settings(checkpoints=str(checkpoints), device="cpu"))

    from engine.jobs import ModelCache
    from engine.project import Project
    from engine.studio import generate_into
    from engine.studio import regions as R
    from engine.tasks.request import GenerationRequest

    models = ModelCache()
    project = Project("Rain Song", tempo_bpm=84)
    generate_into(project, GenerationRequest(caption="lofi hip hop, warm Rhodes piano, vinyl crackle", lyrics=LYRICS,
                                             duration=16, seeds=(7,)), checkpoints=checkpoints, device="cpu",
                  models=models)
    clip = project.clips()[0]
    lrc = _synced_lyrics(project, clip, checkpoints, models)

    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QGuiApplication

    from desktop.app import create_application
    from desktop.main_window import MainWindow
    from desktop.timeline.range_selection import TimeSelection

    app = create_application([])
    window = MainWindow(project, offer_recovery=False)
    window.resize(1500, 900)
    window.show()
    window.project.history.mark_clean()

    def screen(name: str) -> None:
        app.processEvents()
        QGuiApplication.primaryScreen().grabWindow(0).save(str(args.out / name))

    def step1() -> None:
        window.peaks.wait_idle()
        window.timeline.geometry_.set_pixels_per_second(60.0)
        window.timeline.scene.select_clips([clip.id])
        window.timeline.view.set_selection(TimeSelection(4.0, 9.0, 0, 0))
        g = window.timeline.geometry_
        view = window.timeline.view
        at = view.viewport().mapToGlobal(view.mapFromScene(g.x_of(6.0), g.lane_top(0) + 50))
        window.show_region_menu(at)
        QTimer.singleShot(400, step2)

    def step2() -> None:
        screen("region_menu.png")
        window.context_menu.close()
        window.regions.open_dialog("repaint")
        QTimer.singleShot(400, step2b)

    def step2b() -> None:
        screen("repaint_dialog.png")  # with the tiny model's own (bunched) LRC: the whole lyrics
        window.regions.dialog.reject()
        # The random-weight tiny model cannot time lyrics (every line lands at 0:00), so to show
        # the region-lines editor this shot gives the take a hand-written LRC, labelled as a demo.
        from engine.project.commands import SetTakeMeta

        window.project.history.push(SetTakeMeta(clip.id, clip.active_take_id, {"lrc": DEMO_LRC},
                                                text="Demo LRC"))
        window.regions.open_dialog("repaint")
        QTimer.singleShot(400, step3)

    def step3() -> None:
        screen("repaint_dialog_lrc_demo.png")
        dialog = window.regions.dialog
        dialog.caption.setText("dreamy, reverb-soaked Rhodes")
        values = dialog.values()
        target = window.regions.target()
        dialog.reject()
        edit = window.regions.build_edit("repaint", target, values, dialog.setup)
        R.run_edit(window.project, edit, models=models)
        second = R.repaint_region(window.project, clip.id, 10 * 48_000, 14 * 48_000, caption="brighter piano",
                                  lyrics=LYRICS, seed=3, checkpoints=checkpoints, device="cpu")
        R.run_edit(window.project, second, models=models)
        window.timeline.scene.select_clips([clip.id])
        window.region_actions.lanes.setChecked(True)
        QTimer.singleShot(600, step4)

    def step4() -> None:
        window.peaks.wait_idle()
        app.processEvents()
        window.grab().save(str(args.out / "take_lanes.png"))
        window.region_actions.lanes.setChecked(False)
        for instrument, seed in (("guitar", 1), ("drums", 2)):
            edit = R.add_layer(window.project, 0, 8 * 48_000, instrument, caption="lofi hip hop", seed=seed,
                               steps=8, checkpoints=checkpoints, device="cpu")
            R.run_edit(window.project, edit, models=models)
        window.timeline.view.set_selection(None)
        QTimer.singleShot(600, step5)

    def step5() -> None:
        window.peaks.wait_idle()
        app.processEvents()
        window.grab().save(str(args.out / "lego_stack.png"))
        window.project.history.mark_clean()
        window.close()

    print("synced lyrics:", "yes" if lrc else "no (the take has no LRC: the dialog shows all lyrics)")
    QTimer.singleShot(1200, step1)
    return app.exec()


def _synced_lyrics(project, clip, checkpoints, models) -> bool:
    """Give the take its LRC through the scoring job when that exists (issue 14)."""
    try:
        from engine.studio.scoring import score_takes_into
    except ImportError:
        return False
    score_takes_into(project, [(clip.id, clip.active_take_id)], checkpoints=checkpoints, device="cpu", models=models)
    return "lrc" in project.clip(clip.id).active_take.meta


if __name__ == "__main__":
    sys.exit(main())
