"""Timeline redraw time: 32 tracks x 5 minutes, rendered offscreen to a QImage at several zooms.

    OMP_NUM_THREADS=1 QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_timeline.py

Builds a Project through engine commands: 32 tracks, each with five 1-minute clips covering
5 minutes, drawn from 8 distinct 5-minute synthesized stereo assets (8 x 115 MB; 32 distinct
ones would need 3.7 GB for no difference in drawing cost — drawing reads each clip's pyramid,
whatever asset it belongs to). Peaks are computed up front (timed: the engine's compute_peaks
per 5-minute asset), then the arrangement view — lanes, grid, 160 clips with waveforms,
playhead, a range selection — is rendered into a 1600 x (32 lanes) QImage, a full redraw of
every visible pixel, at four zoom levels. Prints, per zoom, the cold frame (first after a
zoom/scroll: every waveform envelope recomputed from the pyramid) and the repaint median
(same zoom: playhead/selection moves; cached envelope paths).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

SR = 48_000
TRACKS = 32
MINUTES = 5
DISTINCT_ASSETS = 8
FRAMES = 12


def synth_asset(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = MINUTES * 60 * SR
    t = np.arange(n, dtype=np.float32) / SR
    env = (0.5 + 0.5 * np.sin(2 * np.pi * (0.25 + seed * 0.1) * t)).astype(np.float32)
    mono = (np.sin(2 * np.pi * (110 * (seed + 1)) * t) * env * 0.5).astype(np.float32)
    mono += rng.standard_normal(n).astype(np.float32) * 0.02
    return np.stack([mono, mono * 0.9])


def build_project():
    from engine.project import Project
    from engine.project.commands import AddClip, AddTrack

    project = Project("Bench")
    assets = [project.assets.add(synth_asset(i), f"asset{i}") for i in range(DISTINCT_ASSETS)]
    minute = 60 * SR
    h = project.history
    for k in range(TRACKS):
        tid = h.push(AddTrack(f"Track {k + 1}")).track_id
        asset = assets[k % DISTINCT_ASSETS]
        for m in range(MINUTES):
            h.push(AddClip(tid, asset.id, m * minute, length=minute, source_offset=m * minute, name=f"{k}.{m}"))
    h.clear()
    return project, assets


def main() -> int:
    from PySide6.QtGui import QImage, QPainter

    from desktop.app import create_application
    from desktop.timeline.peaks_adapter import make_peak_service
    from desktop.timeline.range_selection import TimeSelection
    from desktop.timeline.ruler import RULER_HEIGHT
    from desktop.timeline.timeline_widget import TimelineWidget

    app = create_application([])
    t0 = time.perf_counter()
    project, assets = build_project()
    print(f"build project: {time.perf_counter() - t0:.1f} s ({TRACKS} tracks, {TRACKS * MINUTES} clips)")

    peaks = make_peak_service()
    times = []
    for asset in assets:
        t0 = time.perf_counter()
        peaks.compute_now(asset)
        times.append(time.perf_counter() - t0)
    print(f"peaks (engine compute_peaks): {statistics.median(times) * 1000:.0f} ms per {MINUTES}-min stereo asset")

    widget = TimelineWidget(peaks=peaks)
    lane_h = widget.geometry_.lane_height
    widget.resize(1600, RULER_HEIGHT + TRACKS * lane_h + 40)
    widget.show()
    widget.set_project(project)
    widget.set_playhead(75.0)
    widget.view.set_selection(TimeSelection(60.0, 90.0, 2, 6))
    app.processEvents()
    view = widget.view
    vp = view.viewport()
    image = QImage(vp.width(), vp.height(), QImage.Format.Format_ARGB32_Premultiplied)
    print(f"frame: {vp.width()} x {vp.height()} px, {TRACKS} lanes visible")

    zooms = [("whole song", vp.width() / (MINUTES * 60)), ("20 px/s", 20.0), ("100 px/s", 100.0),
             ("1000 px/s", 1000.0)]
    for label, pps in zooms:
        widget.geometry_.set_pixels_per_second(pps)
        view.horizontalScrollBar().setValue(int(widget.geometry_.x_of(30.0)) if pps > 10 else 0)
        app.processEvents()
        for item in widget.scene.items_by_clip.values():
            item._path_cache = None  # cold: first frame after a zoom/scroll change
        painter = QPainter(image)
        t0 = time.perf_counter()
        view.render(painter)
        cold = time.perf_counter() - t0
        painter.end()
        samples = []
        for _ in range(FRAMES):
            painter = QPainter(image)
            t0 = time.perf_counter()
            view.render(painter)
            samples.append(time.perf_counter() - t0)
            painter.end()
        visible = sum(1 for item in widget.scene.items(view.mapToScene(vp.rect()).boundingRect())
                      if hasattr(item, "view"))
        print(f"redraw @ {label:>10} ({pps:7.1f} px/s, {visible:3d} clips visible): "
              f"cold {cold * 1000:6.1f} ms, repaint {statistics.median(samples) * 1000:6.1f} ms/frame")
    widget.close()
    peaks.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
