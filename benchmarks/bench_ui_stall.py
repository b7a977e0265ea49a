"""Benchmark: the worst main-thread stall while the app generates (target <= 50 ms).

A 2 ms QTimer on the UI thread records the gap between its ticks from the click on Generate until
the takes have landed on the timeline (and their waveforms are drawn). A stall is a gap minus the
timer period: time the UI could not respond. Everything the app does runs: the Create panel's
request, the bridge and job worker, the job strip's progress, landing the takes (hashing the
audio, one undo group), the peak pyramids, the timeline redraw.

    .venv/bin/python benchmarks/bench_ui_stall.py --size tiny           # tiny checkpoints, 30 s song
    .venv/bin/python benchmarks/bench_ui_stall.py --size real --seconds 10   # real-size random weights

`--size real` builds the real-size DiT/text encoder/VAE with random weights in memory (about
13 GB RAM in float32, see bench_generate.py) and runs it in a job; the result lands through the
same controller path as a normal generation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PERIOD_MS = 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--seconds", type=float, default=None, help="song length (default 30 tiny, 10 real)")
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()
    seconds = args.seconds or (30.0 if args.size == "tiny" else 10.0)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sandbox = Path(tempfile.mkdtemp(prefix="legato-stall-"))
    os.environ["LEGATO_CONFIG_DIR"] = str(sandbox / "config")
    os.environ["LEGATO_DATA_DIR"] = str(sandbox / "data")

    from engine.models.tiny import write_tiny_checkpoints
    from engine.settings import Settings, save_settings

    tiny = sandbox / "checkpoints"
    write_tiny_checkpoints(tiny, seed=0)
    save_settings(Settings(checkpoints=str(tiny), device="cpu"))

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.main_window import MainWindow
    from engine.jobs import FINAL_EVENTS

    app = QApplication.instance() or QApplication([])
    window = MainWindow(offer_recovery=False)
    window.resize(1400, 900)
    window.show()
    gaps: list[float] = []
    worst: list[tuple[float, str]] = []  # (stall ms, what was going on)
    stage = ["submit"]
    last = [time.perf_counter()]
    recording = [False]

    def tick() -> None:
        now = time.perf_counter()
        if recording[0]:
            gap = (now - last[0]) * 1000 - PERIOD_MS
            gaps.append(gap)
            if gap > 20:
                worst.append((round(gap, 1), stage[0]))
        last[0] = now

    timer = QTimer()
    timer.setInterval(PERIOD_MS)
    timer.timeout.connect(tick)
    timer.start()
    finished = []
    window.bridge.job_event.connect(lambda e: finished.append(e) if isinstance(e, FINAL_EVENTS) else None)
    window.bridge.job_event.connect(lambda e: stage.__setitem__(0, getattr(e, "stage", type(e).__name__)))
    window.generation.landed.connect(lambda _clip: stage.__setitem__(0, "landed"))

    def spin(until, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while not until() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.0005)

    spin(lambda: window.device_label.text() != "", 60)  # let start-up work (device check) finish
    panel = window.create_panel
    panel.caption.setPlainText("lofi hip hop, warm Rhodes piano, vinyl crackle")
    panel.duration.setText(f"{seconds:g}")
    panel.advanced.batch.setValue(args.batch)
    t0 = time.perf_counter()
    recording[0] = True
    last[0] = time.perf_counter()
    if args.size == "tiny":
        job_id = window.generation.generate()
    else:
        job_id = submit_real_size(window, seconds, args.batch, tiny)
    spin(lambda: any(e.job_id == job_id for e in finished), 3600)
    spin(lambda: bool(window.project.clips()), 60)
    window.peaks.wait_idle()
    spin(lambda: False, 0.5)  # redraws after landing
    recording[0] = False
    total_s = time.perf_counter() - t0
    gaps.sort()
    report = {
        "size": args.size, "seconds_of_audio": seconds, "batch": args.batch, "job_s": round(total_s, 1),
        "ticks": len(gaps), "worst_stall_ms": round(gaps[-1], 1) if gaps else None,
        "p99_stall_ms": round(gaps[int(0.99 * (len(gaps) - 1))], 1) if gaps else None,
        "stalls_over_50ms": sum(g > 50 for g in gaps),
        "stalls_over_20ms_during": sorted(worst, reverse=True)[:8], "landed_takes": len(window.project.clips()[0].takes)
        if window.project.clips() else 0,
        "target_ms": 50,
    }
    print(json.dumps(report, indent=2))
    window.project.history.mark_clean()
    window.close()
    return 0


def submit_real_size(window, seconds: float, batch: int, tiny: Path) -> str:
    """A job running the real-size random-weight pipeline; lands through the controller."""
    import torch

    from benchmarks.bench_generate import build_models
    from desktop.controllers.generation_controller import KIND_BATCH, PendingJob
    from engine.jobs.spec import FunctionJob
    from engine.studio.placement import Placement
    from engine.tasks.pipeline import GenerationPipeline
    from engine.tasks.request import GenerationRequest

    request = GenerationRequest(caption="lofi hip hop, warm Rhodes piano", duration=seconds, batch_size=batch)

    def run(models, ctx):
        ctx.progress("load models", 0, 1)
        pipe = GenerationPipeline(build_models("cpu", torch.float32, tiny / "Qwen3-Embedding-0.6B"), "turbo")
        ctx.progress("load models", 1, 1)
        return pipe(request, ctx)

    job_id = window.bridge.submit(FunctionJob(fn=run, label="real-size generation"))
    window.generation.pending[job_id] = PendingJob(KIND_BATCH, window.project, request, Placement.new_track())
    return job_id


if __name__ == "__main__":
    sys.exit(main())
