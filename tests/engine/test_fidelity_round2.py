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
