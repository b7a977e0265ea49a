"""Request validation (every error names its parameter), prompts, regions, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ValidationError
from engine.tasks import constants as C
from engine.tasks.prompts import caption_prompt, format_metas, instruction_for, lyric_prompt
from engine.tasks.regions import plan_region, repaint_settings, splice_mask
from engine.tasks.request import (
    GenerationRequest,
    request_from_dict,
    request_to_dict,
    resolve_seeds,
    validate_request,
)

SRC = np.zeros((2, 48000), dtype=np.float32)

BAD = [
    ("task", dict(task="remix")),
    ("bpm", dict(bpm=10)),
    ("bpm", dict(bpm=120.5)),
    ("timesignature", dict(timesignature="5")),
    ("duration", dict(duration=0.5)),
    ("duration", dict(duration=1000.0)),
    ("source_audio", dict(task="repaint")),
    ("source_audio", dict(task="lego", tracks=("drums",))),
    ("source_audio", dict(task="cover")),
    ("source_audio", dict(task="cover", source_audio=np.zeros((2, 2, 2), dtype=np.float32))),
    ("audio_codes", dict(audio_codes=(1, 70000))),
    ("repaint_end", dict(task="repaint", source_audio=SRC, repaint_start=10.0, repaint_end=11.0)),
    ("repaint_end", dict(task="repaint", source_audio=SRC, repaint_start=0.0, repaint_end=100.0)),
    ("repaint_end", dict(task="repaint", source_audio=SRC, repaint_start=5.0, repaint_end=4.0)),
    ("repaint_mode", dict(repaint_mode="wild")),
    ("repaint_strength", dict(repaint_strength=1.5)),
    ("audio_cover_strength", dict(audio_cover_strength=-0.1)),
    ("cover_noise_strength", dict(cover_noise_strength=2.0)),
    ("tracks", dict(tracks=("kazoo",))),
    ("tracks", dict(task="lego", source_audio=SRC, tracks=("drums", "bass"))),
    ("steps", dict(steps=0)),
    ("steps", dict(steps=500)),
    ("guidance_scale", dict(guidance_scale=0.5)),
    ("shift", dict(shift=9.0)),
    ("infer_method", dict(infer_method="heun")),
    ("timesteps", dict(timesteps=(0.5, 0.9))),
    ("timesteps", dict(timesteps=(1.5,))),
    ("cfg_interval_start", dict(cfg_interval_start=0.8, cfg_interval_end=0.2)),
    ("cfg_interval_end", dict(cfg_interval_end=2.0)),
    ("guidance_method", dict(guidance_method="pag")),
    ("dcw_mode", dict(dcw_mode="mid")),
    ("batch_size", dict(batch_size=9)),
    ("batch_size", dict(batch_size=0)),
    ("seeds", dict(seeds=(1, 2, 3), batch_size=2)),
    ("seeds", dict(seeds=(-5,))),
    ("lm_temperature", dict(lm_temperature=5.0)),
    ("output_format", dict(output_format="ogg")),
]


@pytest.mark.parametrize(("param", "kwargs"), BAD, ids=[f"{p}-{i}" for i, (p, _) in enumerate(BAD)])
def test_every_validation_error_names_the_parameter(param, kwargs):
    with pytest.raises(ValidationError) as info:
        validate_request(GenerationRequest(**kwargs))
    assert str(info.value).startswith(f"{param}:"), str(info.value)


def test_good_requests_pass():
    validate_request(GenerationRequest(caption="x", bpm=120, timesignature="4", duration=30.0))
    validate_request(GenerationRequest(task="repaint", source_audio=SRC, repaint_start=10, repaint_end=13))
    validate_request(GenerationRequest(task="repaint", source_audio=SRC, repaint_start=10, repaint_end=-1))
    validate_request(GenerationRequest(task="complete", source_audio=SRC, tracks=("drums", "bass")))
    validate_request(GenerationRequest(task="cover", audio_codes=(1, 2, 3)))


def test_thinking_is_forced_off_for_tasks_that_follow_audio():
    for task in ("lego", "extract", "complete", "repaint", "cover"):
        assert not GenerationRequest(task=task, source_audio=SRC, thinking=True).effective_thinking
    assert GenerationRequest(thinking=True).effective_thinking


def test_instructions_are_verbatim():
    assert instruction_for("text2music") == "Fill the audio semantic mask based on the given conditions:"
    assert instruction_for("repaint") == "Repaint the mask area based on the given conditions:"
    assert instruction_for("cover") == "Generate audio semantic tokens based on the given conditions:"
    assert instruction_for("extract", ("vocals",)) == "Extract the VOCALS track from the audio:"
    assert instruction_for("extract") == "Extract the track from the audio:"
    assert instruction_for("lego", ("backing_vocals",)) == \
        "Generate the BACKING_VOCALS track based on the audio context:"
    assert instruction_for("lego") == "Generate the track based on the audio context:"
    assert instruction_for("complete", ("drums", "bass")) == "Complete the input track with DRUMS | BASS:"
    assert instruction_for("complete") == "Complete the input track:"
    assert len(C.TRACK_NAMES) == 12


def test_caption_and_lyric_templates():
    metas = format_metas(120, "4", "C major", 62.7)
    assert metas == "- bpm: 120\n- timesignature: 4\n- keyscale: C major\n- duration: 62 seconds\n"
    assert format_metas(None, "", "", None) == (
        "- bpm: N/A\n- timesignature: N/A\n- keyscale: N/A\n- duration: 30 seconds\n")
    text = caption_prompt("Do it:", "lofi", metas)
    assert text == f"# Instruction\nDo it:\n\n# Caption\nlofi\n\n# Metas\n{metas}<|endoftext|>\n"
    sft = caption_prompt("Do it:", "# Instruction\nold\n\n# Caption\njazz\n\n# Metas\nx", metas)
    assert "\n# Caption\njazz\n\n" in sft
    assert lyric_prompt("en", "[Instrumental]") == "# Languages\nen\n\n# Lyric\n[Instrumental]<|endoftext|>"
    assert GenerationRequest().effective_lyrics == ""  # empty lyrics pass through, as upstream
    assert GenerationRequest(lyrics="hey", instrumental=True).effective_lyrics == "[Instrumental]"


def test_regions_pad_for_intro_and_extension():
    inside = plan_region(60.0, 30.0, 45.0)
    assert (inside.pad_left_s, inside.pad_right_s, inside.start_frame, inside.end_frame) == (0, 0, 750, 1125)
    intro = plan_region(60.0, -5.0, 10.0)
    assert intro.pad_left_s == 5.0 and intro.start_s == 0.0 and intro.end_s == 15.0
    extend = plan_region(60.0, 55.0, 70.0)
    assert extend.pad_right_s == 10.0 and extend.end_frame == 1750
    to_end = plan_region(60.0, 50.0, -1)
    assert to_end.end_s == 60.0
    assert repaint_settings("balanced", 0.5) == (0.5, 12, 0.025)
    assert repaint_settings("conservative", 0.1) == (1.0, 25, 0.05)
    assert repaint_settings("aggressive", 0.9) == (0.0, 0, 0.0)
    mask = splice_mask(48000 * 4, 1.0, 2.0, 0.1)
    assert mask[48000:96000].min() == 1 and mask[: 48000 - 4800].max() == 0 and 0 < mask[47000] < 1


def test_seeds_are_per_item_and_random_where_missing():
    seeds = resolve_seeds(GenerationRequest(batch_size=4, seeds=(7, -1, 9)), np.random.default_rng(0))
    assert seeds[0] == 7 and seeds[2] == 9 and len(seeds) == 4
    assert all(0 <= s < 2**32 for s in seeds)


def test_request_dict_round_trip():
    req = GenerationRequest(task="complete", source_audio="/x.wav", tracks=("drums", "bass"), seeds=(1,),
                            timesteps=(1.0, 0.5), audio_codes=(3, 4))
    assert request_from_dict(request_to_dict(req)) == req
    arr = request_to_dict(GenerationRequest(task="cover", source_audio=SRC))
    with pytest.raises(ValidationError, match="source_audio"):
        request_from_dict(arr)
