"""Byte-exact LM prompts and metadata rules (shared/reference/upstream_lm_tools.md §2, §3.4)."""

from __future__ import annotations

import pytest

from engine.errors import ValidationError
from engine.planner import prompts
from engine.planner.constants import FIELD_ORDER, KEYSCALES, LANGUAGES
from engine.planner.metadata import Metadata, cot_block, cot_yaml, parse_cot, validate_metadata

SYSTEM_GEN = (
    "<|im_start|>system\n# Instruction\nGenerate audio semantic tokens based on the given conditions:\n\n"
    "<|im_end|>\n"
)


def test_phase1_prompt_is_byte_exact():
    pair = prompts.think_phase1("A calm piano", "[verse]\nla la")
    assert pair.cond == (
        SYSTEM_GEN + "<|im_start|>user\n# Caption\nA calm piano\n\n# Lyric\n[verse]\nla la\n<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    # Default negative prompt: the unconditional prompt drops the caption.
    assert pair.uncond == (
        SYSTEM_GEN + "<|im_start|>user\n# Lyric\n[verse]\nla la\n<|im_end|>\n<|im_start|>assistant\n"
    )


def test_phase1_uncond_uses_a_real_negative_prompt():
    pair = prompts.think_phase1("A calm piano", "x", negative_prompt="harsh noise")
    assert "<|im_start|>user\n# Caption\nharsh noise\n\n# Lyric\nx\n<|im_end|>\n" in pair.uncond
    for empty in ("", "NO USER INPUT", None):
        assert "# Caption" not in prompts.think_phase1("c", "x", negative_prompt=empty).uncond


def test_phase2_prompt_closes_the_assistant_turn_with_the_cot():
    meta = Metadata(
        bpm=73,
        caption="A calm piano melody",
        duration=273,
        keyscale="G major",
        language="en",
        timesignature="4",
    )
    pair = prompts.think_phase2("A calm piano", "la", meta)
    assert pair.cond.endswith(
        "<|im_start|>user\n# Caption\nA calm piano\n\n# Lyric\nla\n<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nbpm: 73\ncaption: A calm piano melody\nduration: 273\n"
        "keyscale: G major\nlanguage: en\ntimesignature: 4\n</think>\n\n<|im_end|>\n"
    )
    assert pair.cond.startswith(SYSTEM_GEN)
    # Uncond: same caption and lyrics (default negative prompt), empty CoT.
    assert pair.uncond == (
        SYSTEM_GEN + "<|im_start|>user\n# Caption\nA calm piano\n\n# Lyric\nla\n<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n<|im_end|>\n"
    )
    assert "# Caption\nugly\n" in prompts.think_phase2("A calm piano", "la", meta, "ugly").uncond


def test_cot_yaml_rules():
    assert cot_block(Metadata()) == "<think>\n\n</think>"
    # "4/4" -> 4, digit strings -> ints, sorted keys, genres not re-injected, unicode kept.
    meta = Metadata(bpm=120, timesignature="4/4", keyscale="B♭ major", genres="pop", duration=30.0)
    assert cot_yaml(meta) == "bpm: 120\nduration: 30\nkeyscale: B♭ major\ntimesignature: 4"
    long = Metadata(caption=" ".join(["word"] * 30))
    lines = cot_yaml(long).split("\n")
    assert len(lines) > 1 and all(line.startswith("  ") for line in lines[1:])  # PyYAML wrapping
    assert parse_cot(cot_block(long)).caption == long.caption


def test_simple_format_understand_prompts():
    assert prompts.create_sample("lofi beat", True) == (
        "<|im_start|>system\n# Instruction\nExpand the user's input into a more detailed and specific musical "
        "description:\n\n<|im_end|>\n<|im_start|>user\nlofi beat\n\ninstrumental: true<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert "user\nNO USER INPUT\n\ninstrumental: false<|im_end|>" in prompts.create_sample("  ", False)
    fmt = prompts.format_sample("rock", "hey")
    assert fmt == (
        "<|im_start|>system\n# Instruction\nFormat the user's input into a more detailed and specific musical "
        "description:\n\n<|im_end|>\n<|im_start|>user\n# Caption\nrock\n\n# Lyric\nhey<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert "# Caption\nNO USER INPUT\n\n# Lyric\n[Instrumental]<|im_end|>" in prompts.format_sample("", "")
    und = prompts.understand("<|audio_code_1|><|audio_code_2|>")
    assert und == (
        "<|im_start|>system\n# Instruction\nUnderstand the given musical conditions and describe the audio "
        "semantics accordingly:\n\n<|im_end|>\n<|im_start|>user\n<|audio_code_1|><|audio_code_2|><|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert "user\nNO USER INPUT<|im_end|>" in prompts.understand("")


def test_value_sets_match_the_reference():
    assert len(KEYSCALES) == 70 and "F# minor" in KEYSCALES and "B♭ major" in KEYSCALES
    assert len(LANGUAGES) == 51 and LANGUAGES[-1] == "unknown" and "yue" in LANGUAGES
    assert FIELD_ORDER == tuple(sorted(FIELD_ORDER))  # alphabetical, as the training YAML


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tempo": 120}, "unknown metadata field"),
        ({"bpm": 1000}, "bpm 1000"),
        ({"bpm": "fast"}, "bpm must be"),
        ({"duration": 0}, "duration must be more than 0"),
        ({"duration": 9999}, "longer than this device allows"),
        ({"keyscale": "H major"}, "unknown key"),
        ({"keyscale": "Am"}, "unknown key"),
        ({"timesignature": "5/4"}, "time signature"),
        ({"language": "klingon"}, "unknown language"),
        ({"caption": "two\nlines"}, "single line"),
    ],
)
def test_bad_metadata_is_a_clear_validation_error(values, message):
    with pytest.raises(ValidationError, match=message):
        validate_metadata(values, max_duration=600)


def test_metadata_is_normalised():
    meta = validate_metadata(
        {"bpm": "120", "keyscale": "f#  Minor", "timesignature": "6/8", "language": "EN", "duration": 2.5},
        max_duration=600,
    )
    assert meta == Metadata(bpm=120, keyscale="F# minor", timesignature="6", language="en", duration=2.5)
    assert meta.code_count == 12


def test_parse_cot_copes_with_missing_close_tag_and_noise():
    text = "<think>\nbpm: 90\ncaption: a song\n  that wraps\nduration: 12\nkeyscale: C major\n<junk>\ntimesignature: 3\n"
    meta = parse_cot(text)
    assert meta == Metadata(
        bpm=90, caption="a song that wraps", duration=12, keyscale="C major", timesignature="3"
    )
