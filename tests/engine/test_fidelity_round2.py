"""Small upstream mismatches found by a line-by-line review (issue 12, item 6), one test each.

Each of these failed before its fix; they need no model, except where a tokenizer is named.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.planner.metadata import Metadata, cot_yaml, value_text
from engine.planner.sampling import SamplingParams
from engine.tasks.conditioning import plan_task
from engine.tasks.diffusion import fit_frames
from engine.tasks.prompts import format_metas, lyric_prompt
from engine.tasks.request import GenerationRequest


def test_fit_frames_pads_with_the_first_silence_frames_as_upstream():
    silence = torch.arange(10 * 64, dtype=torch.float32).reshape(1, 10, 64)  # [1, Ls, 64], distinct frames
    latents = torch.full((2, 3, 64), -1.0)  # [B, T'=3, 64]
    out = fit_frames(latents, 7, silence)
    assert out.shape == (2, 7, 64)
    torch.testing.assert_close(out[:, :3], latents)
    torch.testing.assert_close(out[:, 3:], silence[:, 0:4].expand(2, -1, -1))  # frames [0:pad], not [3:7]
    torch.testing.assert_close(fit_frames(torch.zeros(1, 9, 64), 5, silence), torch.zeros(1, 5, 64))


def test_lm_cfg_runs_only_for_a_scale_above_one():
    assert SamplingParams(cfg_scale=2.0).uses_cfg
    assert not SamplingParams(cfg_scale=1.0).uses_cfg
    assert not SamplingParams(cfg_scale=0.5).uses_cfg  # upstream: `cfg_scale > 1`


def test_the_cot_duration_is_an_integer():
    assert value_text("duration", 6.5) == "6"  # upstream injects int(duration)
    assert "duration: 6\n" in cot_yaml(Metadata(bpm=90, duration=6.5)) + "\n"
    assert value_text("duration", 30) == "30" and value_text("bpm", 120) == "120"


def test_empty_lyrics_are_passed_through_as_given():
    plan = plan_task(GenerationRequest(caption="x", lyrics=""), None)
    assert plan.lyrics == lyric_prompt("unknown", "")  # "# Lyric\n<|endoftext|>", not [Instrumental]
    assert plan_task(GenerationRequest(caption="x", lyrics="  "), None).lyrics == lyric_prompt("unknown", "  ")
    assert plan_task(GenerationRequest(caption="x", instrumental=True), None).lyrics == lyric_prompt(
        "unknown", "[Instrumental]")


def test_metas_duration_for_pasted_codes_is_the_users_else_upstreams_default():
    codes = tuple(range(100))  # 20 s of codes
    with_duration = plan_task(GenerationRequest(caption="x", audio_codes=codes, duration=45.0), None)
    assert with_duration.frames == 500  # the length follows the codes
    assert format_metas(None, "", "", 45.0) in with_duration.caption
    without = plan_task(GenerationRequest(caption="x", audio_codes=codes), None)
    assert "- duration: 30 seconds\n" in without.caption  # upstream's N/A default, not 20 s
    source = np.zeros((2, 48000 * 12), dtype=np.float32)
    cover = plan_task(GenerationRequest(task="cover", caption="x", audio_codes=codes, source_audio=source), source)
    assert "- duration: 12 seconds\n" in cover.caption and cover.frames == 500


def test_lyrics_budget_of_the_assist_tasks_is_upstreams():
    from engine.planner.assist import AssistOptions

    assert AssistOptions().max_lyrics_tokens == 4032  # context 4096 - 64


def test_non_cover_caption_is_padded_or_cropped_to_the_cover_prompts_length(tiny_checkpoints):
    """audio_cover_strength < 1: upstream pads (pad id, mask 0) or crops the non-cover caption ids
    to the cover prompt's length; the DiT then sees two conditions of one length."""
    from dataclasses import replace

    from engine.tasks.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_checkpoints(tiny_checkpoints)
    encoder = pipe.models.text
    req = GenerationRequest(task="cover", caption="x", audio_codes=(1,) * 30, audio_cover_strength=0.5)
    base_plan = plan_task(req, None)
    # The two instructions happen to tokenize to one length here; vary the non-cover caption so
    # both directions (shorter -> padded, longer -> cropped) are exercised.
    for caption in ("x", "x with many more words in the non cover caption"):
        plan = replace(base_plan, non_cover_caption=base_plan.non_cover_caption.replace(
            "Fill the audio semantic mask based on the given conditions:" if caption == "x" else "# Caption\nx",
            "Fill:" if caption == "x" else "# Caption\n" + caption))
        prompt = pipe.encode_prompt(plan, 2)
        cover_ids, _ = encoder.tokenize([plan.caption], 256)
        non_cover_ids, _ = encoder.tokenize([plan.non_cover_caption], 256)
        length, own = cover_ids.shape[1], non_cover_ids.shape[1]
        assert (own < length) if caption == "x" else (own > length)
        nc = prompt.non_cover
        assert nc.text_hidden_states.shape[:2] == nc.text_attention_mask.shape == (2, length)
        assert int(nc.text_attention_mask[0].sum()) == min(own, length)
        expected_ids = torch.full((1, length), encoder.tokenizer.pad_token_id)
        expected_ids[0, : min(own, length)] = non_cover_ids[0, :length]
        with torch.no_grad():
            expected = encoder.model(input_ids=expected_ids).last_hidden_state
        torch.testing.assert_close(nc.text_hidden_states[:1], expected, atol=1e-5, rtol=1e-5)
