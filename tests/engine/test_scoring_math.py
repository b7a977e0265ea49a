"""The scoring math pinned on hand-made inputs whose answers are known (upstream_lm_tools.md §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.scoring.dtw import dtw_path
from engine.scoring.lrc import (
    LyricLine,
    consensus_energy,
    format_lrc,
    format_timestamp,
    line_at,
    parse_lrc,
    sentences,
    token_times,
)
from engine.scoring.lyric_alignment import alignment_score, energy_of, monotonicity, tag_mask
from engine.scoring.quality import global_score, mean_log_prob, pmi, pmi_score, topk_recall


# ------------------------------------------------------------------ LM quality score
def test_topk_recall_weights_by_rank():
    # Vocab of 12; the true token ranks 1, 3, 10 and 11 in the four rows.
    logits = np.tile(np.arange(12, 0, -1, dtype=np.float64), (4, 1))  # token i has rank i+1
    targets = np.array([0, 2, 9, 10])
    expected = np.mean([1.0, 1 - 2 / 10, 1 - 9 / 10, 0.0])
    assert topk_recall(logits, targets) == pytest.approx(expected)
    assert topk_recall(logits[:2], np.array([0, 0])) == 1.0


def test_pmi_sign_and_sigmoid_mapping():
    targets = np.array([1, 2])
    sure = np.log(np.array([[0.05, 0.9, 0.05], [0.05, 0.05, 0.9]]))
    flat = np.log(np.full((2, 3), 1 / 3))
    assert mean_log_prob(sure, targets) == pytest.approx(math.log(0.9))
    value = pmi(sure, flat, targets)
    assert value == pytest.approx(math.log(0.9) - math.log(1 / 3)) and value > 0
    assert pmi(flat, sure, targets) == pytest.approx(-value)
    assert pmi_score(0.0) == 0.5
    assert pmi_score(value, 0.5) == pytest.approx(1 / (1 + math.exp(-value / 0.5)))
    assert pmi_score(value, 0.1) > pmi_score(value, 0.5) > 0.5 > pmi_score(-value, 0.5)
    with pytest.raises(ValueError):
        pmi_score(1.0, 0.0)


def test_global_score_weights_and_renormalises():
    assert global_score(1.0, 0.0, {"bpm": 0.5, "keyscale": 1.0}) == pytest.approx(0.5 + 0.2 * 0.75)
    assert global_score(None, 0.6, {"bpm": 0.1}) == pytest.approx((0.3 * 0.6 + 0.2 * 0.1) / 0.5)
    assert global_score(None, None, {}) == 0.0


# ------------------------------------------------------------------ DTW and alignment
def test_dtw_follows_a_known_diagonal():
    n = 6
    cost = np.ones((n, n))
    np.fill_diagonal(cost, 0.0)
    assert dtw_path(cost).tolist() == [[i, i] for i in range(n)]


def test_dtw_holds_a_token_for_several_frames_and_prefers_frames_on_ties():
    cost = np.array([[0, 0, 1, 1], [1, 1, 0, 0]], dtype=float)  # token 0 owns frames 0-1
    assert dtw_path(cost).tolist() == [[0, 0], [0, 1], [1, 2], [1, 3]]
    # All ties: each cell is reached by a frame advance when it can be, so the token moves on
    # at the first frame and the LAST token holds the remaining frames.
    assert dtw_path(np.zeros((2, 3))).tolist() == [[0, 0], [1, 0], [1, 1], [1, 2]]


def _diagonal_energy(tokens: int, frames: int, reverse: bool = False) -> np.ndarray:
    e = np.zeros((tokens, frames))
    per = frames // tokens
    for t in range(tokens):
        row = tokens - 1 - t if reverse else t
        e[row, t * per:(t + 1) * per] = 1.0
    return e


def test_alignment_formulas_on_synthetic_maps():
    good = _diagonal_energy(4, 40)
    s = alignment_score(good, np.ones(4))
    assert (s.coverage, s.monotonicity) == (1.0, 1.0)
    path = dtw_path(-(good**2))
    assert s.confidence == pytest.approx(good[path[:, 0], path[:, 1]].mean())
    assert s.score == round(s.coverage**2 * s.monotonicity**2 * s.confidence, 4)
    backwards = alignment_score(_diagonal_energy(4, 40, reverse=True), np.ones(4))
    assert backwards.monotonicity == 0.0 and backwards.score == 0.0
    half = good.copy()
    half[2:] = 0.05  # two lyric rows never light up
    assert alignment_score(half, np.ones(4)).coverage == 0.5
    # Tag rows count for neither coverage nor monotonicity.
    assert alignment_score(half, np.array([1, 1, 0, 0])).coverage == 1.0


def test_monotonicity_allows_small_backsteps_only():
    e = np.zeros((3, 60))
    e[0, 20], e[1, 12], e[2, 40] = 1.0, 1.0, 1.0  # back by 8 frames: allowed
    assert monotonicity(e, np.arange(3)) == 1.0
    e[1, 12], e[1, 10] = 0.0, 1.0  # back by 10 frames: not
    assert monotonicity(e, np.arange(3)) == 0.5


def test_tag_mask_and_energy():
    assert tag_mask(["[", "Verse", "]\n", "hello", " world", "[Ch", "orus]"]).tolist() == [0, 0, 0, 1, 1, 0, 0]
    maps = np.stack([np.array([[0.0, 2.0]]), np.array([[2.0, 4.0]])])
    assert energy_of(maps).tolist() == [[0.0, 1.0]]


# ------------------------------------------------------------------ LRC
def test_consensus_energy_keeps_the_aligned_diagonal():
    rng = np.random.default_rng(0)
    maps = rng.normal(0, 0.1, (3, 5, 50))
    for t in range(5):
        maps[:, t, t * 10:(t + 1) * 10] += 4.0
    energy = consensus_energy(maps)
    assert energy.shape == (5, 50)
    assert [int(np.argmax(energy[t])) // 10 for t in range(5)] == [0, 1, 2, 3, 4]
    assert dtw_path(-energy)[:, 0].tolist() == sorted(dtw_path(-energy)[:, 0].tolist())


def test_token_times_sentences_and_tag_lines():
    texts = ["[Verse]", "\n", "Hello", " rain", "\n", "Bye", "\n"]
    path = np.array([[0, 0], [1, 1], [2, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7]])
    times = token_times(path, len(texts), n_frames=8, duration_s=4.0)  # 0.5 s per frame
    assert times[2] == (1.0, 2.0) and times[3] == (2.0, 2.5)
    lines = sentences(texts, times)
    assert [(line.start_s, line.text) for line in lines] == [(0.0, "[Verse]"), (1.0, "Hello rain"), (3.0, "Bye")]
    assert lines[0].is_tag and not lines[1].is_tag
    unreached = token_times(np.array([[0, 0], [2, 1]]), 3, 2, 2.0)
    assert unreached[1] == (1.0, 1.0)  # inherits the previous end


def test_lrc_format_round_trip():
    assert format_timestamp(0) == "00:00.00" and format_timestamp(75.456) == "01:15.46"
    assert format_timestamp(59.999) == "01:00.00"
    lines = [LyricLine(0.0, 1.0, "[Verse]"), LyricLine(12.4, 14.0, "Streetlights hum"), LyricLine(125.07, 127.0, "Bye")]
    text = format_lrc(lines)
    assert text == "[00:00.00][Verse]\n[00:12.40]Streetlights hum\n[02:05.07]Bye\n"
    parsed = parse_lrc("[ar:Someone]\n" + text + "\nnot a line\n")
    assert [(round(t, 2), s) for t, s in parsed] == [(0.0, "[Verse]"), (12.4, "Streetlights hum"), (125.07, "Bye")]
    assert line_at(parsed, 13.0) == 1 and line_at(parsed, 200.0) == 2 and line_at([(1.0, "x")], 0.5) is None
    with pytest.raises(ValueError):
        parse_lrc("[00:00.00]x\n" * 20_001)
