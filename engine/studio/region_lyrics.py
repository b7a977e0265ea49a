"""Timed lyrics inside a repaint window: which lines the window covers, and the full lyrics
rebuilt once the user edited only those lines (HOP-Step's Repaint Studio idea: outside the
region the words are fixed because the audio there is).

    part = region_lyrics(lrc_text, 12.0, 20.5)      # seconds in the take's audio
    part.inside                                      # "the lines\nthe window covers"
    request_lyrics = part.rebuild("new words\nfor the window", full_lyrics)

A line is covered when its time span [its start, the next line's start) overlaps the window.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ValidationError
from engine.scoring.lrc import parse_lrc


@dataclass(frozen=True)
class RegionLyrics:
    """The timed lines of a take split around a window.

    Attributes:
        lines: every (start seconds, text) line, in order.
        first / stop: lines[first:stop] are the ones the window covers (first == stop: none).
    """

    lines: tuple[tuple[float, str], ...]
    first: int
    stop: int

    @property
    def before(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.lines[: self.first])

    @property
    def covered(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.lines[self.first : self.stop])

    @property
    def after(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.lines[self.stop :])

    @property
    def inside(self) -> str:
        """The covered lines as editable text, one per line."""
        return "\n".join(self.covered)

    def rebuild(self, edited: str, full_lyrics: str | None = None) -> str:
        """The whole song's lyrics with the covered lines replaced by `edited`.

        With `full_lyrics` (the take's request lyrics, which keep section tags such as [verse]),
        the covered lines are found there, in order, after the lines before the window, and only
        that span is replaced; when they cannot be found (the LRC was edited elsewhere) the
        result is rebuilt from the timed lines alone."""
        if full_lyrics and self.covered:
            span = _find_span(full_lyrics, self.before, self.covered)
            if span is not None:
                a, b = span
                return full_lyrics[:a] + edited + full_lyrics[b:]
        return "\n".join([*self.before, *([edited] if edited else []), *self.after])


def _find_span(text: str, before: tuple[str, ...], covered: tuple[str, ...]) -> tuple[int, int] | None:
    """Character span in `text` from the first to the last covered line, matching whole lines
    (stripped) in order after the lines before the window (so a repeated chorus matches right
    and a "[chorus]" tag never matches the line "chorus")."""
    rows, offset = [], 0
    for row in text.splitlines(keepends=True):
        body = row.rstrip("\r\n")
        rows.append((body.strip(), offset, offset + len(body)))
        offset += len(row)
    index = 0

    def find(line: str) -> int | None:
        nonlocal index
        for k in range(index, len(rows)):
            if rows[k][0] == line:
                index = k + 1
                return k
        return None

    for line in before:
        if line.strip() and find(line.strip()) is None:
            return None
    first = last = None
    for line in covered:
        if not line.strip():
            continue
        k = find(line.strip())
        if k is None:
            return None
        first = k if first is None else first
        last = k
    return None if first is None else (rows[first][1], rows[last][2])


def region_lyrics(lrc_text: str, start_s: float, end_s: float) -> RegionLyrics:
    """Split timed lyrics (`[mm:ss.xx]text` lines) around the window [start_s, end_s)."""
    if not end_s > start_s:
        raise ValidationError(f"end: the window must end after it starts ({start_s:g} .. {end_s:g} s)")
    try:
        lines = tuple(sorted(parse_lrc(lrc_text), key=lambda row: row[0]))
    except ValueError as exc:
        raise ValidationError(f"lyrics: {exc}") from None
    first = stop = None
    for i, (line_start, _) in enumerate(lines):
        line_end = lines[i + 1][0] if i + 1 < len(lines) else float("inf")
        if line_start < end_s and line_end > start_s:
            first = i if first is None else first
            stop = i + 1
    if first is None:  # no line sounds in the window: it sits between lines
        index = sum(1 for s, _ in lines if s < start_s)
        return RegionLyrics(lines, index, index)
    return RegionLyrics(lines, first, stop)
