"""Timed lyrics in a repaint window: the covered lines, and the full lyrics rebuilt around them."""

from __future__ import annotations

import pytest

from engine.errors import ValidationError
from engine.studio.region_lyrics import region_lyrics

LRC = "[00:01.00]first line\n[00:05.00]second line\n[00:09.00]chorus\n[00:13.00]last line\n"
FULL = "[verse]\nfirst line\nsecond line\n\n[chorus]\nchorus\n\n[outro]\nlast line"


def test_lines_the_window_covers():
    part = region_lyrics(LRC, 6.0, 10.0)
    assert part.covered == ("second line", "chorus")
    assert part.before == ("first line",) and part.after == ("last line",)
    assert part.inside == "second line\nchorus"


def test_rebuild_keeps_section_tags_and_the_lines_outside():
    part = region_lyrics(LRC, 6.0, 10.0)
    assert part.rebuild("new words\nnew hook", FULL) == \
        "[verse]\nfirst line\nnew words\nnew hook\n\n[outro]\nlast line"
    # without the plain lyrics (or when they do not match): rebuilt from the timed lines
    assert part.rebuild("x", "something else") == "first line\nx\nlast line"


def test_a_repeated_line_before_the_window_is_not_the_one_replaced():
    lrc = "[00:00.00]hey\n[00:04.00]hey\n[00:08.00]bye\n"
    part = region_lyrics(lrc, 4.5, 7.0)
    assert part.covered == ("hey",) and part.rebuild("HO", "hey\nhey\nbye") == "hey\nHO\nbye"


def test_window_between_lines_and_bad_input():
    part = region_lyrics("[00:10.00]late\n", 1.0, 4.0)
    assert part.covered == () and part.rebuild("intro words") == "intro words\nlate"
    with pytest.raises(ValidationError, match="^end"):
        region_lyrics(LRC, 5.0, 5.0)
