"""DAW engine benchmark: a 32-track × 5-minute project (each track its own asset).

Measures, on the CPU it runs on:
  - mixer cost per second of audio (blocks of 1024 and 4096 frames — the device block and
    the playback render chunk — and the export block of 48000),
  - building a RenderPlan,
  - saving the project and opening it again (lazy memory-mapped assets and fully read),
  - peak pyramid computation per asset and for all of them, and peaks_for_range at a few zooms.

The full size holds ~3.7 GB of audio in memory and writes as much to disk, so on the shared
machine run it under the heavy-work lock:

    OMP_NUM_THREADS=1 flock /tmp/legato-heavy.lock .venv/bin/python benchmarks/bench_daw.py
    .venv/bin/python benchmarks/bench_daw.py --tracks 4 --minutes 1     # a quick look

The desktop's timeline redraw time is measured separately (bench_timeline.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.audio.mixer import render_range  # noqa: E402
from engine.audio.peaks import compute_peaks  # noqa: E402
from engine.audio.render_plan import build_render_plan  # noqa: E402
from engine.project import Project  # noqa: E402
from engine.project.commands import AddClip, AddTrack, SetFades, SetTrackPan  # noqa: E402
from engine.project.io import load_project, save_project  # noqa: E402
from engine.timebase import SAMPLE_RATE  # noqa: E402


def build_project(tracks: int, minutes: float) -> Project:
    """Distinct audio per track (a tiled noise+sine snippet scaled per track: cheap to make,
    different hashes), one clip per track spanning the song, a fade and a pan on each."""
    frames = int(minutes * 60 * SAMPLE_RATE)
    rng = np.random.default_rng(0)
    t = np.arange(10 * SAMPLE_RATE) / SAMPLE_RATE
    snippet = (0.05 * rng.standard_normal((2, t.size)) + 0.2 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    reps = -(-frames // snippet.shape[1])
    project = Project("Bench")
    for i in range(tracks):
        audio = np.tile(snippet * np.float32(0.5 + i / (2 * tracks)), reps)[:, :frames]
        asset = project.assets.add(audio, f"track{i}.wav")
        cmd = project.history.push(AddTrack(f"Track {i + 1}"))
        clip = project.history.push(AddClip(cmd.track_id, asset.id, 0))
        project.history.push(SetFades(clip.clip_id, SAMPLE_RATE, 2 * SAMPLE_RATE))
        project.history.push(SetTrackPan(cmd.track_id, (i % 5 - 2) / 2))
    return project


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument(
        "--mix-seconds", type=float, default=60.0, help="how much audio to mix per block size"
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    results: dict[str, float] = {}

    project, t_build = timed(build_project, args.tracks, args.minutes)
    print(f"built {args.tracks} tracks × {args.minutes:g} min in {t_build:.1f} s (synthesis + hashing)")

    plan, t_plan = timed(build_render_plan, project)
    results["render_plan_ms"] = t_plan * 1e3

    mix_frames = int(min(args.mix_seconds, args.minutes * 60) * SAMPLE_RATE)
    for block in (1024, 4096, SAMPLE_RATE):  # device block, playback render chunk, export block
        _, t_mix = timed(render_range, plan, 0, mix_frames, block)
        per_second = t_mix / (mix_frames / SAMPLE_RATE)
        results[f"mix_ms_per_audio_s_block{block}"] = per_second * 1e3
        print(
            f"mixer, block {block:5d}: {per_second * 1e3:6.2f} ms per second of audio "
            f"({per_second * 100:.2f}% of one core in real time)"
        )

    with tempfile.TemporaryDirectory(prefix="legato-bench-") as tmp:
        folder, t_save = timed(save_project, project, Path(tmp) / "Bench")
        results["save_first_s"] = t_save
        _, t_resave = timed(save_project, project, folder)
        results["save_again_ms"] = t_resave * 1e3
        loaded, t_open = timed(load_project, folder)
        results["open_lazy_ms"] = t_open * 1e3
        _, t_open_full = timed(load_project, folder, lazy=False)
        results["open_full_read_s"] = t_open_full
        # The first mix from a freshly opened (memory-mapped) project pages audio in from disk.
        _, t_first_mix = timed(render_range, build_render_plan(loaded), 0, 10 * SAMPLE_RATE, 1024)
        results["mix_10s_after_lazy_open_ms"] = t_first_mix * 1e3
        del loaded
    print(
        f"save (first, writes every asset): {t_save:.2f} s; save again (json only): {t_resave * 1e3:.1f} ms"
    )
    print(f"open (memory-mapped assets): {t_open * 1e3:.1f} ms; open reading all audio: {t_open_full:.2f} s")
    print(f"first 10 s mix right after a lazy open: {t_first_mix * 1e3:.0f} ms")

    assets = [project.assets[aid] for aid in project.assets.ids()]
    pyramid, t_one = timed(compute_peaks, assets[0].samples, assets[0].id)
    _, t_all = timed(lambda: [compute_peaks(a.samples, a.id) for a in assets])
    results["peaks_one_asset_ms"] = t_one * 1e3
    results["peaks_all_assets_s"] = t_all
    print(
        f"peaks: {t_one * 1e3:.0f} ms for one {args.minutes:g}-min asset; {t_all:.2f} s for all {len(assets)}"
    )
    for span_s in (args.minutes * 60, 30.0, 1.0):
        span = int(span_s * SAMPLE_RATE)
        reps = 200
        start = time.perf_counter()
        for _ in range(reps):
            pyramid.peaks_for_range(0, span, 1920)
        per_call = (time.perf_counter() - start) / reps
        results[f"peaks_for_range_{span_s:g}s_1920px_us"] = per_call * 1e6
        print(f"peaks_for_range over {span_s:g} s into 1920 px: {per_call * 1e6:.0f} µs")

    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
