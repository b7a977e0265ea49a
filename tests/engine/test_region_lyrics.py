"""The lines a repaint window covers, from a take's synced lyrics, and the rebuilt full lyrics."""

import pytest

from engine.studio.region_lyrics import split_lyrics_by_window, take_region_lyrics

LRC = """[ti:demo]
[00:00.00][Verse]
[00:01.00]first line
[00:05.00]second line
[00:09.00]third line
[00:12.00][Chorus]
[00:12.50]chorus one
[00:16.00]chorus two
"""


def test_window_covers_the_lines_sung_inside_it():
    parts = split_lyrics_by_window(LRC, 6.0, 10.0)
    assert parts.before == ("[Verse]", "first line")
    assert parts.inside == ("second line", "third line")
    assert parts.after == ("[Chorus]", "chorus one", "chorus two")


def test_a_line_that_started_before_the_window_and_is_still_sung_is_inside():
    parts = split_lyrics_by_window(LRC, 4.5, 5.5)  # "first line" runs 1–5 s, "second" from 5 s
    assert parts.inside == ("first line", "second line")


def test_section_tag_the_window_starts_in_stays_outside():
    parts = split_lyrics_by_window(LRC, 12.2, 14.0)
    assert parts.before[-1] == "[Chorus]"
    assert parts.inside == ("chorus one",)


def test_rebuild_replaces_only_the_covered_lines():
    parts = split_lyrics_by_window(LRC, 6.0, 10.0)
    full = parts.rebuild("new second\nnew third\nextra")
    assert full.splitlines() == ["[Verse]", "first line", "new second", "new third", "extra",
                                 "[Chorus]", "chorus one", "chorus two"]
    assert parts.rebuild(parts.inside_text).splitlines() == [t for t in (
        "[Verse]", "first line", "second line", "third line", "[Chorus]", "chorus one", "chorus two")]
    assert "second line" not in parts.rebuild("")


def test_no_timed_lines_means_no_split():
    assert split_lyrics_by_window("just text\nno times", 0.0, 5.0) is None
    assert take_region_lyrics({}, 0.0, 5.0) is None
    assert take_region_lyrics({"lrc": LRC}, 6.0, 10.0).inside == ("second line", "third line")
    with pytest.raises(ValueError):
        split_lyrics_by_window(LRC, 5.0, 5.0)
