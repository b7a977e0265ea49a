"""Typed text -> request values, with errors that name the parameter. Shared by the CLI's flags
and the app's text fields, so "1, 2; 3" means the same in both places."""

from __future__ import annotations

import math
import re

from engine.errors import ValidationError

_SEPARATORS = re.compile(r"[,\s;]+")
_CODE_TOKEN = re.compile(r"<\|audio_code_(\d+)\|>")


def _parts(text: str) -> list[str]:
    return [p for p in _SEPARATORS.split(text.strip()) if p]


def int_list(text: str, param: str) -> tuple[int, ...]:
    """'1, 2 3;4' -> (1, 2, 3, 4)."""
    try:
        return tuple(int(p) for p in _parts(text))
    except ValueError:
        raise ValidationError(f"{param}: expected whole numbers separated by commas, got {text[:40]!r}") from None


def float_list(text: str, param: str) -> tuple[float, ...]:
    try:
        values = tuple(float(p) for p in _parts(text))
    except ValueError:
        raise ValidationError(f"{param}: expected numbers separated by commas, got {text[:40]!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise ValidationError(f"{param}: numbers must be finite, got {text[:40]!r}")
    return values


def codes(text: str, param: str = "audio_codes") -> tuple[int, ...]:
    """Audio codes from '1,2,3' / '1 2 3' or a `<|audio_code_N|>...` string (as the LM writes them)."""
    if "<|audio_code_" in text:
        return tuple(int(n) for n in _CODE_TOKEN.findall(text))
    return int_list(text, param)


def optional_number(text: str, param: str, *, whole: bool = False) -> float | int | None:
    """'' or 'auto' -> None; otherwise a number (an int when `whole`)."""
    text = text.strip()
    if not text or text.lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(f"{param}: expected a number or 'auto', got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise ValidationError(f"{param}: must be a finite number, got {text[:40]!r}")
    if whole:
        if value != int(value):
            raise ValidationError(f"{param}: must be a whole number, got {text!r}")
        return int(value)
    return value
