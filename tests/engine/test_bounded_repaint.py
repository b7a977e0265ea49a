"""Bounded-context repaint and extend (issue 17 item 4), headless on the tiny checkpoints.

Checks: the DiT is given window + 2 x margin frames (not the song) and the VAE decodes only the
window plus DECODE_MARGIN_FRAMES; outside the window + crossfade the output is the source, bit
for bit; a generated take's latents are remembered at landing and reused (the encoder is never
called); without them only the crop is encoded; extend in bounded mode; full mode still hears
the whole clip; the provenance records mode, margin and where the latents came from; a bad mode
or margin is a ValidationError naming the parameter.

The VAE encoder is the fast stand-in of tests/fast_encoder.py (the tiny encoder costs ~2 s per
second of audio); the DiT and the VAE decoder are real.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ValidationError
from engine.jobs import JobContext, ModelCache
from engine.project import Project
from engine.project.commands import AddClip, AddTrack
from engine.studio import extend_clip, generate_into, repaint_region, rerender_into, run_edit
from engine.studio.latent_store import default_store
from tests.fast_encoder import patch_fast_encoder, stand_in_latents

torch = pytest.importorskip("torch")

SR = 48_000
HOP = 1920
SONG_S = 12.0


def _tone(seconds: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    left = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 331 * t) + 0.01 * rng.standard_normal(t.size)
    return np.stack([left, np.roll(left, 40)]).astype(np.float32)


class Spy:
    def __init__(self):
        self.dit_frames: list[int] = []  # sequence length of every DiT call
        self.contexts: list[torch.Tensor] = []
        self.decoded: list[int] = []  # latent frames of every VAE decode
        self.encodes: list[int] = []


@pytest.fixture
def spy(monkeypatch):
    from engine.models.dit import AceStepDiT
    from engine.models.vae import AudioVAE

    s = Spy()
    s.encodes = patch_fast_encoder(monkeypatch)
    denoise, decode = AceStepDiT.denoise, AudioVAE.decode

    def spy_denoise(self, x_t, t, r, context_latents, *args, **kwargs):
        s.dit_frames.append(int(x_t.shape[1]))
        s.contexts.append(context_latents.detach().clone())
        return denoise(self, x_t, t, r, context_latents, *args, **kwargs)

    def spy_decode(self, latents, *args, **kwargs):
        s.decoded.append(int(latents.shape[1]))
        return decode(self, latents, *args, **kwargs)

    monkeypatch.setattr(AceStepDiT, "denoise", spy_denoise)
    monkeypatch.setattr(AudioVAE, "decode", spy_decode)
    default_store().clear()
    yield s
    default_store().clear()


@pytest.fixture(scope="module")
def models():
    return ModelCache()


def kw(ckpt, **extra):
    return {"checkpoints": ckpt, "device": "cpu", "seed": 5, **extra}


def _vae_identity(ckpt) -> str:
    from engine.tasks.components import model_identity
    from engine.tasks.source_latents import vae_identity

    ident = model_identity(ckpt / "vae")
    return vae_identity(ident.name, dict(ident.weight_sha256))


@pytest.fixture
def song(spy, tiny_checkpoints):
    """A 12 s clip whose take's latents are in the store (what landing a generated take does),
    here the stand-in encoder's latents of its audio, with a gain of 0.5."""
    p = Project("Song")
    asset = p.assets.add(_tone(SONG_S, 0), "keys")
    p.history.push(AddTrack("Keys", track_id="keys"))
    p.history.push(AddClip("keys", asset.id, 0, clip_id="k"))
    p.history.clear()
    latents = stand_in_latents(torch.from_numpy(asset.samples.copy())[None])[0].numpy()  # [300, 64]
    default_store().put(asset.id, latents, gain=0.5, vae=_vae_identity(tiny_checkpoints))
    return p, latents


def test_bounded_repaint_denoises_window_plus_margins_reuses_latents_and_keeps_the_rest(
        song, spy, models, tiny_checkpoints):
    from engine.tasks.regions import DECODE_MARGIN_FRAMES

    project, latents = song
    before = project.assets[project.clip("k").active_take.asset_id].samples
    edit = repaint_region(project, "k", 5 * SR, 9 * SR, caption="pad", context_s=2.0, **kw(tiny_checkpoints))
    req = edit.job.request
    assert req.decode_window_only and req.source_latents is not None and req.source_latents.gain == 0.5
    assert req.source_audio.shape[1] == 8 * SR  # the crop: 3 s .. 11 s
    result = edit.job.run(models, JobContext.inline())
    # The DiT saw window + 2 x margin = 8 s = 200 frames, never the 300-frame song.
    assert set(spy.dit_frames) == {200}
    # No VAE encode: the source latents are the take's own (3 s = frame 75 on).
    assert spy.encodes == []
    src = spy.contexts[0][0, :, :64]
    w0, w1 = 2 * SR // HOP, 6 * SR // HOP
    torch.testing.assert_close(src[:w0], torch.from_numpy(latents[75 : 75 + w0]))
    torch.testing.assert_close(src[w1:], torch.from_numpy(latents[75 + w1 : 75 + 200]))
    # Only the window (+ margins) went through the decoder.
    assert spy.decoded == [w1 - w0 + 2 * (DECODE_MARGIN_FRAMES + 1) + 2 * 1]  # +1 guard, +1 crossfade frame
    # Outside the window and its splice crossfade, the output IS the source, bit for bit.
    take = result.takes[0]
    fade = int(0.05 * 0.5 * SR)  # balanced, strength 0.5: a 25 ms waveform crossfade
    crop = before[:, 3 * SR : 11 * SR]
    np.testing.assert_array_equal(take.audio[:, : 2 * SR - fade], crop[:, : 2 * SR - fade])
    np.testing.assert_array_equal(take.audio[:, 6 * SR + fade :], crop[:, 6 * SR + fade :])
    assert not np.allclose(take.audio[:, 2 * SR : 6 * SR], crop[:, 2 * SR : 6 * SR])
    assert take.provenance.source_latents == "cached"
    # Landing: the mix outside the window is unchanged; the edit records mode and margin.
    landed = edit.land(project, result)
    meta = project.clip("k").take(landed.take_ids[0]).meta
    assert meta["edit"]["context_mode"] == "bounded" and meta["edit"]["margin_s"] == 2.0
    assert meta["edit"]["context"] == [3 * SR, 11 * SR] and meta["source_latents"] == "cached"
    assert meta["edit"]["latents"]["asset"] == project.clip("k").active_take.asset_id


def test_full_mode_hears_and_decodes_the_whole_clip(song, spy, models, tiny_checkpoints):
    project, _ = song
    edit = repaint_region(project, "k", 5 * SR, 9 * SR, context="full", **kw(tiny_checkpoints))
    assert not edit.job.request.decode_window_only
    landed = run_edit(project, edit, models=models)
    assert set(spy.dit_frames) == {300} and spy.decoded == [300] and spy.encodes == []
    meta = project.clip("k").take(landed.take_ids[0]).meta
    assert meta["edit"]["context_mode"] == "full" and meta["edit"]["margin_s"] is None
    assert meta["edit"]["context"] == [0, int(SONG_S * SR)]


def test_without_stored_latents_only_the_crop_is_encoded(song, spy, models, tiny_checkpoints):
    project, _ = song
    default_store().clear()
    edit = repaint_region(project, "k", 5 * SR, 9 * SR, context_s=2.0, **kw(tiny_checkpoints))
    assert edit.job.request.source_latents is None
    result = edit.job.run(models, JobContext.inline())
    assert spy.encodes == [8 * SR] and set(spy.dit_frames) == {200}
    assert result.takes[0].provenance.source_latents == "encoded"


def test_latents_from_another_vae_are_not_used(song, spy, models, tiny_checkpoints):
    project, latents = song
    asset_id = project.clip("k").active_take.asset_id
    default_store().put(asset_id, latents, vae="some-other-vae@0000")
    # (seed 7: the pipeline remembers the encode of a (crop, seed) pair from the test before)
    edit = repaint_region(project, "k", 5 * SR, 9 * SR, context_s=2.0, **kw(tiny_checkpoints, seed=7))
    result = edit.job.run(models, JobContext.inline())
    assert spy.encodes == [8 * SR] and result.takes[0].provenance.source_latents == "encoded"


def test_bounded_decode_matches_a_whole_decode_inside_the_window(song, spy, models, tiny_checkpoints):
    """The VAE decoder's receptive field is shorter than DECODE_MARGIN_FRAMES: decoding only the
    window + margin gives the window a whole decode gives (same latents, same seed)."""
    project, _ = song
    edit = repaint_region(project, "k", 5 * SR, 9 * SR, context_s=2.0, **kw(tiny_checkpoints))
    bounded = edit.job.run(models, JobContext.inline()).takes[0]
    whole_req = edit.job.request.with_changes(decode_window_only=False)
    from dataclasses import replace

    whole = replace(edit.job, request=whole_req).run(models, JobContext.inline()).takes[0]
    np.testing.assert_array_equal(bounded.latents, whole.latents)
    inside = slice(2 * SR, 6 * SR)
    err = np.abs(bounded.audio[:, inside] - whole.audio[:, inside]).max()
    assert err <= 1e-4 * max(1e-3, float(np.abs(whole.audio[:, inside]).max())), err


def test_a_generated_take_lands_with_its_latents_and_a_repaint_never_encodes(spy, models, tiny_checkpoints):
    from engine.tasks.request import GenerationRequest

    project = Project("Gen")
    landed = generate_into(project, GenerationRequest(caption="synth", duration=12.0, seeds=(3,)),
                           checkpoints=tiny_checkpoints, device="cpu", models=models)
    clip = project.clip(landed.clip_id)
    entry = default_store().get(clip.active_take.asset_id)
    assert entry is not None and entry.latents.shape == (300, 64) and entry.origin == 0
    assert entry.gain != 1.0  # the take was loudness-normalised after decoding
    spy.encodes.clear()
    edit = repaint_region(project, clip.id, 4 * SR, 8 * SR, context_s=2.0, **kw(tiny_checkpoints))
    assert edit.job.request.source_latents.gain == pytest.approx(entry.gain)
    (take_id,) = run_edit(project, edit, models=models).take_ids
    assert spy.encodes == []  # the encoder was never called, neither at landing nor for the repaint
    # A re-render cuts the same latents again (the edit's provenance records where from): bit-identical.
    new = rerender_into(project, clip.id, take_id, checkpoints=tiny_checkpoints, models=models)
    assert project.clip(clip.id).take(new).asset_id == project.clip(clip.id).take(take_id).asset_id
    assert spy.encodes == []


def test_bounded_extend_hears_the_context_and_decodes_only_the_new_part(song, spy, models, tiny_checkpoints):
    from engine.tasks.regions import DECODE_MARGIN_FRAMES

    project, latents = song
    clip = project.clip("k")
    before = project.assets[clip.active_take.asset_id].samples
    edit = extend_clip(project, "k", clip.end + 4 * SR, context_s=3.0, caption="outro", **kw(tiny_checkpoints))
    req = edit.job.request
    assert req.decode_window_only and req.source_latents is not None
    landed = run_edit(project, edit, models=models)
    assert set(spy.dit_frames) == {175} and spy.encodes == []  # 3 s context + 4 s new = 175 frames
    torch.testing.assert_close(spy.contexts[0][0, :75, :64], torch.from_numpy(latents[225:300]))
    assert spy.decoded == [100 + DECODE_MARGIN_FRAMES + 1 + 1]  # the new part + margin (+ guard, fade)
    take = project.clip("k").take(landed.take_ids[0])
    audio = project.assets[take.asset_id].samples
    assert audio.shape[1] == int((SONG_S + 4) * SR)
    fade = int(0.025 * SR)  # the splice's 25 ms ramp into the new part lies in the context's end
    np.testing.assert_array_equal(audio[:, : int(SONG_S * SR) - fade], before[:, :-fade])  # bit for bit
    assert take.meta["edit"]["context_mode"] == "bounded" and take.meta["edit"]["margin_s"] == 3.0
    # The extended take's latents are stored too: the old take's for the head, then its own, so
    # a later bounded repaint anywhere in it needs no encode either.
    entry = default_store().get(take.asset_id)
    assert entry is not None and entry.origin == 0 and entry.latents.shape[0] == 225 + 175
    np.testing.assert_array_equal(entry.latents[:225], latents[:225])
    assert entry.gain == pytest.approx(0.5)  # the old take's gain carried through the cached extend
    again = repaint_region(project, "k", 2 * SR, 6 * SR, context_s=1.0, **kw(tiny_checkpoints))
    assert again.job.request.source_latents is not None
    full = extend_clip(project, "k", project.clip("k").end + 4 * SR, context="full", **kw(tiny_checkpoints))
    assert not full.job.request.decode_window_only


def test_bad_mode_or_margin_is_a_validation_error_naming_it(song, tiny_checkpoints):
    project, _ = song
    with pytest.raises(ValidationError, match="^context: must be one of bounded, full"):
        repaint_region(project, "k", 5 * SR, 9 * SR, context="wide", **kw(tiny_checkpoints))
    with pytest.raises(ValidationError, match="^context_s: must be 0–600 s, got -1"):
        repaint_region(project, "k", 5 * SR, 9 * SR, context_s=-1.0, **kw(tiny_checkpoints))
    with pytest.raises(ValidationError, match="^context_s: a context margin applies to context='bounded' only"):
        repaint_region(project, "k", 5 * SR, 9 * SR, context="full", context_s=5.0, **kw(tiny_checkpoints))
    with pytest.raises(ValidationError, match="^context_s: must be 1–"):
        extend_clip(project, "k", project.clip("k").end + 4 * SR, context_s=0.2, **kw(tiny_checkpoints))
    with pytest.raises(ValidationError, match="^context: must be one of"):
        extend_clip(project, "k", project.clip("k").end + 4 * SR, context=None, **kw(tiny_checkpoints))


def test_request_checks_its_bounded_fields():
    from engine.tasks.request import GenerationRequest, validate_request
    from engine.tasks.source_latents import SourceLatents

    with pytest.raises(ValidationError, match="^decode_window_only: only repaint and lego"):
        validate_request(GenerationRequest(task="text2music", decode_window_only=True))
    with pytest.raises(ValidationError, match="^source_latents: must be a float32"):
        SourceLatents(np.zeros((3,), np.float32), vae="v")
    with pytest.raises(ValidationError, match="^source_latents: need the source audio"):
        validate_request(GenerationRequest(task="text2music", source_latents=SourceLatents(
            np.zeros((4, 64), np.float32), vae="v")))


def test_latent_store_is_bounded_least_recently_used_first():
    from engine.studio.latent_store import LatentStore

    store = LatentStore(max_bytes=3 * 100 * 64 * 4)  # room for three [100, 64] entries
    for name in "abcd":
        store.put(name, np.ones((100, 64), np.float32), vae="v")
        if name == "b":
            assert store.get("a") is not None  # "a" is now more recent than "b"
    assert len(store) == 3 and store.get("b") is None and store.get("a") is not None
    assert store.nbytes <= store.max_bytes
    with pytest.raises(ValidationError, match="^max_bytes"):
        LatentStore(max_bytes=-1)
