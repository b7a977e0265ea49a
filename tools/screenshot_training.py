"""Screenshot of the Training panel with its loss plot mid-training, on tiny checkpoints.

    xvfb-run -a -s "-screen 0 1600x1000x24" python tools/screenshot_training.py OUT_DIR [--steps 160]

Builds a three-song dataset (synthesised tones with captions), starts a real training run in
the app's own Training panel and saves training_loss.png once `--steps` steps are plotted,
then cancels. Uses a temporary settings folder, so the user's settings are untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _songs(folder: Path) -> None:
    import numpy as np

    from engine.audio.files import write_audio

    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(1.0 * 48000)) / 48000
    rows = ["file;caption;bpm;key"]
    for name, freq, caption, bpm, key in (("rainy-keys.wav", 220.0, "mellow lofi Rhodes, vinyl crackle", 84, "F minor"),
                                          ("night-bass.wav", 110.0, "deep warm bass groove, late night", 90, "A minor"),
                                          ("glass-bells.wav", 660.0, "glassy bells, slow ambient pad", 70, "C major")):
        mono = (0.3 * np.sin(2 * np.pi * freq * t) * np.exp(-t)).astype(np.float32)
        write_audio(folder / name, np.stack([mono, mono]), "wav24")
        rows.append(f"{name};{caption};{bpm};{key}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=160)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sandbox = Path(tempfile.mkdtemp(prefix="legato-train-shot-"))
    os.environ["LEGATO_CONFIG_DIR"] = str(sandbox / "config")
    os.environ["LEGATO_DATA_DIR"] = str(sandbox / "data")
    import torch

    torch.set_num_threads(1)
    from engine.models.tiny import write_tiny_checkpoints

    checkpoints = sandbox / "checkpoints"
    write_tiny_checkpoints(checkpoints, seed=0)
    songs = sandbox / "My Songs"
    _songs(songs)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMainWindow

    from desktop.app import create_application
    from desktop.bridge import EngineBridge
    from desktop.panels.training_panel import TrainingPanel

    app = create_application([])
    bridge = EngineBridge()
    window = QMainWindow()
    panel = TrainingPanel(bridge, checkpoints=checkpoints)
    window.setCentralWidget(panel)
    window.setWindowTitle("Legato - Training")
    window.resize(1000, 980)
    window.show()
    panel.load_folder(songs)
    panel.rank.setValue(8)
    panel.alpha.setValue(16)
    panel.learning_rate.setValue(0.002)
    panel.epochs.setValue(400)
    panel.save_every.setValue(50)
    panel.checkpointing.setChecked(False)
    state = {"shot": False}

    def poll() -> None:
        if not state["shot"] and len(panel.losses) >= args.steps:
            state["shot"] = True
            app.processEvents()
            path = args.out / "training_loss.png"
            window.grab().save(str(path))
            print(path)
            panel.cancel()
        if panel.job_id is None and not state["shot"] and state.get("started"):
            print(panel.status.text(), file=sys.stderr)  # it ended before the shot: say why
            state["shot"] = True
        if state["shot"] and panel.job_id is None:
            bridge.shutdown(timeout_s=30)
            app.quit()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(100)
    def start() -> None:
        panel.start(resume=False)
        state["started"] = True

    QTimer.singleShot(200, start)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
