"""Screenshots of the Create panel's preflight line (for looking at what we built).

    python tools/screenshot_preflight.py OUT_DIR

preflight_fits.png: the tiny turbo model with a REAL calibration measured now on this machine
(short lengths, one repeat), 30 s x 2 takes. preflight_no_fit.png: the same form with a
hand-made calibration that stands in for a model larger than the free memory, so the
"needs …, you have …: try …" form of the line shows. Temporary settings and data folders.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sandbox = Path(tempfile.mkdtemp(prefix="legato-shots-"))
    os.environ["LEGATO_CONFIG_DIR"] = str(sandbox / "config")
    os.environ["LEGATO_DATA_DIR"] = str(sandbox / "data")
    from engine.models.tiny import write_tiny_checkpoints
    from engine.runtime import preflight as pf
    from engine.settings import Settings, save_settings
    from engine.tasks.pipeline import GenerationPipeline

    checkpoints = sandbox / "checkpoints"
    write_tiny_checkpoints(checkpoints, seed=0)
    save_settings(Settings(checkpoints=str(checkpoints), device="cpu"))
    pf.CALIBRATION_SECONDS, pf.CALIBRATION_REPEATS, pf.CALIBRATION_BUDGET_S = (2.0, 8.0), 1, 0.0
    real = pf.load_or_calibrate(GenerationPipeline.from_checkpoints(checkpoints))

    from PySide6.QtCore import QTimer

    from desktop.app import create_application
    from desktop.main_window import MainWindow

    app = create_application([])
    window = MainWindow(offer_recovery=False)
    window.resize(1500, 900)
    window.show()
    panel = window.create_panel
    panel.caption.setPlainText("lofi hip hop, warm Rhodes piano, vinyl crackle, soft rain")
    panel.duration.setText("30")
    panel.advanced.batch.setValue(2)

    def shoot_fits() -> None:
        panel.preflight.refresh()
        print("fits line:", panel.preflight.text())
        window.grab().save(str(args.out / "preflight_fits.png"))
        folder = checkpoints / panel.model_name()
        # Weights a little over what this machine has free, so the "needs ..." form shows
        # whatever the machine (a fixed 6 GB fitted once the memory model stopped over-predicting).
        over = pf.available_bytes(real.device) + 2 * pf.GB
        big = pf.Calibration(**{**real.__dict__, "key": "stand-in", "weights_bytes": over})
        pf.save_calibration(big, alias=(pf.model_alias(folder, "cpu"), "turbo"))
        panel.advanced.batch.setValue(4)
        panel.duration.setText("240")
        QTimer.singleShot(900, shoot_no_fit)  # after the debounce

    def shoot_no_fit() -> None:
        print("no-fit line:", panel.preflight.text())
        window.grab().save(str(args.out / "preflight_no_fit.png"))
        app.quit()

    QTimer.singleShot(1500, shoot_fits)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
