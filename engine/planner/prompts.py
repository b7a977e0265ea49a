"""Byte-exact prompts for every LM task (upstream_lm_tools.md §2).

Upstream renders these through the tokenizer's Qwen3 chat template; we render the same bytes
ourselves so the prompt does not depend on whether a checkpoint ships a template, and so tests
can compare strings. Special tokens in the rendered text (`<|im_start|>`, `<think>`, ...) are
single token ids when encoded with the LM tokenizer (they are added tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.planner.constants import (
    IM_END,
    IM_START,
    INSTRUCTION_FORMAT,
    INSTRUCTION_GENERATE,
    INSTRUCTION_INSPIRE,
    INSTRUCTION_UNDERSTAND,
    INSTRUMENTAL_LYRICS,
    NO_USER_INPUT,
)
from engine.planner.metadata import Metadata, cot_block


@dataclass(frozen=True)
class PromptPair:
    """The conditional prompt and, for LM CFG, the unconditional one (None = no CFG)."""

    cond: str
    uncond: str | None = None


def chat(instruction: str, user_content: str, assistant: str | None = None) -> str:
    """System + user turn, then either the open generation prompt or a completed assistant turn.

    A completed turn renders as Qwen3's template does for reasoning content:
    `<|im_start|>assistant\\n{assistant}\\n\\n<|im_end|>\\n`.
    """
    text = (
        f"{IM_START}system\n# Instruction\n{instruction}\n\n{IM_END}\n"
        f"{IM_START}user\n{user_content}{IM_END}\n"
        f"{IM_START}assistant\n"
    )
    if assistant is not None:
        text += f"{assistant}\n\n{IM_END}\n"
    return text


def is_real_negative_prompt(negative_prompt: str | None) -> bool:
    """Empty or `NO USER INPUT` means "no real negative prompt" (§4.1)."""
    return bool(negative_prompt and negative_prompt.strip() and negative_prompt.strip() != NO_USER_INPUT)


def _caption_lyric(caption: str, lyrics: str) -> str:
    return f"# Caption\n{caption}\n\n# Lyric\n{lyrics}\n"


def think_phase1(caption: str, lyrics: str, negative_prompt: str | None = NO_USER_INPUT) -> PromptPair:
    """Phase 1 (CoT metadata). Uncond drops the caption unless a real negative prompt is given."""
    cond = chat(INSTRUCTION_GENERATE, _caption_lyric(caption, lyrics))
    if is_real_negative_prompt(negative_prompt):
        uncond_user = _caption_lyric(str(negative_prompt), lyrics)
    else:
        uncond_user = f"# Lyric\n{lyrics}\n"
    return PromptPair(cond, chat(INSTRUCTION_GENERATE, uncond_user))


def think_phase2(
    caption: str, lyrics: str, meta: Metadata, negative_prompt: str | None = NO_USER_INPUT
) -> PromptPair:
    """Phase 2 (codes): the closed assistant turn carries the CoT; codes follow it.

    Uncond: negative prompt replaces the caption if it is real (else the caption stays) and the
    CoT is empty, so by default the contrast is "with metadata" vs "without".
    """
    cond = chat(INSTRUCTION_GENERATE, _caption_lyric(caption, lyrics), cot_block(meta))
    uncond_caption = str(negative_prompt) if is_real_negative_prompt(negative_prompt) else caption
    uncond = chat(INSTRUCTION_GENERATE, _caption_lyric(uncond_caption, lyrics), cot_block(Metadata()))
    return PromptPair(cond, uncond)


def create_sample(query: str, instrumental: bool) -> str:
    """Simple mode ("create sample", §2.3)."""
    query = query if query.strip() else NO_USER_INPUT
    return chat(INSTRUCTION_INSPIRE, f"{query}\n\ninstrumental: {'true' if instrumental else 'false'}")


def format_sample(caption: str, lyrics: str) -> str:
    """Format (§2.4): note there is no trailing newline after the lyrics here."""
    caption = caption if caption.strip() else NO_USER_INPUT
    lyrics = lyrics if lyrics.strip() else INSTRUMENTAL_LYRICS
    return chat(INSTRUCTION_FORMAT, f"# Caption\n{caption}\n\n# Lyric\n{lyrics}")


def understand(code_string: str) -> str:
    """Understand (§2.5): the user turn is the raw code string, or `NO USER INPUT`."""
    return chat(INSTRUCTION_UNDERSTAND, code_string or NO_USER_INPUT)
