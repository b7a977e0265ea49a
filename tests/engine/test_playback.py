"""Playback through a fake stream: the callback only copies ring blocks, and what plays is
bit-identical to the offline mix; seek, loop, stop/pause; no device never crashes."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from engine.audio.mixer import render_range
from engine.audio.playback import FakeStream, Player
from engine.audio.render_plan import build_render_plan
from engine.project import Project
from engine.project.commands import AddClip, AddTrack, SetFades, SetTrackPan
from engine.timebase import TimeRange

SR = 48_000
BLOCK = 256


@pytest.fixture(scope="module")
def plan():
    rng = np.random.default_rng(5)
    p = Project()
    a = p.assets.add((rng.standard_normal((2, SR)) * 0.2).astype(np.float32))
    b = p.assets.add((rng.standard_normal((2, SR // 2)) * 0.2).astype(np.float32))
    p.history.push(AddTrack("A", track_id="ta"))
    p.history.push(AddTrack("B", track_id="tb"))
    p.history.push(AddClip("ta", a.id, 100, clip_id="ca"))
    p.history.push(AddClip("tb", b.id, 3000, clip_id="cb"))
    p.history.push(SetFades("ca", 500, 700))
    p.history.push(SetTrackPan("tb", 0.6))
    return build_render_plan(p)


def fake_player(plan, ring_blocks=4, blocks_per_render=4) -> tuple[Player, FakeStream]:
    player = Player(
        block_frames=BLOCK,
        ring_blocks=ring_blocks,
        blocks_per_render=blocks_per_render,
        stream_factory=FakeStream,
        start_thread=False,
    )
    player.set_plan(plan)
    return player, player._stream


def play_blocks(player: Player, stream: FakeStream, n: int) -> np.ndarray:
    out = []
    for _ in range(n):
        player.fill_ring()
        out.append(stream.pull(1))
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize("ring, per_render", [(4, 4), (8, 3), (5, 1)])
def test_what_plays_is_bit_identical_to_the_offline_mix(plan, ring, per_render):
    player, stream = fake_player(plan, ring, per_render)
    assert player.available and player.unavailable_reason == ""
    assert player.play() and stream.active
    heard = play_blocks(player, stream, 40)
    assert np.array_equal(heard, render_range(plan, 0, 40 * BLOCK, block=4096))
    assert player.position == 39 * BLOCK


def test_callback_copies_from_the_ring_into_the_same_device_buffer(plan):
    player, stream = fake_player(plan)
    player.play()
    player.fill_ring()
    device_buffer = stream.outdata
    marker = np.arange(BLOCK * 2, dtype=np.float32).reshape(BLOCK, 2)
    slot = player._read % player.ring_blocks
    player._ring[slot] = marker  # what the callback plays must come from the ring slot
    stream.callback(device_buffer, BLOCK, None, 0)
    assert stream.outdata is device_buffer and np.array_equal(device_buffer, marker)


def test_callback_allocates_no_buffers(plan):
    player, stream = fake_player(plan)
    player.play()
    player.fill_ring()
    out = stream.outdata
    stream.callback(out, BLOCK, None, 0)  # warm up
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            if player._read == player._write:
                player._read -= player.ring_blocks - 1  # replay ready slots without the mixer
            stream.callback(out, BLOCK, None, 0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < BLOCK * 2 * 4 // 4, f"callback allocated {peak - base} bytes"


def test_underrun_plays_silence_and_is_counted(plan):
    player, stream = fake_player(plan)
    player.play()
    assert not stream.pull(1).any() and player.underruns == 1
    player.pause()
    assert not stream.pull(1).any() and player.underruns == 1  # paused is not an underrun


@pytest.mark.parametrize("ring, per_render", [(4, 4), (8, 3), (5, 1)])
def test_seek_is_heard_on_the_next_block(plan, ring, per_render):
    player, stream = fake_player(plan, ring, per_render)
    player.play()
    play_blocks(player, stream, 3)
    player.seek(10_000)
    heard = play_blocks(player, stream, 4)
    assert np.array_equal(heard, render_range(plan, 10_000, 10_000 + 4 * BLOCK))
    assert player.position == 10_000 + 3 * BLOCK


@pytest.mark.parametrize("ring, per_render", [(4, 4), (8, 3), (5, 1)])
def test_loop_wraps_sample_accurately(plan, ring, per_render):
    player, stream = fake_player(plan, ring, per_render)
    loop = TimeRange(1000, 1000 + 3 * BLOCK + 77)  # not a whole number of blocks
    player.seek(1000)
    player.set_loop(loop)
    player.play()
    heard = play_blocks(player, stream, 12)
    one_pass = render_range(plan, loop.start, loop.end)
    expected = np.concatenate([one_pass] * 4, axis=1)[:, : heard.shape[1]]
    assert np.array_equal(heard, expected)
    entered = TimeRange(8000 + 100, 8000 + 200)  # playing into a tiny loop from before it
    player.set_loop(entered)
    player.seek(8000)
    heard = play_blocks(player, stream, 2)
    expected = np.concatenate([render_range(plan, 8000, 8100)] + [render_range(plan, 8100, 8200)] * 5, axis=1)
    assert np.array_equal(heard, expected[:, : 2 * BLOCK])
    tiny = TimeRange(5000, 5100)  # shorter than a block: wraps several times per block
    player.set_loop(tiny)
    player.seek(5000)
    heard = play_blocks(player, stream, 3)
    assert np.array_equal(heard, np.tile(render_range(plan, 5000, 5100), 8)[:, : 3 * BLOCK])


def test_stop_returns_to_start_and_pause_keeps_the_playhead(plan):
    player, stream = fake_player(plan)
    player.seek(2000)
    player.play()
    play_blocks(player, stream, 5)
    player.pause()
    assert player.position == 2000 + 4 * BLOCK and not player.playing
    player.play()
    heard = play_blocks(player, stream, 1)
    assert np.array_equal(heard, render_range(plan, 2000 + 4 * BLOCK, 2000 + 5 * BLOCK))
    player.stop()
    assert player.position == 2000 + 4 * BLOCK  # where the last play() started
    player.seek(0)
    player.play()
    play_blocks(player, stream, 2)
    player.stop()
    assert player.position == 0


def test_meters_follow_the_sounding_block(plan):
    player, stream = fake_player(plan)
    assert player.master_meters()[0].tolist() == [0.0, 0.0] and player.track_meters() == {}
    player.seek(4000)
    player.play()
    play_blocks(player, stream, 1)
    peak, rms = player.master_meters()
    block = render_range(plan, 4000, 4000 + BLOCK)
    np.testing.assert_allclose(peak, np.abs(block).max(axis=1))
    meters = player.track_meters()
    assert set(meters) == {"ta", "tb"} and (meters["ta"] > 0).all()


def test_mixer_thread_feeds_the_callback(plan):
    player = Player(block_frames=BLOCK, ring_blocks=8, stream_factory=FakeStream)
    player.set_plan(plan)
    stream = player._stream
    try:
        player.play()
        heard = []
        deadline = time.monotonic() + 5
        while len(heard) < 20 and time.monotonic() < deadline:
            if player._write > player._read:
                heard.append(stream.pull(1))
            else:
                time.sleep(0.001)
        assert np.array_equal(np.concatenate(heard, axis=1), render_range(plan, 0, 20 * BLOCK))
    finally:
        player.close()
    assert stream.closed and not player._thread.is_alive()


def test_no_device_or_no_portaudio_never_crashes(plan):
    def no_portaudio(**_):
        raise OSError("PortAudio library not found")

    def no_device(**_):
        raise RuntimeError("Error querying device -1")

    for factory, reason in (
        (no_portaudio, "PortAudio library is not installed"),
        (no_device, "querying device"),
    ):
        player = Player(stream_factory=factory)
        assert not player.available and player.unavailable_reason.startswith("playback unavailable: ")
        assert reason in player.unavailable_reason
        player.set_plan(plan)
        assert player.play() is False and not player.playing
        player.seek(100)
        player.stop()
        player.close()


def test_the_real_backend_constructs_or_reports_why_not():
    # What this machine can do, found out without the Player: open the same stream directly.
    try:
        import sounddevice

        probe = sounddevice.OutputStream(samplerate=48_000, channels=2, dtype="float32")
        probe.close()
        why_not = None
    except Exception as exc:  # noqa: BLE001 - OSError without PortAudio, PortAudioError without a device
        why_not = str(exc) or type(exc).__name__
    player = Player(start_thread=False)  # CI has no sound card: must not raise either way
    try:
        assert player.available == (why_not is None), why_not
        if why_not is not None:
            assert player.unavailable_reason.startswith("playback unavailable: ")
            assert why_not in player.unavailable_reason or "PortAudio library is not installed" in (
                player.unavailable_reason)
        else:
            assert player.unavailable_reason == ""
    finally:
        player.close()


def test_a_device_that_fails_to_start_reports_instead_of_raising(plan):
    class BusyStream(FakeStream):
        def start(self):
            raise RuntimeError("device busy")

    player = Player(stream_factory=BusyStream, start_thread=False)
    player.set_plan(plan)
    assert player.available and player.play() is False and not player.playing
    assert player.unavailable_reason == "playback unavailable: device busy"
