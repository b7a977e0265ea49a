"""Generative edits on the arrangement, headless through engine.studio.regions, on the tiny
checkpoints: repaint a region (window + lyrics honoured, crossfaded region take, mix outside
bit-identical), A/B and undo/redo, re-render and retake of region takes, extend and intro (context
kept), add layer (mute changes what the DiT hears; sample-aligned), extract 3 stems in ONE job
(one shared encode), complete, remix, base-model gating, prefill.

The tiny VAE's encoder is slow on a CPU (~2 s per second of audio), so this module swaps in a
cheap deterministic stand-in ENCODER (decoding stays real): what these tests check is which audio
reaches the model and how results land, which does not depend on what the encoder computes.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio.mixer import render_range
from engine.audio.render_plan import build_render_plan, render_clip_source
from engine.errors import Cancelled, ValidationError
from engine.jobs import JobContext, ModelCache
from engine.project import CompSegment, Project
from engine.project.commands import AddClip, AddTrack, SetActiveTake, SetTrackMute, ab_switch
from engine.project.io import load_project, save_project
from engine.studio import (
    add_intro,
    add_layer,
    base_model_needed,
    complete_tracks,
    extend_clip,
    extract_stems,
    prefill,
    remix_clip,
    repaint_region,
    rerender_into,
    retake,
    run_edit,
)
from tests.fast_encoder import stand_in_latents

torch = pytest.importorskip("torch")

SR = 48_000
HOP = 1920
AT = 3 * SR  # both clips start at 3 s (room for an intro)
LENGTH = 8 * SR


def _tone(seconds: float, freqs, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    left = sum(0.2 * np.sin(2 * np.pi * f * t) for f in freqs) + 0.01 * rng.standard_normal(t.size)
    return np.stack([left, np.roll(left, 50)]).astype(np.float32)


class Spies:
    """Module-wide: a fast stand-in VAE encoder (counting its calls), and the context latents
    and lyric prompts the model receives."""

    def __init__(self):
        self.encodes: list[int] = []
        self.contexts: list[torch.Tensor] = []
        self.lyrics: list[str] = []

    def encode_audio(self, audio: np.ndarray) -> torch.Tensor:
        """What the stand-in encoder gives for [2, S] audio -> [T, 64]."""
        x = torch.from_numpy(np.ascontiguousarray(audio))[None]
        return self._encode(x)[0]

    def _encode(self, audio):
        return stand_in_latents(audio)  # [B, 2, S] -> [B, T, 64]

    def reset(self):
        self.encodes.clear()
        self.contexts.clear()
        self.lyrics.clear()


@pytest.fixture(scope="module")
def spies():
    from engine.models.dit import AceStepDiT
    from engine.models.text_encoder import TextEncoder
    from engine.models.vae import AudioVAE

    spy = Spies()
    original_denoise, original_lyrics = AceStepDiT.denoise, TextEncoder.embed_lyrics

    def encode(self, audio, sample=True, generator=None, chunk_s=None, overlap_s=2.0, on_tile=None):
        if on_tile is not None:
            on_tile()
        spy.encodes.append(int(audio.shape[-1]))
        return spy._encode(audio if audio.ndim == 3 else audio[None])

    def denoise(self, x_t, t, r, context_latents, *args, **kwargs):
        spy.contexts.append(context_latents.detach().clone())
        return original_denoise(self, x_t, t, r, context_latents, *args, **kwargs)

    def embed_lyrics(self, prompts):
        spy.lyrics.extend(prompts)
        return original_lyrics(self, prompts)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(AudioVAE, "encode", encode)
        mp.setattr(AceStepDiT, "denoise", denoise)
        mp.setattr(TextEncoder, "embed_lyrics", embed_lyrics)
        yield spy


@pytest.fixture(scope="module")
def models():
    return ModelCache()


@pytest.fixture
def song():
    p = Project("Song")
    keys = p.assets.add(_tone(8.0, (220.0, 330.0), 0), "keys")
    bass = p.assets.add(_tone(8.0, (55.0, 82.0), 1), "bass")
    p.history.push(AddTrack("Keys", track_id="keys"))
    p.history.push(AddTrack("Bass", track_id="bass"))
    p.history.push(AddClip("keys", keys.id, AT, clip_id="k"))
    p.history.push(AddClip("bass", bass.id, AT, clip_id="b"))
    p.history.clear()
    return p


@pytest.fixture
def run(tiny_checkpoints, models, spies):
    def go(project, edit, ctx=None):
        spies.reset()
        return run_edit(project, edit, ctx, models)

    return go


def kw(tiny_checkpoints, **extra):
    return {"checkpoints": tiny_checkpoints, "device": "cpu", "seed": 5, **extra}


def mix(project, end=12 * SR):
    return render_range(build_render_plan(project), 0, end)


def cond_src(spies):
    """The source latents ([T, 64]) and chunk mask ([T]) of the conditional row of the first call."""
    ctx = spies.contexts[0][0]
    return ctx[:, :64], ctx[:, 64]


# ------------------------------------------------------------------ repaint


def test_repaint_honours_the_window_and_the_new_lyrics_and_leaves_the_outside_bit_identical(
        song, run, spies, tiny_checkpoints):
    before = mix(song)
    start, end = AT + 2 * SR, AT + 5 * SR
    edit = repaint_region(song, "k", start, end, caption="airy pad", lyrics="[verse]\nbrand new words",
                          context_s=1.0, **kw(tiny_checkpoints))
    landed = run(song, edit)
    clip = song.clip("k")
    (take_id,) = landed.take_ids
    take = clip.take(take_id)
    # The window: the model's chunk mask is 1 exactly over the window's latent frames (the source
    # starts 1 s before it), the source there is silenced, and around it is the clip's own audio.
    src, chunk = cond_src(spies)
    w0, w1 = SR // HOP, 4 * SR // HOP
    assert torch.all(chunk[w0:w1] == 1) and torch.all(chunk[:w0] == 0) and torch.all(chunk[w1:] == 0)
    context = render_clip_source(song, clip, 2 * SR - SR, 2 * SR)  # the 1 s before the window
    torch.testing.assert_close(src[:w0], spies.encode_audio(context)[:w0])
    # The new lyrics reach the model and are recorded.
    assert any("brand new words" in p for p in spies.lyrics)
    assert take.meta["request"]["lyrics"] == "[verse]\nbrand new words" and take.meta["edit"]["op"] == "repaint"
    # The take holds exactly the window and plays through a comp segment; the original stays.
    assert song.assets[take.asset_id].frames == end - start and take.offset == 2 * SR
    assert clip.comp == (CompSegment(2 * SR, 5 * SR, take_id),) and clip.active_take_id != take_id
    after = mix(song)
    assert np.array_equal(after[:, :start], before[:, :start]) and np.array_equal(after[:, end:], before[:, end:])
    assert not np.array_equal(after[:, start:end], before[:, start:end])
    # Crossfades inside the window: equal-power blend of the original and the region take.
    x = clip.crossfade
    phase = (np.arange(x) + 0.5) / x * (np.pi / 2)
    region = song.assets[take.asset_id].samples
    keys_only = render_range(build_render_plan(song).only_tracks(["keys"]), start, start + x)
    original = song.assets[clip.takes[0].asset_id].samples[:, 2 * SR : 2 * SR + x]
    np.testing.assert_allclose(keys_only, original * np.cos(phase) + region[:, :x] * np.sin(phase), atol=1e-6)
    # One undo step, redo gives it back.
    assert song.history.count == 1 and song.history.undo_text == "Repaint 'airy pad'"
    song.history.undo()
    assert np.array_equal(mix(song), before)
    song.history.redo()
    assert np.array_equal(mix(song), after)


def test_repaint_lyrics_change_the_result(song, run, tiny_checkpoints):
    outs = []
    for words in ("la la la", "completely different words here"):
        landed = run(song, repaint_region(song, "k", AT + SR, AT + 4 * SR, lyrics=words, context_s=0.5,
                                          **kw(tiny_checkpoints)))
        outs.append(song.assets[song.clip("k").take(landed.take_ids[0]).asset_id].samples)
    assert not np.allclose(outs[0], outs[1], atol=1e-5)


def test_repaint_window_is_checked_with_a_clear_message(song, tiny_checkpoints):
    with pytest.raises(ValidationError, match=r"^end: the repaint window must be 3–90 s long, got 2.00 s"):
        repaint_region(song, "k", AT, AT + 2 * SR, **kw(tiny_checkpoints))
    with pytest.raises(ValidationError, match="^end: the repaint window .* inside the clip"):
        repaint_region(song, "k", AT + 6 * SR, AT + 10 * SR, **kw(tiny_checkpoints))
    with pytest.raises(ValidationError, match="^repaint_strength"):
        repaint_region(song, "k", AT, AT + 3 * SR, strength=2.0, **kw(tiny_checkpoints))


def test_ab_rerender_and_retake_of_region_takes(song, run, models, tiny_checkpoints, tmp_path):
    first = run(song, repaint_region(song, "k", AT + SR, AT + 4 * SR, caption="one", context_s=0.5,
                                     **kw(tiny_checkpoints))).take_ids[0]
    second = run(song, repaint_region(song, "k", AT + SR, AT + 4 * SR, caption="two", context_s=0.5,
                                      **kw(tiny_checkpoints, seed=6))).take_ids[0]
    clip = song.clip("k")
    assert clip.comp == (CompSegment(SR, 4 * SR, second),)
    assert ab_switch(song, "k") and song.clip("k").comp == (CompSegment(SR, 4 * SR, first),)
    song.history.undo()
    assert song.clip("k").comp == (CompSegment(SR, 4 * SR, second),)
    # Re-render after save/reopen (the context the model heard is saved with the project).
    save_project(song, tmp_path / "S.legato")
    again = load_project(tmp_path / "S.legato")
    new = rerender_into(again, "k", second, checkpoints=tiny_checkpoints, models=models)
    clip = again.clip("k")
    assert clip.take(new).asset_id == clip.take(second).asset_id  # bit-identical audio
    assert clip.comp == (CompSegment(SR, 4 * SR, new),) and clip.take(new).offset == SR
    # Retake: a nearby variation, landing in the same region.
    landed = run(again, retake(again, "k", second, variance=0.3, retake_seed=99, checkpoints=tiny_checkpoints))
    rt = again.clip("k").take(landed.take_ids[0])
    assert rt.meta["request"]["retake_variance"] == 0.3 and rt.meta["request"]["retake_seed"] == 99
    assert again.clip("k").comp == (CompSegment(SR, 4 * SR, rt.id),)
    assert rt.asset_id != clip.take(second).asset_id


# ------------------------------------------------------------------ extend / intro


def test_extend_lengthens_the_clip_and_keeps_its_context(song, run, spies, tiny_checkpoints):
    clip = song.clip("k")
    old = render_clip_source(song, clip)
    edit = extend_clip(song, "k", clip.end + 3 * SR, context_s=2.0, caption="outro", **kw(tiny_checkpoints))
    landed = run(song, edit)
    clip = song.clip("k")
    assert clip.end == AT + LENGTH + 3 * SR and clip.active_take_id == landed.take_ids[0]
    # The model heard the clip's last 2 s (not silence) before the painted part.
    src, chunk = cond_src(spies)
    c = 2 * SR // HOP
    torch.testing.assert_close(src[:c], spies.encode_audio(old[:, -2 * SR :])[:c])
    assert torch.all(chunk[:c] == 0) and torch.all(chunk[c : c + 3 * SR // HOP] == 1)
    # The new take starts with the clip's audio, unchanged up to the join's splice ramp.
    new = song.assets[clip.active_take.asset_id].samples
    assert new.shape[1] == LENGTH + 3 * SR
    keep = LENGTH - int(0.05 * SR)
    np.testing.assert_array_equal(new[:, :keep], old[:, :keep])
    assert np.abs(new[:, LENGTH:]).max() > 0
    assert clip.active_take.meta["edit"]["context_s"] == 2.0
    song.history.undo()
    assert song.clip("k").end == AT + LENGTH and len(song.clip("k").takes) == 1


def test_extend_context_length_is_checked(song, tiny_checkpoints):
    end = song.clip("k").end
    with pytest.raises(ValidationError, match="^context_s: must be 1–"):
        extend_clip(song, "k", end + 3 * SR, context_s=0.5, **kw(tiny_checkpoints))
    with pytest.raises(ValidationError, match="^new_end: must be after"):
        extend_clip(song, "k", end - SR, **kw(tiny_checkpoints))
    with pytest.raises(ValidationError, match="^new_end: the extension must be 3–90 s"):
        extend_clip(song, "k", end + SR, **kw(tiny_checkpoints))


def test_intro_starts_earlier_and_the_old_takes_still_sound_where_they_did(song, run, spies, tiny_checkpoints):
    before = mix(song)
    old_take = song.clip("k").active_take_id
    landed = run(song, add_intro(song, "k", 0, context_s=1.0, caption="intro", **kw(tiny_checkpoints)))
    clip = song.clip("k")
    assert clip.position == 0 and clip.end == AT + LENGTH and clip.active_take_id == landed.take_ids[0]
    src, chunk = cond_src(spies)
    i = AT // HOP
    assert torch.all(chunk[:i] == 1) and torch.all(chunk[i:] == 0)
    original = song.assets[clip.take(old_take).asset_id].samples
    torch.testing.assert_close(src[i : i + SR // HOP], spies.encode_audio(original[:, :SR])[: SR // HOP])
    new = song.assets[clip.active_take.asset_id].samples
    assert new.shape[1] == AT + LENGTH
    np.testing.assert_array_equal(new[:, AT + SR :], original[:, SR:])  # after the context: unchanged
    song.history.push(SetActiveTake("k", old_take))  # the original, shifted: same place, same audio
    assert np.array_equal(mix(song)[:, AT:], before[:, AT:])


# ------------------------------------------------------------------ lego / extract / complete


def test_add_layer_hears_the_audible_mix_mute_changes_it_and_lands_aligned(song, run, spies, tiny_checkpoints):
    start, end = AT + SR, AT + 5 * SR
    seen = []
    for muted in (False, True):
        song.history.push(SetTrackMute(track_id="bass", new=muted))
        expected = render_range(build_render_plan(song), start, end)
        landed = run(song, add_layer(song, start, end, "drums", caption="tight drums", steps=2,
                                     **kw(tiny_checkpoints)))
        src, _ = cond_src(spies)
        frames = (end - start) // HOP
        torch.testing.assert_close(src[:frames], spies.encode_audio(expected)[:frames])
        seen.append(src[:frames].clone())
        (track_id,) = landed.track_ids
        track = song.track(track_id)
        assert track.name == "Drums" and track.kind == "stem" and track.stem == "drums"
        (clip,) = track.clips
        assert clip.position == start and clip.length == end - start  # sample-aligned
        meta = clip.active_take.meta
        assert meta["edit"]["source_tracks"] == (["keys"] if muted else ["keys", "bass"])
        assert meta["task"] == "lego" and meta["request"]["tracks"] == ["drums"]
        song.history.undo()
        song.history.undo()  # and the mute
    assert not torch.allclose(seen[0], seen[1]), "muting a track must change what the model hears"


def test_lego_and_complete_never_ignore_the_source(song, tiny_checkpoints):
    """Upstream's top pain: lego/complete ran on silence. A silent selection is refused."""
    song.history.push(SetTrackMute(track_id="keys", new=True))
    song.history.push(SetTrackMute(track_id="bass", new=True))
    with pytest.raises(ValidationError, match="silent"):
        add_layer(song, AT, AT + 3 * SR, "bass", **kw(tiny_checkpoints))
    with pytest.raises(ValidationError, match="silent"):
        complete_tracks(song, ["keys"], 0, 2 * SR, ["drums"], **kw(tiny_checkpoints))  # before the clips
    with pytest.raises(ValidationError, match="^instrument: unknown track 'kazoo'"):
        add_layer(song, AT, AT + 3 * SR, "kazoo", **kw(tiny_checkpoints))


def test_extract_three_stems_is_one_job_with_one_encode_and_three_aligned_tracks(song, run, spies, tiny_checkpoints):
    from engine.jobs.multi_generation import MultiGenerateJob

    start, end = AT + SR, AT + 4 * SR
    edit = extract_stems(song, ["k"], start, end, ["vocals", "drums", "bass"], steps=2, **kw(tiny_checkpoints))
    assert isinstance(edit.job, MultiGenerateJob) and len(edit.job.requests) == 3
    stages = []
    landed = run(song, edit, JobContext(on_progress=lambda p: stages.append(p.stage)))
    assert len(spies.encodes) == 1, "the source is encoded once for all stems"
    assert {s.split(" · ")[0] for s in stages} == {"vocals 1/3", "drums 2/3", "bass 3/3"}
    names = [song.track(t).name for t in landed.track_ids]
    assert names == ["Vocals", "Drums", "Bass"]
    assert [t.id for t in song.tracks][1:4] == list(landed.track_ids)  # right under the source
    for tid in landed.track_ids:
        track = song.track(tid)
        assert track.colour == song.track("keys").colour and track.kind == "stem"
        (clip,) = track.clips
        assert (clip.position, clip.length) == (start, end - start)
    # the source is the chosen clip only (not the bass underneath)
    src, _ = cond_src(spies)
    keys_only = render_range(build_render_plan(song).only_clips(["k"]), start, end)
    torch.testing.assert_close(src[:50], spies.encode_audio(keys_only)[:50])
    assert song.history.count == 1


def test_multi_part_job_cancels_across_parts(song, tiny_checkpoints, models):
    edit = extract_stems(song, ["keys"], AT, AT + 2 * SR, ["vocals", "drums"], steps=2, **kw(tiny_checkpoints))
    ctx = JobContext()

    def cancel_in_part_two(p):
        if p.stage.startswith("drums"):
            ctx.cancel_token.cancel()

    ctx.on_progress = cancel_in_part_two
    with pytest.raises(Cancelled):
        edit.job.run(models, ctx)


def test_complete_on_a_vocal_track_lands_aligned_tracks(song, run, spies, tiny_checkpoints):
    start, end = AT, AT + 3 * SR
    landed = run(song, complete_tracks(song, ["keys"], start, end, ["drums", "bass"], steps=2,
                                       **kw(tiny_checkpoints)))
    src, _ = cond_src(spies)
    keys_only = render_range(build_render_plan(song).only_tracks(["keys"]), start, end)
    torch.testing.assert_close(src[:50], spies.encode_audio(keys_only)[:50])
    assert [song.track(t).name for t in landed.track_ids] == ["Drums", "Bass"]
    for tid in landed.track_ids:
        (clip,) = song.track(tid).clips
        assert (clip.position, clip.length) == (start, end - start)
        assert clip.active_take.meta["task"] == "complete"


# ------------------------------------------------------------------ remix, gating, prefill


def test_remix_makes_a_new_active_take_of_the_whole_clip(song, run, tiny_checkpoints):
    song_clip = song.clip("k")
    landed = run(song, remix_clip(song, "k", caption="jazz", strength=0.6, **kw(tiny_checkpoints)))
    clip = song.clip("k")
    assert clip.active_take_id == landed.take_ids[0] and len(clip.takes) == 2
    take = clip.active_take
    assert song.assets[take.asset_id].frames == song_clip.length and take.offset == clip.source_offset
    assert take.meta["request"]["audio_cover_strength"] == 0.6 and take.meta["task"] == "cover"


def test_base_model_needed_names_the_model_and_the_command(tiny_checkpoints, tmp_path, song):
    assert base_model_needed("lego", tiny_checkpoints) is None
    assert base_model_needed("repaint", tmp_path) is None
    only_turbo = tmp_path / "ckpt"
    (only_turbo / "acestep-v15-turbo").mkdir(parents=True)
    (only_turbo / "acestep-v15-turbo" / "config.json").write_bytes(
        (tiny_checkpoints / "acestep-v15-turbo" / "config.json").read_bytes())
    message = base_model_needed("extract", only_turbo)
    assert "acestep-v15-base" in message and "legato models download acestep-v15-base" in message
    with pytest.raises(ValidationError, match="^model: 'lego' needs a base-family model"):
        add_layer(song, AT, AT + 3 * SR, "drums", checkpoints=only_turbo)


def test_prefill_from_provenance_else_the_project(song, run, tiny_checkpoints):
    d = prefill(song, "k")
    assert d.caption == "" and d.bpm == 120 and d.timesignature == "4"
    run(song, remix_clip(song, "k", caption="dreamy", lyrics="oh oh", bpm=90, keyscale="C major",
                         **kw(tiny_checkpoints)))
    d = prefill(song, "k")
    assert (d.caption, d.lyrics, d.bpm, d.keyscale) == ("dreamy", "oh oh", 90, "C major")


# ------------------------------------------------------------------ CLI


def test_cli_edit_repaint_runs_inline_and_saves(song, spies, tiny_checkpoints, tmp_path, capsys):
    from engine.cli import main

    folder = save_project(song, tmp_path / "Song.legato")
    code = main(["edit", "repaint", str(folder), "--clip", "k", "--start", "4", "--end", "7",
                 "--context-seconds", "0.5", "--lyrics", "from the command line", "--seed", "3", "--quiet",
                 "--device", "cpu", "--checkpoints", str(tiny_checkpoints)])
    assert code == 0
    out = capsys.readouterr().out
    again = load_project(folder)
    clip = again.clip("k")
    (segment,) = clip.comp
    assert (segment.start, segment.end) == (SR, 4 * SR) and f"take {segment.take_id}" in out
    assert clip.take(segment.take_id).meta["request"]["lyrics"] == "from the command line"
    assert main(["edit", "layer", str(folder), "--start", "1", "--end", "2", "--instrument", "kazoo",
                 "--checkpoints", str(tiny_checkpoints)]) == 1
    assert "instrument: unknown track 'kazoo'" in capsys.readouterr().err
