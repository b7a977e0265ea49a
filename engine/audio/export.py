"""Export the mix, or each track as a stem, through the same Mixer that playback uses.

Blocks of one second are rendered and streamed to an `AudioWriter`; after each block the job
reports progress and checks for cancel, and a cancelled export leaves no file behind.

Public API (stable):
    export_mix(plan, path, fmt, ctx=None, start=0, end=None) -> Path
    export_stems(plan, folder, fmt, names, ctx=None) -> list[Path]   (one file per track)
    stem_file_name(index, name, fmt) -> str
    project_lrc(project, start=0, end=None) -> str      (the timeline's synced lyrics)
    write_lrc_beside(audio_path, lrc) -> Path | None    (`song.lrc` next to `song.flac`)
Thread: a worker (blocking; seconds for a long song). Raises AudioFileError, Cancelled.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from engine.audio.files import EXPORT_FORMATS, AudioWriter
from engine.audio.mixer import Mixer
from engine.audio.render_plan import RenderPlan
from engine.errors import AudioFileError
from engine.jobs.context import JobContext
from engine.timebase import SAMPLE_RATE

EXPORT_BLOCK = SAMPLE_RATE  # one second per block: ~1 progress report per second of audio


def _render_to(
    writer: AudioWriter, plan: RenderPlan, start: int, end: int, ctx: JobContext, stage: str
) -> None:
    mixer = Mixer(EXPORT_BLOCK)
    block = np.zeros((2, EXPORT_BLOCK), np.float32)
    total = max(1, -(-(end - start) // EXPORT_BLOCK))
    for step, pos in enumerate(range(start, end, EXPORT_BLOCK)):
        ctx.check_cancelled()
        n = min(EXPORT_BLOCK, end - pos)
        mixer.render(plan, pos, block[:, :n])
        writer.write(block[:, :n])
        ctx.progress(stage, step + 1, total)


def export_mix(
    plan: RenderPlan,
    path: str | os.PathLike,
    fmt: str = "wav24",
    ctx: JobContext | None = None,
    start: int = 0,
    end: int | None = None,
) -> Path:
    """Render [start, end) of the mix (default: the whole song) to a file."""
    ctx = ctx or JobContext.inline()
    end = plan.length if end is None else end
    if end <= start:
        raise AudioFileError(f"{Path(path).name}: nothing to export (the range is empty)")
    with AudioWriter(path, fmt) as writer:
        _render_to(writer, plan, start, end, ctx, "export")
    return Path(path)


def stem_file_name(index: int, name: str, fmt: str) -> str:
    """'03 Drums.wav': numbered so stems sort in track order; unsafe characters removed."""
    safe = re.sub(r"[^\w\- ]+", "_", name).strip() or "Track"
    return f"{index + 1:02d} {safe[:80]}{EXPORT_FORMATS[fmt]}"


def export_stems(
    plan: RenderPlan,
    folder: str | os.PathLike,
    fmt: str = "wav24",
    names: Mapping[str, str] | None = None,
    ctx: JobContext | None = None,
) -> list[Path]:
    """One file per track, each the full song length and time-aligned, through the track's
    gain/pan and the master (mute/solo ignored: every track gets its stem)."""
    if fmt not in EXPORT_FORMATS:
        raise AudioFileError(f"unknown export format {fmt!r}")
    ctx = ctx or JobContext.inline()
    folder = Path(folder)
    paths = []
    for i, track_id in enumerate(plan.track_ids):
        path = folder / stem_file_name(i, (names or {}).get(track_id, track_id), fmt)
        with AudioWriter(path, fmt) as writer:
            _render_to(
                writer,
                plan.only_track(track_id),
                0,
                max(plan.length, 1),
                ctx,
                f"stem {i + 1}/{len(plan.tracks)}",
            )
        paths.append(path)
    return paths


def project_lrc(project, start: int = 0, end: int | None = None) -> str:
    """The synced lyrics of what the mix plays over [start, end) samples, as LRC text.

    Every clip on an unmuted track whose active take has an LRC (take meta "lrc", from
    scoring) contributes the lines that fall inside the clip's window, moved to project time
    (take time t sounds at clip.position + t - clip.source_offset) and then relative to
    `start`. "" when nothing on the timeline has synced lyrics.
    """
    from engine.scoring.lrc import LyricLine, format_lrc, parse_lrc

    end_s = None if end is None else (end - start) / SAMPLE_RATE
    lines: list[LyricLine] = []
    for track in project.tracks:
        if track.mute:
            continue
        for clip in track.clips:
            text = clip.active_take.meta.get("lrc")
            if not isinstance(text, str) or not text:
                continue
            offset_s, length_s = clip.source_offset / SAMPLE_RATE, clip.length / SAMPLE_RATE
            for t, line in parse_lrc(text):
                if not offset_s - 0.05 <= t < offset_s + length_s:
                    continue
                at = (clip.position - start) / SAMPLE_RATE + max(0.0, t - offset_s)
                if at >= 0 and (end_s is None or at < end_s):
                    lines.append(LyricLine(at, at, line))
    lines.sort(key=lambda line: line.start_s)
    return format_lrc(lines)


def write_lrc_beside(audio_path: str | os.PathLike, lrc: str) -> Path | None:
    """Write `lrc` as `<audio stem>.lrc` next to an exported file; None when there is nothing."""
    if not lrc:
        return None
    target = Path(audio_path).with_suffix(".lrc")
    try:
        target.write_text(lrc, encoding="utf-8")
    except OSError as exc:
        raise AudioFileError(f"cannot write {target}: {exc}") from exc
    return target
