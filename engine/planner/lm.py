"""Loading the planner LM (a Qwen3 causal LM + tokenizer) from a checkpoint folder.

Plain transformers classes, config.json + safetensors, never trust_remote_code (the published
checkpoints are stock Qwen3ForCausalLM with added tokens; upstream_lm_tools.md §1.1).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from engine.errors import CheckpointError
from engine.planner.constants import DURATION_MAX_DEFAULT
from engine.planner.vocab import PlannerVocab, planner_vocab

LM_FOLDER_PREFIX = "acestep-5Hz-lm-"
DEFAULT_LM_FOLDER = "acestep-5Hz-lm-1.7B"
GENRES_VOCAB_FILE = "genres_vocab.txt"

# Files a tokenizer is built from; a change to any of them (size or mtime) is a new tokenizer.
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
)
_TOKENIZER_CACHE_SIZE = 4
_tokenizer_cache: OrderedDict[tuple, Any] = OrderedDict()
_tokenizer_lock = threading.Lock()


def _tokenizer_key(folder: Path) -> tuple:
    files = []
    for name in _TOKENIZER_FILES:
        path = folder / name
        if path.is_file():
            stat = path.stat()
            files.append((name, stat.st_size, stat.st_mtime_ns))
    return (str(folder.resolve()), tuple(files))


def load_tokenizer(folder: Path) -> Any:
    """The planner tokenizer of `folder`, loaded once per process and then shared.

    Why: the LM tokenizers carry ~65k added tokens (the audio codes), and transformers
    deep-copies every AddedToken while building the tokenizer (`init_kwargs`), which costs
    seconds (~4 s for the tiny checkpoints on one CPU core) - more than loading the tiny model.
    Without this cache every loader of the same LM (GenerationPipeline's planner, ThinkJob,
    each CLI job, each test) paid it again. The tokenizer is only read (encode/decode), so one
    object can serve them all; the key includes the files' sizes and mtimes, so a rewritten
    tokenizer is loaded afresh.

    Raises:
        CheckpointError: the tokenizer cannot be loaded.
    """
    folder = Path(folder)
    key = _tokenizer_key(folder)
    with _tokenizer_lock:
        tokenizer = _tokenizer_cache.get(key)
        if tokenizer is not None:
            _tokenizer_cache.move_to_end(key)
            return tokenizer
    from transformers import AutoTokenizer

    from engine.models.config_guard import TRANSFORMERS_CONFIG_FILES, read_json, refuse_custom_code

    # Without tokenizer.json transformers quietly builds some other tokenizer, and the failure
    # surfaced much later as "no single token for '<think>'"; name the missing file instead.
    if not (folder / "tokenizer.json").is_file():
        raise CheckpointError(f"missing file: {folder / 'tokenizer.json'} (the planner LM's tokenizer)")
    for name in TRANSFORMERS_CONFIG_FILES:
        if (folder / name).is_file():
            refuse_custom_code(read_json(folder / name), folder / name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            folder, use_fast=True, trust_remote_code=False, local_files_only=True
        )
    except Exception as exc:  # noqa: BLE001 - any loader failure is a checkpoint problem to the user
        raise CheckpointError(f"cannot load the planner tokenizer from {folder}: {exc}") from exc
    with _tokenizer_lock:
        tokenizer = _tokenizer_cache.setdefault(key, tokenizer)  # a racing loader's copy wins once
        while len(_tokenizer_cache) > _TOKENIZER_CACHE_SIZE:
            _tokenizer_cache.popitem(last=False)
    return tokenizer


def find_lm_folder(path: Path | str) -> Path:
    """An LM folder itself, or a checkpoints root holding `acestep-5Hz-lm-*` (1.7B preferred).

    Raises:
        CheckpointError: no LM folder there.
    """
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"checkpoint folder {path} does not exist")
    if (path / DEFAULT_LM_FOLDER / "config.json").is_file():
        return path / DEFAULT_LM_FOLDER
    candidates = sorted(
        p for p in path.iterdir() if p.name.startswith(LM_FOLDER_PREFIX) and (p / "config.json").is_file()
    )
    if not candidates:
        raise CheckpointError(
            f"no planner LM in {path}: expected a folder named {LM_FOLDER_PREFIX}* with config.json"
        )
    return candidates[0]


def read_genres_vocab(path: Path) -> tuple[str, ...] | None:
    """One genre per line, '#' lines ignored, lower-cased (upstream genres_vocab.txt); None if absent."""
    if not path.is_file():
        return None
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.strip().lower()
        if entry and not entry.startswith("#"):
            entries.append(entry)
    return tuple(dict.fromkeys(entries)) or None


def shipped_genres_vocab() -> tuple[str, ...]:
    """The genre list shipped with Legato (engine/planner/data/genres_vocab.txt, package data).

    Why shipped: upstream reads `acestep/genres_vocab.txt` from its CODE repository, not from a
    checkpoint, so real LM folders hold none; without a list of our own, genres would always be
    free text. Ours is shorter than upstream's (see ARCHITECTURE.md "Differences from upstream").

    Raises:
        CheckpointError: the installation lacks the file (a broken install).
    """
    resource = files("engine.planner").joinpath("data", GENRES_VOCAB_FILE)
    try:
        with as_file(resource) as path:
            entries = read_genres_vocab(Path(path))
    except OSError as exc:
        raise CheckpointError(f"the shipped genre list {GENRES_VOCAB_FILE} cannot be read: {exc}") from exc
    if not entries:
        raise CheckpointError(f"the shipped genre list {GENRES_VOCAB_FILE} is missing or empty")
    return entries


def genres_vocab_for(folder: Path) -> tuple[str, ...]:
    """The LM folder's own genres_vocab.txt when it has one (e.g. upstream's), else ours."""
    return read_genres_vocab(folder / GENRES_VOCAB_FILE) or shipped_genres_vocab()


@dataclass
class PlannerLM:
    """A loaded planner: model, tokenizer, its cached vocabulary tables and the device limits.

    Attributes:
        max_duration: the device tier's longest song with the LM (s); the LM may not choose more
            and user durations above it are rejected (upstream_lm_tools.md §7).
        genres: genre vocabulary for constrained `genres`, or None (free text).
    """

    model: Any
    tokenizer: Any
    vocab: PlannerVocab
    folder: Path | None = None
    max_duration: int = DURATION_MAX_DEFAULT
    genres: tuple[str, ...] | None = None
    cache_mode: str = "dynamic"

    @classmethod
    def from_components(cls, model: Any, tokenizer: Any, **kwargs: Any) -> PlannerLM:
        from engine.planner.skinny_linear import install_skinny_linears

        vocab = planner_vocab(tokenizer, model.config.vocab_size)
        install_skinny_linears(model)  # few-row decode matmuls stream the weights once (CPU)
        return cls(model=model, tokenizer=tokenizer, vocab=vocab, **kwargs)

    @classmethod
    def load(
        cls,
        path: Path | str,
        *,
        device: str = "cpu",
        dtype: Any = None,
        max_duration: int | None = None,
        compile: bool = False,
    ) -> PlannerLM:
        """Load from an LM folder or a checkpoints root.

        Args:
            device: torch device string.
            dtype: torch dtype; default bfloat16 on CUDA, float32 elsewhere (as upstream).
            max_duration: longest song the LM may plan (s); default: the device's memory tier
                (engine.runtime.memory_tier, upstream gpu_config "max duration with LM").
            compile: on CUDA, use a static KV cache and torch.compile the forward pass.

        Raises:
            CheckpointError: missing/malformed files or a tokenizer without the LM's tokens.
        """
        import torch
        from transformers import AutoModelForCausalLM

        from engine.models.config_guard import guard_transformers_folder

        folder = find_lm_folder(path)
        guard_transformers_folder(folder)  # sizes, auto_map, shard names, headers: before transformers
        if max_duration is None:
            from engine.runtime.memory_tier import detect_tier

            max_duration = detect_tier(device).max_duration_with_lm
        if dtype is None:
            dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
        tokenizer = load_tokenizer(folder)
        try:
            model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=dtype, trust_remote_code=False, use_safetensors=True, local_files_only=True
            )
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"cannot load the planner LM from {folder}: {exc}") from exc
        model.to(device).eval().requires_grad_(False)  # inference weights frozen (issue 17)
        cache_mode = "dynamic"
        if compile:
            if not str(device).startswith("cuda"):
                raise CheckpointError("compile=True needs a CUDA device (static cache + torch.compile)")
            model.forward = torch.compile(model.forward, dynamic=True)
            cache_mode = "static"
        return cls.from_components(
            model,
            tokenizer,
            folder=folder,
            max_duration=int(max_duration),
            genres=genres_vocab_for(folder),
            cache_mode=cache_mode,
        )

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(text)
