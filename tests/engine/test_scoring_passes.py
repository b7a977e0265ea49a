"""The model passes that feed the scoring math: cross-attention capture on diffusers' decoder,
LM teacher forcing on Qwen3's real tokenizer, the scoring job, sidecar/.lrc files and the
project path (generate -> score -> LRC on disk and in the take's meta, one undo step)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

LYRICS = "[Verse]\nhello world\nsecond line here\n[Chorus]\nla la la"


@pytest.fixture(scope="module")
def pipeline(tiny_checkpoints):
    from engine.tasks.pipeline import GenerationPipeline

    return GenerationPipeline.from_checkpoints(tiny_checkpoints)


@pytest.fixture(scope="module")
def generated(pipeline):
    from engine.tasks.request import GenerationRequest

    req = GenerationRequest(caption="lofi piano", lyrics=LYRICS, duration=6, batch_size=2, seeds=(1, 2))
    return pipeline(req)


@pytest.fixture(scope="module")
def decoder_inputs_1(pipeline, generated):
    from engine.scoring.dit_judge import decoder_inputs
    from engine.scoring.judge import dit_request
    from engine.studio.landing import take_meta

    take = generated.takes[0]
    request, seed = dit_request(take_meta(take))
    return decoder_inputs(pipeline, request, seed, take.latents)


# ------------------------------------------------------------------ attention capture


def test_capture_leaves_the_output_identical_and_restores_processors(pipeline, decoder_inputs_1):
    from engine.scoring.attention_capture import CrossAttentionCapture

    dit, inp = pipeline.dit, decoder_inputs_1
    before = [layer.cross_attn.processor for layer in dit.transformer.layers]
    x = torch.randn(1, inp.latents.shape[1], inp.latents.shape[2], generator=torch.Generator().manual_seed(0))
    plain = dit.denoise(x, 0.5, 0.5, inp.context_latents, inp.encoder_hidden_states)
    with CrossAttentionCapture(dit.transformer, {1: (0, 3), 2: (1,)}, early_exit=False) as capture:
        assert not isinstance(dit.transformer.layers[1].cross_attn.processor, type(before[1]))
        captured = dit.denoise(x, 0.5, 0.5, inp.context_latents, inp.encoder_hidden_states)
        maps = capture.maps
    assert torch.equal(plain, captured)
    assert [layer.cross_attn.processor for layer in dit.transformer.layers] == before
    frames = -(-inp.latents.shape[1] // 2)  # patch size 2
    assert maps[1].shape == (1, 2, frames, inp.encoder_hidden_states.shape[1])
    torch.testing.assert_close(maps[1].sum(-1), torch.ones(1, 2, frames))  # softmax over keys


def test_capture_matches_attention_probabilities_computed_by_hand(pipeline, decoder_inputs_1):
    """The recorded map is softmax(q k^T / sqrt(d)) of the layer's own inputs (GQA head mapping)."""
    from engine.scoring.attention_capture import CrossAttentionCapture

    dit, inp = pipeline.dit, decoder_inputs_1
    attn = dit.transformer.layers[0].cross_attn
    seen = {}
    hook = attn.register_forward_pre_hook(lambda m, a, kw: seen.update(h=a[0] if a else kw["hidden_states"],
                                                                       e=kw["encoder_hidden_states"]),
                                          with_kwargs=True)
    x = torch.randn(1, inp.latents.shape[1], inp.latents.shape[2], generator=torch.Generator().manual_seed(1))
    try:
        with CrossAttentionCapture(dit.transformer, {0: (3,)}) as capture:
            capture.run(lambda: dit.denoise(x, 0.7, 0.7, inp.context_latents, inp.encoder_hidden_states))
    finally:
        hook.remove()
    q = attn.norm_q(attn.to_q(seen["h"]).unflatten(-1, (attn.heads, attn.head_dim)))[:, :, 3]
    k = attn.norm_k(attn.to_k(seen["e"]).unflatten(-1, (attn.kv_heads, attn.head_dim)))[:, :, 3 // 2]
    expected = (q @ k.transpose(-1, -2) / attn.head_dim**0.5).softmax(-1)  # [B, Q, K]
    torch.testing.assert_close(capture.maps[0][:, 0], expected.float(), atol=1e-5, rtol=1e-4)


def test_capture_stops_after_the_deepest_layer_and_restores_after_errors(pipeline, decoder_inputs_1):
    from engine.scoring.attention_capture import CrossAttentionCapture

    dit, inp = pipeline.dit, decoder_inputs_1
    reached = []
    hook = dit.transformer.layers[2].register_forward_hook(lambda *a: reached.append(2))
    x = torch.zeros(1, inp.latents.shape[1], inp.latents.shape[2])
    try:
        with CrossAttentionCapture(dit.transformer, {1: (0,)}) as capture:
            capture.run(lambda: dit.denoise(x, 1.0, 1.0, inp.context_latents, inp.encoder_hidden_states))
    finally:
        hook.remove()
    assert reached == []  # early exit: layer 2 never ran
    original = dit.transformer.layers[1].cross_attn.processor
    with pytest.raises(RuntimeError, match="boom"):
        with CrossAttentionCapture(dit.transformer, {1: (0,)}):
            raise RuntimeError("boom")
    assert dit.transformer.layers[1].cross_attn.processor is original
    with pytest.raises(ValueError, match="heads"):
        CrossAttentionCapture(dit.transformer, {1: (9,)})
    with pytest.raises(ValueError, match="layer 7"):
        CrossAttentionCapture(dit.transformer, {7: (0,)})


def test_upstream_heads_are_used_on_a_full_size_decoder_shape():
    from engine.scoring.dit_judge import alignment_heads
    from engine.scoring.lyric_alignment import ALIGNMENT_HEADS

    class Attn:
        heads = 16

    class Layer:
        cross_attn = Attn()

    class Big:
        layers = [Layer() for _ in range(24)]

    class Small:
        layers = [Layer() for _ in range(4)]

    assert alignment_heads(Big()) == (dict(ALIGNMENT_HEADS), "upstream")
    heads, note = alignment_heads(Small())
    assert heads == {i: tuple(range(16)) for i in range(4)} and "smaller" in note


def test_lyric_slice_and_token_texts(pipeline, decoder_inputs_1):
    from engine.scoring.dit_judge import lyric_range, token_texts

    tok = pipeline.models.text.tokenizer
    start, end = lyric_range(tok, decoder_inputs_1.lyric_ids, "unknown")
    texts = token_texts(tok, list(decoder_inputs_1.lyric_ids[start:end]))
    assert "".join(texts) == LYRICS
    assert decoder_inputs_1.lyric_ids[end] == tok.convert_tokens_to_ids("<|endoftext|>")


def test_judge_alignment_scores_and_lrc_with_tag_lines(pipeline, decoder_inputs_1):
    from engine.scoring.dit_judge import judge_alignment
    from engine.scoring.lrc import parse_lrc

    judged = judge_alignment(pipeline, decoder_inputs_1)
    for score in (judged.lm_alignment, judged.dit_alignment):
        assert 0.0 <= score.score <= 1.0
        assert score.score == pytest.approx(round(min(1.0, score.coverage**2 * score.monotonicity**2
                                                      * score.confidence), 4), abs=1e-4)
    parsed = parse_lrc(judged.lrc)
    assert [text for _, text in parsed] == ["[Verse]", "hello world", "second line here", "[Chorus]", "la la la"]
    starts = [s for s, _ in parsed]
    assert starts == sorted(starts) and all(0 <= s <= 6.0 for s in starts)


# ------------------------------------------------------------------ LM teacher forcing


@pytest.fixture(scope="module")
def qwen_lm(tiny_checkpoints_qwen3):
    from engine.planner.lm import PlannerLM

    return PlannerLM.load(tiny_checkpoints_qwen3, device="cpu")


def test_field_targets_are_upstreams_yaml():
    from engine.scoring.lm_judge import field_target, lyrics_target

    assert field_target("bpm", 120) == "<think>\nbpm: 120\n</think>\n"
    assert field_target("duration", 30.0) == "<think>\nduration: 30\n</think>\n"
    assert field_target("keyscale", "C major") == "<think>\nkeyscale: C major\n</think>\n"
    assert lyrics_target("la") == "<think>\n</think>\n# Lyric\nla\n"


def test_teacher_forcing_reads_the_logits_that_predict_each_target_token(qwen_lm):
    """On Qwen3's real tokenizer: prompt length from the prompt alone, targets from prompt +
    target tokenised together, row i = the full forward's logits at prompt_len - 1 + i."""
    from engine.planner.prompts import understand
    from engine.scoring.lm_judge import TeacherForcing, field_target

    prompt = understand("<|audio_code_5|><|audio_code_77|>")
    target = field_target("keyscale", "F# minor")
    forcing = TeacherForcing(qwen_lm)
    logits, targets = forcing.logits(prompt, target)
    prompt_ids = qwen_lm.tokenizer(prompt, add_special_tokens=True)["input_ids"]
    full = qwen_lm.tokenizer(prompt + target, add_special_tokens=True)["input_ids"]
    assert list(targets) == full[len(prompt_ids):]
    assert qwen_lm.tokenizer.decode(list(targets)) == target
    assert qwen_lm.tokenizer.convert_ids_to_tokens(int(targets[0])) == "<think>"  # one added token
    with torch.no_grad():
        every = qwen_lm.model(input_ids=torch.tensor([full])).logits[0].float()
    torch.testing.assert_close(logits, every[len(prompt_ids) - 1 : -1], atol=1e-4, rtol=1e-4)


def test_quality_of_a_planned_take_on_qwen3(qwen_lm):
    from engine.scoring.lm_judge import judge_quality, scored_values
    from engine.scoring.quality import global_score

    meta = {"request": {"caption": "user caption", "bpm": 90, "lyrics": "la la", "vocal_language": "en",
                        "keyscale": ""},
            "lm_metadata": {"bpm": 120, "caption": "lm caption", "audio_codes": [1, 2, 3, 4, 5]},
            "codes": [9, 9]}
    values = scored_values(meta)
    assert values == {"bpm": 120, "language": "en", "caption": "lm caption"}  # LM first, then user
    judged = judge_quality(qwen_lm, meta, sensitivity=0.5)
    assert set(judged.fields) == {"bpm", "language", "caption", "lyrics"}
    assert all(0.0 <= v <= 1.0 for v in judged.fields.values())
    for name in ("caption", "lyrics"):
        assert judged.fields[name] == pytest.approx(1 / (1 + np.exp(-judged.pmi[name] / 0.5)))
    meta_part = {k: judged.fields[k] for k in ("bpm", "language")}
    assert judged.quality == pytest.approx(global_score(judged.fields["caption"], judged.fields["lyrics"], meta_part))


def test_no_codes_means_no_quality(qwen_lm):
    from engine.scoring.lm_judge import judge_quality

    assert judge_quality(qwen_lm, {"request": {"caption": "x"}}).quality is None


# ------------------------------------------------------------------ job, files, project


def test_score_job_cancels_at_every_stage(tiny_checkpoints, generated):
    """A cancel raised at each progress report stops the job with Cancelled."""
    from engine.errors import Cancelled
    from engine.jobs import JobContext, ModelCache
    from engine.jobs.scoring import ScoreJob
    from engine.scoring.judge import TakeToScore
    from engine.studio.landing import take_meta

    take = generated.takes[0]
    job = ScoreJob(takes=(TakeToScore(meta=take_meta(take), latents=take.latents),), checkpoints=tiny_checkpoints,
                   device="cpu")
    models = ModelCache()
    stages = []
    job.run(models, JobContext(on_progress=lambda p: stages.append(p.stage)))
    assert {"load models", "load planner", "lm score", "alignment"} <= set(stages)
    stages.clear()
    job.run(models, JobContext(on_progress=lambda p: stages.append(p.stage)))  # models cached now
    assert {"lm score", "alignment"} == set(stages)
    for stage in dict.fromkeys(stages):
        ctx = JobContext()

        def on_progress(p, ctx=ctx, stage=stage):
            if p.stage == stage:
                ctx.cancel_token.cancel()

        ctx.on_progress = on_progress
        with pytest.raises(Cancelled):
            job.run(models, ctx)


def test_sidecar_and_lrc_written_beside_the_audio(tmp_path, generated):
    from engine.errors import ValidationError
    from engine.scoring.files import locate, write_scores
    from engine.scoring.judge import TakeScores
    from engine.scoring.lrc import LyricLine, format_lrc
    from engine.tasks.outputs import write_take

    written = write_take(generated.takes[0], tmp_path, "wav")
    files = locate(written.audio_path)
    assert files == locate(written.sidecar_path)
    lines = (LyricLine(0.0, 1.0, "[Verse]"), LyricLine(1.25, 2.0, "hello"))
    scores = TakeScores(quality=0.5, alignment=0.25, lm_alignment=0.1, fields={"bpm": 1.0},
                        lines=lines, lrc=format_lrc(lines))
    lrc = write_scores(files, scores)
    assert lrc == written.audio_path.with_suffix(".lrc")
    assert lrc.read_text() == "[00:00.00][Verse]\n[00:01.25]hello\n"
    meta = json.loads(written.sidecar_path.read_text())
    assert meta["scores"]["quality"] == 0.5 and meta["scores"]["fields"] == {"bpm": 1.0}
    assert meta["lrc"] == lrc.read_text()
    (tmp_path / "other.wav").write_bytes(b"x")
    with pytest.raises(ValidationError, match="no sidecar"):
        locate(tmp_path / "other.wav")


def test_full_path_generate_score_lrc_on_disk_and_in_the_project(tmp_path, tiny_checkpoints, generated):
    """Generate (a batch) -> land in a project -> score with the batch's latents -> one undo step
    storing "scores" and "lrc"; the CLI writes the same into the sidecar and a .lrc."""
    from engine.jobs import JobContext, ModelCache
    from engine.project import Project
    from engine.scoring.lrc import parse_lrc
    from engine.studio import apply_scores, land_batch, score_job_for_batch, takes_by_score

    project = Project("Song")
    landed = land_batch(project, generated)
    job = score_job_for_batch(project, landed.clip_id, landed.take_ids, generated, checkpoints=tiny_checkpoints,
                              device="cpu")
    scores = job.run(ModelCache(), JobContext.inline())
    steps = project.history.count
    apply_scores(project, [(landed.clip_id, t) for t in landed.take_ids], scores)
    clip = project.clip(landed.clip_id)
    for take, result in zip(clip.takes, scores, strict=True):
        assert take.meta["scores"]["alignment"] == round(result.alignment, 4)
        assert take.meta["scores"]["quality"] == round(result.quality, 4)
        assert [t for _, t in parse_lrc(take.meta["lrc"])][0] == "[Verse]"
    assert project.history.count == steps + 1 and project.history.undo_text == "Score 2 takes"
    ranked = takes_by_score(project, landed.clip_id)
    values = [project.clip(landed.clip_id).take(t).meta["scores"]["alignment"] for t in ranked]
    assert values == sorted(values, reverse=True)
    project.history.undo()
    assert all("scores" not in t.meta and "lrc" not in t.meta for t in project.clip(landed.clip_id).takes)



@pytest.mark.slow
def test_cli_scores_a_sidecar_from_its_audio(tmp_path, tiny_checkpoints, generated):
    """`legato score` on a take on disk: latents come back through the VAE (posterior mean)."""
    from engine.cli import main
    from engine.scoring.lrc import parse_lrc
    from engine.tasks.outputs import write_take

    written = write_take(generated.takes[1], tmp_path, "wav")
    assert main(["score", "--checkpoints", str(tiny_checkpoints), "--device", "cpu", str(written.sidecar_path)]) == 0
    lrc = written.audio_path.with_suffix(".lrc").read_text()
    assert [t for _, t in parse_lrc(lrc)] == ["[Verse]", "hello world", "second line here", "[Chorus]", "la la la"]
    meta = json.loads(written.sidecar_path.read_text())
    assert meta["lrc"] == lrc and 0.0 <= meta["scores"]["alignment"] <= 1.0


def test_set_take_meta_undoes_and_survives_save(tmp_path):
    from engine.project import Project
    from engine.project.commands import AddClip, AddTrack, SetTakeMeta
    from engine.project.io import load_project, save_project

    project = Project("Song")
    h = project.history
    track = h.push(AddTrack("A")).track_id
    asset = project.assets.add(np.zeros((2, 48_000), np.float32), "a")
    clip = h.push(AddClip(track, asset.id, 0, take_meta={"seed": 3})).clip_id
    take = project.clip(clip).takes[0]
    h.push(SetTakeMeta(clip, take.id, {"scores": {"quality": 0.5}, "lrc": "[00:00.00]la\n"}))
    assert dict(project.clip(clip).takes[0].meta) == {"seed": 3, "scores": {"quality": 0.5}, "lrc": "[00:00.00]la\n"}
    assert project.clip(clip).takes[0].id == take.id
    save_project(project, tmp_path / "Song.legato")
    again = load_project(tmp_path / "Song.legato")
    assert again.clip(clip).takes[0].meta["lrc"] == "[00:00.00]la\n"
    h.push(SetTakeMeta(clip, take.id, {"lrc": None}))
    assert "lrc" not in project.clip(clip).takes[0].meta
    h.undo()
    h.undo()
    assert dict(project.clip(clip).takes[0].meta) == {"seed": 3}
    with pytest.raises(KeyError):
        h.push(SetTakeMeta(clip, "take-nope", {"x": 1}))


def test_project_lrc_places_take_lines_on_the_timeline(tmp_path):
    from engine.audio.export import project_lrc, write_lrc_beside
    from engine.project import Project
    from engine.project.commands import AddClip, AddTrack, SetTrackMute, TrimClip

    project = Project("Song")
    h = project.history
    track = h.push(AddTrack("A")).track_id
    asset = project.assets.add(np.zeros((2, 10 * 48_000), np.float32), "a")
    lrc = "[00:00.00][Verse]\n[00:01.00]one\n[00:05.00]two\n[00:09.00]three\n"
    clip = h.push(AddClip(track, asset.id, 2 * 48_000, take_meta={"lrc": lrc})).clip_id
    assert project_lrc(project) == "[00:02.00][Verse]\n[00:03.00]one\n[00:07.00]two\n[00:11.00]three\n"
    # Relative to an exported range [4 s, 10 s): only the lines inside, moved to its start.
    assert project_lrc(project, 4 * 48_000, 10 * 48_000) == "[00:03.00]two\n"
    h.push(TrimClip(clip, "start", 6 * 48_000))  # the clip now starts 4 s into its take
    assert project_lrc(project) == "[00:07.00]two\n[00:11.00]three\n"
    h.push(SetTrackMute(track, True))
    assert project_lrc(project) == ""
    assert write_lrc_beside(tmp_path / "mix.flac", "") is None
    assert write_lrc_beside(tmp_path / "mix.flac", "[00:01.00]x\n").read_text() == "[00:01.00]x\n"
