"""Screenshots of the generation flow on tiny checkpoints (for looking at what we built).

    python tools/screenshot_generation.py OUT_DIR [--checkpoints DIR]

Writes create_panel.png (the filled Create panel), running_job.png (a job mid-diffusion in the
job strip) and takes.png (a clip with 4 takes and the take inspector). Uses a temporary
settings folder, so the user's settings are untouched. Run under Xvfb for a real window.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


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

    save_settings(Settings(checkpoints=str(checkpoints), device="cpu"))

    from PySide6.QtCore import QTimer

    from desktop.app import create_application
    from desktop.main_window import MainWindow
    from engine.jobs import JobFinished, JobProgress

    app = create_application([])
    window = MainWindow(offer_recovery=False)
    window.resize(1500, 900)
    window.show()
    panel = window.create_panel
    panel.caption.setPlainText("lofi hip hop, warm Rhodes piano, vinyl crackle, soft rain, mellow")
    panel.lyrics.set_lyrics("[Verse]\nStreetlights hum beneath the rain\nCoffee cold, I write your name\n\n[Chorus]\n"
                            "Slow down, slow down\nLet the city drown")
    panel.bpm.setText("84")
    panel.keyscale.setCurrentIndex(panel.keyscale.findData("F minor"))
    panel.timesignature.setCurrentIndex(panel.timesignature.findData("4"))
    panel.language.setCurrentIndex(panel.language.findData("en"))
    panel.duration.setText("12")
    panel.advanced.batch.setValue(4)
    panel.advanced.seeds.setText("11, 12, 13, 14")
    panel.advanced_section.set_expanded(True)
    state = {"shot_running": False}

    def on_event(event) -> None:
        if isinstance(event, JobProgress) and event.stage == "diffusion" and event.step >= 2 and not state["shot_running"]:
            state["shot_running"] = True
            window.grab().save(str(args.out / "running_job.png"))
        if isinstance(event, JobFinished) and event.job_id == state.get("job"):
            QTimer.singleShot(800, finish)

    def finish() -> None:
        window.peaks.wait_idle()
        window.timeline.zoom_to_fit()
        window.generate_actions.next_take.trigger()
        app.processEvents()
        window.inspector_dock.raise_()
        app.processEvents()
        window.grab().save(str(args.out / "takes.png"))
        window.project.history.mark_clean()
        window.close()

    def start() -> None:
        window.grab().save(str(args.out / "create_panel.png"))
        panel.advanced_section.set_expanded(False)
        window.bridge.job_event.connect(on_event)
        state["job"] = window.generation.generate()

    QTimer.singleShot(1500, start)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
