"""Judging takes (upstream_lm_tools.md §5): the LM quality score, the DiT lyric-alignment score
and LRC timestamps. This package holds the math as pure functions on arrays (tested on
hand-made inputs whose answers are known); the model passes that feed them live beside it."""
