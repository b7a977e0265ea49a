"""The mixer: render frames [start, start + n) of a RenderPlan into a [2, n] float32 block.

Pure numpy, no Qt, no sound card: the playback thread and the offline export both call
`Mixer.render`, so an export is bit-identical to what plays. Every per-frame value (fade
envelope, gains) is computed from the absolute timeline frame, and tracks are summed in plan
order, so the result does not depend on the block size or where blocks start.

Per block, for each audible track: sum its clips (asset samples × clip gain × fade envelope),
apply the track's pan/gain, meter it, add it to the master. Then master gain, sanitize
(NaN/inf → 0, so no garbage reaches the device or a file), meter the master (peak before the
clip, so overs show), and hard-clip to [-1, 1].

Fades are linear in amplitude: a fade-in's first frame is silent, a fade-out's last frame is
silent. Comp cuts (ClipPlan.xfade_in/out) are equal-power: sin/cos of the phase
(frame - cut + 0.5) / X · π/2, so the two takes' gains at a frame satisfy g_in² + g_out² = 1.

Public API (stable): Mixer(max_block).render(plan, start, out) -> Meters;
Meters (.track_ids, .track_peak [n,2], .track_rms [n,2], .master_peak [2], .master_rms [2],
.clipped); render_range(plan, start, end, block) -> [2, end-start] float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.audio.render_plan import ClipPlan, RenderPlan

DEFAULT_BLOCK = 4096


@dataclass
class Meters:
    """Levels of the last rendered block (linear, not dB). Reused between blocks: copy it if
    you keep it."""

    track_ids: tuple[str, ...] = ()
    track_peak: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    track_rms: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    master_peak: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    master_rms: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    clipped: int = 0  # samples the master had to clip in this block


class Mixer:
    """Renders blocks of a RenderPlan. One Mixer per thread (it reuses scratch buffers).

    Args:
        max_block: the largest block `render` will be asked for (scratch size).
    """

    def __init__(self, max_block: int = DEFAULT_BLOCK) -> None:
        self.max_block = max_block
        self._track_buf = np.zeros((2, max_block), np.float32)
        self._tmp = np.zeros((2, max_block), np.float32)
        self._bad = np.zeros((2, max_block), bool)
        self.meters = Meters()

    def _meters_for(self, plan: RenderPlan) -> Meters:
        ids = plan.track_ids
        if self.meters.track_ids != ids:
            n = len(ids)
            self.meters = Meters(
                ids,
                np.zeros((n, 2), np.float32),
                np.zeros((n, 2), np.float32),
                np.zeros(2, np.float32),
                np.zeros(2, np.float32),
            )
        return self.meters

    def render(self, plan: RenderPlan, start: int, out: np.ndarray) -> Meters:
        """Render frames [start, start + out.shape[1]) of `plan` into `out` ([2, n] float32).

        Thread: the caller's (mixer thread or export job). Returns this mixer's Meters.
        """
        n = out.shape[1]
        if n > self.max_block:
            raise ValueError(f"block of {n} frames is larger than this mixer's {self.max_block}")
        meters = self._meters_for(plan)
        # NaN/inf are expected inputs here (sanitized below); warnings would only cost time.
        with np.errstate(invalid="ignore", over="ignore"):
            self._render(plan, start, out, meters)
        return meters

    def _render(self, plan: RenderPlan, start: int, out: np.ndarray, meters: Meters) -> None:
        n = out.shape[1]
        out.fill(0.0)
        acc = self._track_buf[:, :n]
        tmp = self._tmp[:, :n]
        for i, track in enumerate(plan.tracks):
            if not track.audible or not self._sum_clips(track.clips, start, acc):
                meters.track_peak[i] = 0.0
                meters.track_rms[i] = 0.0
                continue
            acc *= track.gains  # [2, 1]: pan law × track gain
            self._measure(acc, tmp, meters.track_peak[i], meters.track_rms[i])
            out += acc
        out *= np.float32(plan.master_gain)
        total = float(np.add.reduce(out, axis=None))
        if total - total != 0.0:  # NaN or inf somewhere (rare): zero exactly those samples
            bad = np.isfinite(out, out=self._bad[:, :n])
            np.logical_not(bad, out=bad)
            np.copyto(out, 0.0, where=bad)
        self._measure(out, tmp, meters.master_peak, meters.master_rms)
        meters.clipped = int(np.count_nonzero(tmp > 1.0)) if meters.master_peak.max() > 1.0 else 0  # tmp: x²
        np.clip(out, -1.0, 1.0, out=out)

    @staticmethod
    def _measure(block: np.ndarray, tmp: np.ndarray, peak: np.ndarray, rms: np.ndarray) -> None:
        """peak = max |x| and rms per channel, written in place; leaves x² in tmp."""
        np.abs(block, out=tmp)
        np.maximum.reduce(tmp, axis=1, out=peak)
        np.square(tmp, out=tmp)
        np.add.reduce(tmp, axis=1, out=rms)
        rms *= np.float32(1.0 / block.shape[1])
        np.sqrt(rms, out=rms)

    @staticmethod
    def _sum_clips(clips: tuple[ClipPlan, ...], start: int, acc: np.ndarray) -> bool:
        """acc = sum of this track's clips over [start, start+n). Returns False if silent."""
        n = acc.shape[1]
        end = start + n
        touched = False
        for clip in clips:
            if clip.start >= end:
                break  # sorted by start: nothing later can overlap
            a, b = max(start, clip.start), min(end, clip.end)
            if a >= b:
                continue
            src_a = clip.source_start + (a - clip.start)
            if src_a < 0:  # before the take's audio begins (a take with an offset): silence
                a -= src_a
                src_a = 0
                if a >= b:
                    continue
            available = clip.samples.shape[1] - src_a
            if available <= 0:
                continue  # past the end of the asset: silence
            b = min(b, a + available)
            if not touched:
                acc.fill(0.0)
                touched = True
            seg = clip.samples[:, src_a : src_a + (b - a)]
            dst = acc[:, a - start : b - start]
            env = _envelope(clip, a, b)
            if env is None:
                dst += seg * np.float32(clip.gain)
            else:
                dst += seg * env
        return touched


def _envelope(clip: ClipPlan, a: int, b: int) -> np.ndarray | float | None:
    """Per-frame gain (clip gain × fades × comp crossfades) for timeline frames [a, b), or None
    if constant."""
    clip_start, clip_end = clip.clip_start, clip.clip_end
    in_end = clip_start + clip.fade_in
    out_start = clip_end - clip.fade_out
    xin_start, xin = clip.xfade_in
    xout_end, xout = clip.xfade_out
    in_xin = xin and a < xin_start + xin and b > xin_start
    in_xout = xout and a < xout_end and b > xout_end - xout
    if a >= in_end and b <= out_start and not in_xin and not in_xout:
        return None
    frames = np.arange(a, b, dtype=np.float64)
    env = np.full(b - a, clip.gain, dtype=np.float64)
    if clip.fade_in and a < in_end:
        env *= np.minimum(1.0, (frames - clip_start) / clip.fade_in)
    if clip.fade_out and b > out_start:
        env *= np.minimum(1.0, (clip_end - 1 - frames) / clip.fade_out)
    if in_xin:
        phase = np.clip((frames - xin_start + 0.5) / xin, 0.0, 1.0)
        env *= np.sin(phase * (np.pi / 2))
    if in_xout:
        phase = np.clip((frames - (xout_end - xout) + 0.5) / xout, 0.0, 1.0)
        env *= np.cos(phase * (np.pi / 2))
    return env.astype(np.float32)


def render_range(plan: RenderPlan, start: int, end: int, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """Render [start, end) offline into one array (tests, bounce). Same code path as playback."""
    mixer = Mixer(block)
    out = np.zeros((2, max(0, end - start)), np.float32)
    for pos in range(start, end, block):
        n = min(block, end - pos)
        mixer.render(plan, pos, out[:, pos - start : pos - start + n])
    return out
