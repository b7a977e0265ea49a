"""`legato lora dataset|preprocess|train|export` (the training half of `legato lora`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Adds the training actions to `legato lora` (filled in by the dataset/train modules)."""
