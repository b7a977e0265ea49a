"""Song metadata the planner writes and reads: validation, the CoT YAML, and parsing.

Upstream passes user values to the LM unvalidated (so "C Major" or bpm 1000 reach the model);
we reject them with a message that names the field instead (upstream_lm_tools.md §3.5).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from engine.errors import ValidationError
from engine.planner.constants import (
    BPM_RANGE,
    CODES_PER_SECOND,
    FIELD_ORDER,
    KEYSCALES,
    LANGUAGES,
    THINK_CLOSE,
    THINK_OPEN,
    TIME_SIGNATURES,
)

_TIMESIG_ALIASES = {"2/4": "2", "3/4": "3", "4/4": "4", "6/8": "6"}


@dataclass(frozen=True)
class Metadata:
    """One song's metadata. None = not given / not generated."""

    bpm: int | None = None
    caption: str | None = None
    duration: float | None = None
    genres: str | None = None
    keyscale: str | None = None
    language: str | None = None
    timesignature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that are set, in field order (for JSON output)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def merged_over(self, base: Metadata) -> Metadata:
        """Our set fields win; `base` fills the gaps (user values over LM values, §2.7)."""
        return replace(base, **self.to_dict())

    @property
    def code_count(self) -> int | None:
        """Number of 5 Hz audio codes for this duration (int(duration x 5), as upstream)."""
        return None if self.duration is None else int(self.duration * CODES_PER_SECOND)


def _duration_value(value: Any, max_duration: float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"duration must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValidationError(f"duration must be more than 0 seconds, got {value!r}")
    if seconds > max_duration:
        raise ValidationError(
            f"duration {seconds:g} s is longer than this device allows with the planner ({max_duration:g} s)"
        )
    if int(seconds * CODES_PER_SECOND) < 1:
        raise ValidationError(f"duration {seconds:g} s is shorter than one audio code (0.2 s)")
    return int(seconds) if float(seconds).is_integer() else seconds


def _single_line(field: str, value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValidationError(f"{field} is empty")
    if "\n" in text or "\r" in text:
        raise ValidationError(f"{field} must be a single line")
    return text


def normalize_keyscale(value: Any) -> str:
    """'f# Minor' -> 'F# minor'; anything outside the 70 keyscales is an error."""
    text = " ".join(str(value).split())
    match = re.fullmatch(r"([A-Ga-g])([#b♯♭]?)\s+(major|minor)", text, flags=re.IGNORECASE)
    if match is None:
        raise ValidationError(
            f"unknown key {value!r}: write a note A-G, an optional #/b, and major or minor (e.g. 'F# minor')"
        )
    note, acc, mode = match.groups()
    canonical = f"{note.upper()}{acc} {mode.lower()}"
    assert canonical in KEYSCALES
    return canonical


def validate_metadata(values: Mapping[str, Any] | Metadata | None, *, max_duration: float) -> Metadata:
    """Check user-supplied metadata and bring it to canonical form.

    Raises:
        ValidationError: unknown field name or out-of-range value; the message names it.
    """
    if values is None:
        return Metadata()
    if isinstance(values, Metadata):
        values = values.to_dict()
    unknown = sorted(set(values) - set(FIELD_ORDER))
    if unknown:
        raise ValidationError(f"unknown metadata field(s) {unknown}; known: {list(FIELD_ORDER)}")
    out: dict[str, Any] = {}
    for field, value in values.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if field == "bpm":
            try:
                bpm = int(str(value).strip())
            except ValueError:
                raise ValidationError(f"bpm must be a whole number, got {value!r}") from None
            if not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
                raise ValidationError(f"bpm {bpm} is outside {BPM_RANGE[0]}-{BPM_RANGE[1]}")
            out["bpm"] = bpm
        elif field == "duration":
            out["duration"] = _duration_value(value, max_duration)
        elif field == "keyscale":
            out["keyscale"] = normalize_keyscale(value)
        elif field == "timesignature":
            ts = _TIMESIG_ALIASES.get(str(value).strip(), str(value).strip())
            if ts not in TIME_SIGNATURES:
                raise ValidationError(
                    f"time signature {value!r} is not one of 2/4, 3/4, 4/4, 6/8 (or 2, 3, 4, 6)"
                )
            out["timesignature"] = ts
        elif field == "language":
            lang = str(value).strip().lower()
            if lang not in LANGUAGES:
                raise ValidationError(f"unknown language {value!r}; use one of: {' '.join(LANGUAGES)}")
            out["language"] = lang
        else:  # caption, genres: free text on one line
            out[field] = _single_line(field, value)
    return Metadata(**out)


def value_text(field: str, value: Any) -> str:
    """How a value is written after `field:` in the CoT (without the leading space)."""
    if field == "duration" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value))  # upstream writes int(duration) into the CoT (6.5 s -> "6")
    return str(value)


def cot_yaml(meta: Metadata) -> str:
    """The phase-2 CoT body: PyYAML, sorted keys, unicode kept, stripped (§2.2).

    genres is not re-injected. Digit-only strings become ints (so `timesignature: 4`).
    """
    import yaml  # PyYAML: long captions must wrap exactly as the training data did

    data: dict[str, Any] = {}
    for field in ("bpm", "caption", "duration", "keyscale", "language", "timesignature"):
        value = getattr(meta, field)
        if value is None:
            continue
        if field == "timesignature" and str(value).endswith("/4"):
            value = str(value)[:-2]
        if field == "duration" and isinstance(value, int | float) and not isinstance(value, bool):
            value = int(value)  # an integer in the CoT, as upstream (int(duration))
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        data[field] = value
    if not data:
        return ""
    return yaml.dump(data, allow_unicode=True, sort_keys=True).strip()


def cot_block(meta: Metadata) -> str:
    """`<think>\\n{yaml}\\n</think>` (an empty CoT renders as `<think>\\n\\n</think>`)."""
    return f"{THINK_OPEN}\n{cot_yaml(meta)}\n{THINK_CLOSE}"


def parse_cot(text: str) -> Metadata:
    """Read metadata lines from the LM's output (with or without `</think>`).

    Lines are `key: value`; lines starting with whitespace continue the previous value (YAML
    wrapping); lines starting with `<` are skipped. Caption lines are stripped and joined with
    single spaces (as upstream). Unparseable values are dropped, never guessed.
    """
    body = text
    if THINK_OPEN in body:
        body = body.split(THINK_OPEN, 1)[1]
    if THINK_CLOSE in body:
        body = body.split(THINK_CLOSE, 1)[0]
    raw: dict[str, list[str]] = {}
    current: str | None = None
    for line in body.split("\n"):
        if not line.strip() or line.lstrip().startswith("<"):
            continue
        if line[0] in " \t" and current is not None:
            raw[current].append(line.strip())
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key in FIELD_ORDER:
            current = key
            raw[current] = [value.strip()]
        else:
            current = None
    fields: dict[str, Any] = {}
    for key, parts in raw.items():
        value = " ".join(p for p in parts if p)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if not value:
            continue
        if key in ("bpm",):
            if value.isdigit():
                fields[key] = int(value)
        elif key == "duration":
            try:
                number = float(value)
                fields[key] = int(number) if number.is_integer() else number
            except ValueError:
                pass
        else:
            fields[key] = value
    return Metadata(**fields)
