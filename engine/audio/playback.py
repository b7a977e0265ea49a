"""Playback: a transport over a sounddevice stream, fed by a mixer thread through a ring.

Three threads, three jobs (aesthetics §7.5, Friture's audio backend):

- main (UI): `play / pause / stop / seek / set_loop / set_plan`, and reads `position`,
  `master_meters()`, `track_meters()`, `underruns` on a ~30-60 Hz timer. Those are plain
  attribute writes and reads: the UI takes no lock the audio thread could wait on.
- mixer thread: renders blocks of the current RenderPlan ahead of the playhead with the same
  `Mixer` the export uses, into a preallocated ring of `ring_blocks` slots.
- audio callback (PortAudio's thread): copies one ready slot into the device buffer and
  publishes which slot is sounding. No allocation of buffers, no locks, no Qt, no logging.

The ring is single-producer / single-consumer with two monotonic counters (`_write` owned by
the mixer, `_read` by the callback); under the GIL each counter update is atomic. A seek bumps
a generation number: the callback skips slots rendered for the old position, so a seek is
heard within one block. A new plan (after any edit) is swapped in by reference; blocks
already rendered play out first (at most ring_blocks × block_frames, ~170 ms by default).

No audio device, no PortAudio, or a device that refuses the format: constructing a Player
never raises; `available` is False and `unavailable_reason` says "playback unavailable: …".
Tests pass `stream_factory=FakeStream` and drive the callback with `FakeStream.pull()`.

Transport rules: `stop()` returns the playhead to where the last `play()` started; `pause()`
keeps it where it is; `play()` starts from the playhead. With a loop range set, playback that
reaches the loop end jumps to the loop start, sample-accurately.

Public API (stable): Player(block_frames, ring_blocks, blocks_per_render, stream_factory, start_thread, device),
.available, .unavailable_reason, .playing, .position, .play(), .pause(), .stop(), .seek(frame),
.set_loop(TimeRange | None), .loop, .set_plan(plan), .master_meters() -> (peak[2], rms[2]),
.track_meters() -> {track_id: peak[2]}, .underruns, .fill_ring(), .close(); FakeStream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.audio.mixer import Mixer
from engine.audio.render_plan import RenderPlan
from engine.timebase import SAMPLE_RATE, TimeRange

StreamFactory = Callable[..., Any]


class FakeStream:
    """A stand-in for sounddevice.OutputStream: nothing plays; `pull()` runs the callback the
    way PortAudio would, always into the same preallocated device buffer."""

    def __init__(
        self, samplerate: int, blocksize: int, channels: int, dtype: str, callback: Callable, **_: Any
    ):
        self.samplerate, self.blocksize, self.channels = samplerate, blocksize, channels
        self.callback = callback
        self.outdata = np.zeros((blocksize, channels), dtype=dtype)  # [frames, channels]
        self.active = False
        self.closed = False

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.closed = True
        self.active = False

    def pull(self, n_blocks: int = 1) -> np.ndarray:
        """Run the callback n times; returns what the device would have played, [2, frames]."""
        out = np.zeros((2, n_blocks * self.blocksize), np.float32)
        for i in range(n_blocks):
            self.callback(self.outdata, self.blocksize, None, 0)
            out[:, i * self.blocksize : (i + 1) * self.blocksize] = self.outdata.T
        return out


def _default_stream_factory() -> StreamFactory:
    import sounddevice  # lazily: importing it loads PortAudio, which may be missing

    return sounddevice.OutputStream


class Player:
    """Transport + mixer thread + audio callback. Thread: construct and control on main."""

    def __init__(
        self,
        block_frames: int = 1024,
        ring_blocks: int = 8,
        blocks_per_render: int = 4,
        stream_factory: StreamFactory | None = None,
        start_thread: bool = True,
        device: int | str | None = None,
    ) -> None:
        self.block_frames = block_frames
        self.ring_blocks = ring_blocks
        # The ring, in the device's layout: slot k is [block_frames, 2] float32.
        self._ring = np.zeros((ring_blocks, block_frames, 2), np.float32)
        self._slot_pos = [0] * ring_blocks  # timeline frame of each slot's first frame
        self._slot_gen = [0] * ring_blocks
        self._slot_master = np.zeros((ring_blocks, 2, 2), np.float32)  # [slot, peak|rms, L|R]
        self._slot_track_ids: list[tuple[str, ...]] = [()] * ring_blocks
        self._slot_track_peak: list[np.ndarray] = [np.zeros((0, 2), np.float32)] * ring_blocks
        self.blocks_per_render = max(1, min(blocks_per_render, ring_blocks))
        # Mixer-thread scratch: one chunk of blocks_per_render blocks, planar [2, frames].
        self._planar = np.zeros((2, block_frames * self.blocks_per_render), np.float32)
        self._abs = np.zeros((2, block_frames), np.float32)
        self._chunk_starts = [0] * self.blocks_per_render
        self._mixer = Mixer(block_frames * self.blocks_per_render)
        self._write = 0  # blocks rendered (mixer thread writes)
        self._read = 0  # blocks consumed (callback writes)
        self._gen = 0  # bumps on every seek (mixer thread writes)
        self._sounding = -1  # slot the device is playing (callback writes)
        self._seek_serial = 0  # UI bumps after writing _seek_target
        self._seen_serial = 0
        self._seek_target = 0
        self._render_pos = 0
        self._plan = RenderPlan.empty()
        self._loop: TimeRange | None = None
        self._playing = False
        self._play_start = 0
        self.position = 0  # the playhead, frames (callback writes while playing)
        self.underruns = 0  # callbacks that found no block ready
        self.device_xruns = 0  # callbacks where PortAudio reported a problem
        self._closing = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

        self.available = False
        self.unavailable_reason = ""
        self._stream: Any = None
        try:
            factory = stream_factory or _default_stream_factory()
            self._stream = factory(
                samplerate=SAMPLE_RATE,
                blocksize=block_frames,
                channels=2,
                dtype="float32",
                callback=self._callback,
                device=device,
            )
            self.available = True
        except Exception as exc:  # noqa: BLE001 - any failure here means "no playback", never a crash
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, OSError) and "PortAudio" in reason:
                reason = "the PortAudio library is not installed"
            self.unavailable_reason = f"playback unavailable: {reason}"
        if self.available and start_thread:
            self._thread = threading.Thread(target=self._run, name="legato-mixer", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------ transport (main thread)

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def loop(self) -> TimeRange | None:
        return self._loop

    def set_plan(self, plan: RenderPlan) -> None:
        """Swap in a new plan (rebuild it on every document change)."""
        self._plan = plan

    def set_loop(self, loop: TimeRange | None) -> None:
        """Loop [start, end) while playing; None to stop looping."""
        self._loop = loop if loop is not None and loop.length > 0 else None

    def play(self) -> bool:
        """Start from the playhead. Returns False when playback is unavailable."""
        if not self.available:
            return False
        if self._playing:
            return True
        self._play_start = self.position
        self._request_seek(self.position)
        if not getattr(self._stream, "active", False):
            try:
                self._stream.start()
            except Exception as exc:  # noqa: BLE001 - e.g. the device was unplugged or is busy
                self.unavailable_reason = f"playback unavailable: {exc}"
                return False
        self._playing = True
        self._wake.set()
        return True

    def pause(self) -> None:
        self._playing = False

    def stop(self) -> None:
        """Stop and return the playhead to where playback started."""
        self._playing = False
        self.position = self._play_start
        self._request_seek(self._play_start)

    def seek(self, frame: int) -> None:
        """Move the playhead (e.g. a click on the ruler); heard within one block when playing."""
        frame = max(0, int(frame))
        self.position = frame
        if not self._playing:
            self._play_start = frame
        self._request_seek(frame)

    def _request_seek(self, frame: int) -> None:
        self._seek_target = frame
        self._seek_serial += 1  # after the target: the mixer reads serial, then target

    def master_meters(self) -> tuple[np.ndarray, np.ndarray]:
        """(peak [L, R], rms [L, R]) of the block now sounding; zeros when stopped."""
        slot = self._sounding
        if not self._playing or slot < 0:
            return np.zeros(2, np.float32), np.zeros(2, np.float32)
        levels = self._slot_master[slot].copy()
        return levels[0], levels[1]

    def track_meters(self) -> dict[str, np.ndarray]:
        """Peak [L, R] per track id for the block now sounding (empty when stopped)."""
        slot = self._sounding
        if not self._playing or slot < 0:
            return {}
        ids, peaks = self._slot_track_ids[slot], self._slot_track_peak[slot]
        return {tid: peaks[i].copy() for i, tid in enumerate(ids[: len(peaks)])}

    def close(self) -> None:
        self._playing = False
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception:  # noqa: BLE001 - a device that vanished must not block closing
                pass

    # ------------------------------------------------------------ mixer thread

    def _run(self) -> None:
        period = self.block_frames / SAMPLE_RATE / 4
        while not self._closing:
            if self._playing:
                self.fill_ring()
                time.sleep(period)
            else:
                self._wake.wait(0.1)
                self._wake.clear()

    def fill_ring(self) -> int:
        """Render blocks into free slots. Thread: the mixer thread (tests call it directly with
        start_thread=False). Returns how many blocks were rendered.

        Renders `blocks_per_render` blocks per mixer call (fewer Python calls per second of
        audio, so less GIL time) once that many slots are free; right after a seek it fills
        whatever is free at once, so the seek is heard on the next block.
        """
        rendered = 0
        while self._playing:
            min_free = self.blocks_per_render
            if self._seek_serial != self._seen_serial:
                self._seen_serial = self._seek_serial
                self._render_pos = self._seek_target
                self._gen += 1
                min_free = 1
            free = self.ring_blocks - (self._write - self._read)
            if free < min_free or free <= 0:
                break
            k = min(free, self.blocks_per_render)
            self._render_chunk(k)
            self._write += k  # publish: the slots are complete before the callback may read them
            rendered += k
        return rendered

    def _render_chunk(self, k: int) -> None:
        """Render k blocks from the render position (wrapping at the loop end) into k slots."""
        plan, loop, n = self._plan, self._loop, self.block_frames
        m = k * n
        buf = self._planar[:, :m]
        starts = self._chunk_starts
        pos = self._render_pos
        if loop is not None and pos >= loop.end:
            pos = loop.start  # the playhead was past the loop when it was set: wrap now
        done = 0
        while done < m:
            seg = m - done
            if loop is not None and loop.start <= pos < loop.end:
                seg = min(seg, loop.end - pos)
            elif loop is not None and pos < loop.start:
                seg = min(seg, loop.start - pos)  # enter the loop on its own segment
            for j in range(-(-done // n), -(-(done + seg) // n)):  # blocks starting in this segment
                starts[j] = pos + (j * n - done)
            self._mixer.render(plan, pos, buf[:, done : done + seg])
            done += seg
            pos += seg
            if loop is not None and pos >= loop.end:
                pos = loop.start
        self._render_pos = pos
        meters = self._mixer.meters  # of the last segment: good enough for a meter
        track_ids, track_peak = meters.track_ids, meters.track_peak.copy()
        for j in range(k):
            slot = (self._write + j) % self.ring_blocks
            block = buf[:, j * n : (j + 1) * n]
            np.copyto(self._ring[slot], block.T)
            levels = self._slot_master[slot]
            np.abs(block, out=self._abs)
            np.maximum.reduce(self._abs, axis=1, out=levels[0])
            np.square(self._abs, out=self._abs)
            np.add.reduce(self._abs, axis=1, out=levels[1])
            levels[1] *= np.float32(1.0 / n)
            np.sqrt(levels[1], out=levels[1])
            self._slot_track_ids[slot] = track_ids
            self._slot_track_peak[slot] = track_peak
            self._slot_pos[slot] = starts[j]
            self._slot_gen[slot] = self._gen

    # ------------------------------------------------------------ audio thread

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's callback. Copies one prepared block; allocates no buffers, takes no lock."""
        if status:
            self.device_xruns += 1
        if not self._playing:
            outdata.fill(0.0)
            return
        r, w, gen = self._read, self._write, self._gen
        while r < w and self._slot_gen[r % self.ring_blocks] != gen:
            r += 1  # rendered before the last seek: skip
        if r >= w or frames != self.block_frames:
            self._read = r
            outdata.fill(0.0)
            self.underruns += 1
            return
        slot = r % self.ring_blocks
        np.copyto(outdata, self._ring[slot])
        self._sounding = slot
        self.position = self._slot_pos[slot]
        self._read = r + 1
