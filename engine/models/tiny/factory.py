"""Write the whole tiny checkpoints tree (see engine.models.tiny)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import ValidationError
from engine.models.tiny.dit_checkpoint import tiny_dit_config, write_dit_checkpoint
from engine.models.tiny.qwen_models import (
    TEXT_ENCODER_DIMS,
    TOKENIZER_KINDS,
    write_planner_lm,
    write_text_encoder,
)
from engine.models.tiny.vae import write_vae

# Folder names of the real `checkpoints/` tree (ace-step/ACE-Step-1.5:acestep/model_downloader.py).
DIT_FOLDERS = {"turbo": "acestep-v15-turbo", "base": "acestep-v15-base"}
VAE_FOLDER = "vae"
TEXT_ENCODER_FOLDER = "Qwen3-Embedding-0.6B"
PLANNER_LM_FOLDER = "acestep-5Hz-lm-1.7B"


def write_tiny_checkpoints(root: Path, seed: int = 0, tokenizer: str = "small") -> list[Path]:
    """Write every tiny model folder under `root`; return the written files, sorted.

    `tokenizer`: "small" (our offline BPE) or "qwen3" (Qwen3's real vocabulary for the text
    encoder and the LM, with the LM's audio codes at upstream's ids; embedding tables sized to
    match).

    Raises:
        ValidationError: `seed` is not an integer, `tokenizer` is unknown (or "qwen3" without
            its package), or `root` exists and is not a folder.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValidationError(f"seed must be an integer, got {seed!r}")
    if tokenizer not in TOKENIZER_KINDS:
        raise ValidationError(f"tokenizer must be one of {', '.join(TOKENIZER_KINDS)}, got {tokenizer!r}")
    if root.exists() and not root.is_dir():
        raise ValidationError(f"cannot write tiny checkpoints into {root}: it is a file, not a folder")
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    text_hidden = TEXT_ENCODER_DIMS["hidden_size"]
    for variant, name in DIT_FOLDERS.items():
        written += write_dit_checkpoint(
            root / name, tiny_dit_config(variant, text_hidden_dim=text_hidden), seed
        )
    with _quiet_libraries():
        written += write_vae(root / VAE_FOLDER, seed)
        written += write_text_encoder(root / TEXT_ENCODER_FOLDER, seed, tokenizer)
        written += write_planner_lm(root / PLANNER_LM_FOLDER, seed, tokenizer)
    # A marker per model folder, so `legato models verify` reports "tiny (test) model" instead of
    # comparing these files with the real weights' catalogue sizes.
    from engine.models.verify import TINY_MARKER

    for folder in sorted({path.relative_to(root).parts[0] for path in written}):
        marker = root / folder / TINY_MARKER
        marker.write_text(json.dumps({"tiny": True, "seed": seed, "tokenizer": tokenizer}) + "\n", encoding="utf-8")
        written.append(marker)
    return sorted(written)


@contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Silence save_pretrained's progress bars and notices (irrelevant here); restore afterwards."""
    from transformers.utils import logging as hf_logging

    bars_were_off = hf_logging.is_progress_bar_enabled() is False
    levels = {name: logging.getLogger(name).level for name in ("transformers", "diffusers")}
    hf_logging.disable_progress_bar()
    for name in levels:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        if not bars_were_off:
            hf_logging.enable_progress_bar()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
