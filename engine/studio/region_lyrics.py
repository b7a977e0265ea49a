"""Which sung lines a time window covers, and the whole lyrics rebuilt after editing them.

A repaint of 0:42–0:50 should let the musician rewrite only the lines sung there (HOT-Step's
Repaint Studio does this; upstream's own UI does not) while the request still carries the song's
full lyrics, because the DiT hears the lyrics of the whole source. The timing comes from the
take's synced lyrics (LRC, `take.meta["lrc"]`, written by scoring): line i is sung over
[t_i, t_{i+1}), the last line until the end of the audio.

Pure functions, no Qt: the repaint dialog shows `RegionLyrics.inside` for editing and calls
`rebuild` on submit; a script does the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.scoring.lrc import parse_lrc

LRC_META_KEY = "lrc"


@dataclass(frozen=True)
class RegionLyrics:
    """The lyrics split around a window: lines before it, the lines it covers, lines after."""

    before: tuple[str, ...]
    inside: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def inside_text(self) -> str:
        return "\n".join(self.inside)

    def rebuild(self, new_inside: str) -> str:
        """The full lyrics with the covered lines replaced by `new_inside` (its own lines)."""
        middle = tuple(new_inside.strip("\n").splitlines()) if new_inside.strip() else ()
        return "\n".join(self.before + middle + self.after)


def split_lyrics_by_window(lrc_text: str, start_s: float, end_s: float) -> RegionLyrics | None:
    """Split synced lyrics around [start_s, end_s) (seconds on the take's own timeline).

    A line belongs inside when the time it is sung overlaps the window. A section tag that
    opens the covered lines ("[Chorus]" just before the first covered line) stays outside, so
    the structure the rest of the song relies on is not edited away by accident.
    Returns None when there are no timed lines (the caller then edits the lyrics as a whole).
    """
    if end_s <= start_s:
        raise ValueError(f"the window must have a positive length, got {start_s:g}–{end_s:g} s")
    lines = parse_lrc(lrc_text)
    if not lines:
        return None
    before: list[str] = []
    inside: list[str] = []
    after: list[str] = []
    for i, (t, text) in enumerate(lines):
        t_next = lines[i + 1][0] if i + 1 < len(lines) else float("inf")
        is_tag = text.startswith("[") and text.endswith("]")
        if t_next <= start_s:
            before.append(text)
        elif t >= end_s:
            after.append(text)
        elif is_tag and t <= start_s:
            before.append(text)  # the section the window starts in: its tag is not ours to edit
        else:
            inside.append(text)
    return RegionLyrics(tuple(before), tuple(inside), tuple(after))


def take_region_lyrics(meta, start_s: float, end_s: float) -> RegionLyrics | None:
    """`split_lyrics_by_window` on a take's stored LRC (None when the take has none)."""
    lrc = meta.get(LRC_META_KEY) if meta else None
    if not isinstance(lrc, str) or not lrc.strip():
        return None
    return split_lyrics_by_window(lrc, start_s, end_s)
