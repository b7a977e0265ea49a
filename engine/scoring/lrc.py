"""Synced lyrics (LRC): token times from a DTW path, sentences, and the `[mm:ss.xx]text` format
(upstream_lm_tools.md §5.3).

    consensus = consensus_energy(head_maps)          # [tokens, frames], bidirectional denoising
    path = dtw_path(-consensus)
    lines = sentences(token_texts, token_times(path, n_tokens, n_frames, duration_s))
    text = format_lrc(lines)                         # "[00:12.40][Verse]\\n[00:12.40]first line\\n..."
    assert parse_lrc(text) == [(l.start_s, l.text) for l in lines]   (to 1/100 s)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONSENSUS_MEDIAN_FACTOR = 2.0
_LINE = re.compile(r"^\[(\d{1,3}):(\d{2}(?:\.\d{1,3})?)\](.*)$")
MAX_LRC_LINES = 20_000  # a hostile file cannot make us build millions of lines


@dataclass(frozen=True)
class LyricLine:
    start_s: float
    end_s: float
    text: str

    @property
    def is_tag(self) -> bool:
        """A section tag line such as "[Verse]" (kept as its own line)."""
        return self.text.startswith("[") and self.text.endswith("]")


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def consensus_energy(head_maps: np.ndarray) -> np.ndarray:
    """Bidirectional-consensus denoising of [heads, tokens, frames] cross-attention -> [tokens, frames].

    Per head: softmax over frames x softmax over tokens; minus 2 x each row's median, ReLU;
    minus 2 x each column's median, ReLU; squared. Then a z-score over the whole stack and the
    mean over heads (the width-1 median filter upstream applies is the identity).
    """
    maps = np.asarray(head_maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"head maps must be [heads, tokens, frames], got shape {maps.shape}")
    m = _softmax(maps, axis=2) * _softmax(maps, axis=1)
    m = np.maximum(m - CONSENSUS_MEDIAN_FACTOR * np.median(m, axis=2, keepdims=True), 0.0)
    m = np.maximum(m - CONSENSUS_MEDIAN_FACTOR * np.median(m, axis=1, keepdims=True), 0.0)
    m = m**2
    std = m.std()
    m = (m - m.mean()) / std if std > 0 else m - m.mean()
    return m.mean(axis=0)


def token_times(path: np.ndarray, n_tokens: int, n_frames: int, duration_s: float) -> list[tuple[float, float]]:
    """(start, end) seconds per token: its first / last frame on the path; a token the path
    never reaches inherits the previous token's end."""
    if n_frames <= 0 or duration_s <= 0:
        raise ValueError("n_frames and duration_s must be positive")
    per_frame = duration_s / n_frames
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for token, frame in np.asarray(path).tolist():
        first.setdefault(token, frame)
        last[token] = frame
    out, previous_end = [], 0.0
    for t in range(n_tokens):
        if t in first:
            start, end = first[t] * per_frame, (last[t] + 1) * per_frame
        else:
            start = end = previous_end
        out.append((start, end))
        previous_end = end
    return out


def sentences(token_texts: Sequence[str], times: Sequence[tuple[float, float]]) -> list[LyricLine]:
    """Split after every token whose text holds a newline; empty sentences are dropped."""
    if len(token_texts) != len(times):
        raise ValueError("one time per token is needed")
    lines, pieces, start = [], [], None
    for text, (t0, t1) in zip(token_texts, times, strict=True):
        if start is None:
            start = t0
        pieces.append(text)
        end = t1
        if "\n" in text:
            _flush(lines, pieces, start, end)
            pieces, start = [], None
    if pieces:
        _flush(lines, pieces, start, end)
    return lines


def _flush(lines: list[LyricLine], pieces: list[str], start: float, end: float) -> None:
    text = "".join(pieces).strip()
    if text:
        lines.append(LyricLine(round(start, 3), round(end, 3), text))


def format_timestamp(seconds: float) -> str:
    """`mm:ss.xx` (minutes two digits, seconds 05.2f)."""
    seconds = max(0.0, float(seconds))
    minutes = int(seconds // 60)
    rest = seconds - 60 * minutes
    if round(rest, 2) >= 60.0:  # 59.999 s rounds up into the next minute
        minutes, rest = minutes + 1, 0.0
    return f"{minutes:02d}:{rest:05.2f}"


def format_lrc(lines: Sequence[LyricLine]) -> str:
    return "".join(f"[{format_timestamp(line.start_s)}]{line.text}\n" for line in lines)


def parse_lrc(text: str) -> list[tuple[float, str]]:
    """`[mm:ss.xx]text` lines -> (seconds, text), in file order; other lines (ID tags such as
    [ar:...], blanks) are skipped. A hostile size is refused, never half-read."""
    rows = text.splitlines()
    if len(rows) > MAX_LRC_LINES:
        raise ValueError(f"an LRC file holds at most {MAX_LRC_LINES} lines, got {len(rows)}")
    out = []
    for row in rows:
        match = _LINE.match(row.strip())
        if match:
            out.append((int(match.group(1)) * 60 + float(match.group(2)), match.group(3)))
    return out


def line_at(lines: Sequence[tuple[float, str]], seconds: float) -> int | None:
    """Index of the line sounding at `seconds` (the last one started), or None before the first."""
    starts = [start for start, _ in lines]
    index = int(np.searchsorted(starts, seconds, side="right")) - 1
    return index if index >= 0 else None


def bunched(lines: Sequence[tuple[float, str]]) -> bool:
    """Most sung lines (3 or more, tags aside) starting at one moment: the alignment did not
    find the words, so the times must not be trusted (shown as such, not used to pick lines)."""
    starts = [round(start, 1) for start, text in lines if not (text.startswith("[") and text.endswith("]"))]
    if len(starts) < 3:
        return False
    return max(starts.count(s) for s in set(starts)) * 2 > len(starts)

