"""Prompt text for the condition encoder: instruction, caption template, metas, lyric template.

Facts: upstream_dit.md §3.1 (SFT_GEN_PROMPT, LYRIC_GEN_PROMPT, TASK_INSTRUCTIONS).
"""

from __future__ import annotations

from engine.tasks import constants as C


def instruction_for(task: str, tracks: tuple[str, ...] = ()) -> str:
    """The task instruction, verbatim; track names are upper-cased, classes joined by " | "."""
    if task in ("lego", "extract"):
        if tracks:
            text = C.INSTRUCTIONS[task].format(TRACK_NAME=tracks[0].upper())
        else:
            text = C.INSTRUCTIONS[f"{task}_default"]
    elif task == "complete":
        if tracks:
            text = C.INSTRUCTIONS["complete"].format(TRACK_CLASSES=" | ".join(t.upper() for t in tracks))
        else:
            text = C.INSTRUCTIONS["complete_default"]
    else:
        text = C.INSTRUCTIONS[task]
    return text if text.endswith(":") else text + ":"


def format_metas(bpm: int | None, timesignature: str, keyscale: str, duration_s: float | None) -> str:
    """Four lines, each ending in a newline; missing values are N/A; duration is int seconds."""
    bpm_text = str(int(bpm)) if bpm else "N/A"
    ts_text = timesignature or "N/A"
    key_text = keyscale or "N/A"
    dur_text = f"{int(duration_s)} seconds" if duration_s and duration_s > 0 else "30 seconds"
    return (f"- bpm: {bpm_text}\n- timesignature: {ts_text}\n- keyscale: {key_text}\n"
            f"- duration: {dur_text}\n")


def extract_caption_body(caption: str) -> str:
    """A caption already in SFT format contributes only its Caption section (as upstream)."""
    if "# Instruction" in caption and "# Caption" in caption:
        body = caption.split("# Caption", 1)[1]
        body = body.split("# Metas", 1)[0]
        return body.strip()
    return caption


def caption_prompt(instruction: str, caption: str, metas: str) -> str:
    return C.CAPTION_TEMPLATE.format(instruction=instruction, caption=extract_caption_body(caption),
                                     metas=metas)


def lyric_prompt(language: str, lyrics: str) -> str:
    return C.LYRIC_TEMPLATE.format(language=language or "unknown", lyrics=lyrics)
