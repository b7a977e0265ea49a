"""Checks every checkpoint config passes before any library (or our own parser) builds from it.

A checkpoint folder is untrusted input: it may come from anywhere on disk. These checks run
BEFORE transformers/diffusers see the folder, because those libraries act on what a config
says (build a model of its sizes, import the module `auto_map` names, read the shards an index
lists) and fail late, loudly or not at all:

- `read_json`: size-capped, depth-capped JSON; a 100,000-level nest, a 5,000-digit integer or a
  list where an object belongs is a CheckpointError naming the file, never a RecursionError.
- `refuse_custom_code`: `auto_map` (transformers' pointer to Python files shipped in the
  folder) is refused outright, so no "run custom code? [y/N]" prompt can ever appear. Our own
  DiT parser ignores `auto_map` in the ACE-Step DiT config (upstream ships one there) because it
  never hands that config to transformers; see SECURITY.md.
- `check_sizes`: the size fields a model is built from must be whole numbers in a sane range,
  so `hidden_size=1e9` or `num_hidden_layers=100000` cannot allocate terabytes or hang.
- `guard_transformers_folder`: all of the above for the config files of a folder handed to
  `from_pretrained`, plus the shard-name check of `checkpoint_files.weight_files`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import CheckpointError

MAX_CONFIG_BYTES = 64 * 1024 * 1024  # an LM tokenizer_config.json listing 65k added tokens is ~10 MB
MAX_JSON_DEPTH = 32  # real configs nest 3-4 levels

# Upper bounds for the fields models are built from. Generous: the largest published sizes
# (ACE-Step XL, Qwen3 4B) are far below; above them a config can only be hostile or broken.
SIZE_LIMITS: dict[str, int] = {
    "hidden_size": 1 << 15,
    "intermediate_size": 1 << 18,
    "num_hidden_layers": 256,
    "num_attention_heads": 512,
    "num_key_value_heads": 512,
    "head_dim": 2048,
    "vocab_size": 1 << 21,
    "max_position_embeddings": 1 << 22,
    "max_window_layers": 1 << 10,
    "encoder_hidden_size": 1 << 15,
    "encoder_intermediate_size": 1 << 18,
    "encoder_num_attention_heads": 512,
    "encoder_num_key_value_heads": 512,
    "num_lyric_encoder_hidden_layers": 256,
    "num_timbre_encoder_hidden_layers": 256,
    "num_attention_pooler_hidden_layers": 256,
    "num_audio_decoder_hidden_layers": 256,
    "text_hidden_dim": 1 << 15,
    "timbre_hidden_dim": 1 << 15,
    "audio_acoustic_hidden_dim": 1 << 12,
    "in_channels": 1 << 14,
    "fsq_dim": 1 << 15,
    "fsq_input_num_quantizers": 64,
    "patch_size": 64,
    "pool_window_size": 1024,
    "timbre_fix_frame": 1 << 16,
    "decoder_channels": 1 << 14,
    "decoder_input_channels": 1 << 14,
    "audio_channels": 64,
}
# List-valued size fields (VAE strides, FSQ levels): each entry bounded, and the list short.
LIST_LIMITS: dict[str, int] = {
    "channel_multiples": 64,
    "downsampling_ratios": 64,
    "fsq_input_levels": 1 << 12,
}
MAX_LIST_FIELD_LEN = 16
# Nullable in real configs (sliding_window: null); checked only when present and not null.
OPTIONAL_SIZE_LIMITS: dict[str, int] = {"sliding_window": 1 << 22}

# Config files transformers reads from a folder; each may carry `auto_map`.
TRANSFORMERS_CONFIG_FILES = ("config.json", "tokenizer_config.json", "generation_config.json")


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True when `value` nests deeper than `limit` (iterative: deep input cannot recurse us)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def read_json(path: Path) -> dict:
    """Read a checkpoint JSON file that must hold an object; every failure names the file.

    Raises:
        CheckpointError: missing, unreadable, too large, not JSON, too deeply nested, a number
            Python will not parse (over 4,300 digits), or not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"missing file: {path}")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise CheckpointError(f"{path}: too large for a config file (over {MAX_CONFIG_BYTES >> 20} MB)")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except CheckpointError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError covers json.JSONDecodeError and int("5000 digits") refusals.
        raise CheckpointError(f"{path}: not valid JSON ({str(exc)[:200]})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got a {type(data).__name__}")
    if _depth_exceeds(data, MAX_JSON_DEPTH):
        raise CheckpointError(f"{path}: nested more than {MAX_JSON_DEPTH} levels deep; not a real config")
    return data


def refuse_custom_code(config: dict, source: Path | str) -> None:
    """Refuse a config that points transformers at Python files (`auto_map`), before it is loaded."""
    if "auto_map" in config:
        raise CheckpointError(
            f"{source}: has 'auto_map', which asks to run Python code shipped with the checkpoint; "
            "Legato never runs checkpoint code. Remove 'auto_map' if this is a stock model."
        )


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_sizes(config: dict, source: Path | str) -> None:
    """Every known size field present in `config` (and its nested sub-configs) is sane.

    Raises:
        CheckpointError: naming the file and the field, e.g. "hidden_size is -1".
    """
    stack = [config]
    while stack:
        item = stack.pop()
        for key, value in item.items():
            if isinstance(value, dict):
                stack.append(value)
                continue
            limit = SIZE_LIMITS.get(key)
            if limit is None and value is not None:
                limit = OPTIONAL_SIZE_LIMITS.get(key)
            if limit is not None and not (_whole_number(value) and 1 <= value <= limit):
                raise CheckpointError(
                    f"{source}: malformed value: {key} is {str(value)[:40]}; expected a whole number from 1 to {limit}"
                )
            entry_limit = LIST_LIMITS.get(key)
            if entry_limit is not None:
                ok = isinstance(value, list) and 0 < len(value) <= MAX_LIST_FIELD_LEN
                ok = ok and all(_whole_number(v) and 1 <= v <= entry_limit for v in value)
                if not ok:
                    raise CheckpointError(
                        f"{source}: malformed value: {key} is {str(value)[:60]}; expected up to {MAX_LIST_FIELD_LEN} "
                        f"whole numbers from 1 to {entry_limit}"
                    )


def read_model_config(path: Path, *, allow_auto_map: bool = False) -> dict:
    """`read_json` + `check_sizes` (+ `refuse_custom_code` unless the caller never passes the
    config to transformers, as our own ACE-Step DiT parser does)."""
    config = read_json(path)
    if not allow_auto_map:
        refuse_custom_code(config, path)
    check_sizes(config, path)
    return config


def guard_transformers_folder(folder: Path, tokenizer_folder: Path | None = None) -> None:
    """Check a folder before `from_pretrained`: configs, custom code, sizes and shard names.

    Raises:
        CheckpointError: naming the file at fault.
    """
    from engine.models.checkpoint_files import check_safetensors_complete, weight_files

    folder = Path(folder)
    read_model_config(folder / "config.json")
    for tok_dir in {folder, Path(tokenizer_folder) if tokenizer_folder else folder}:
        for name in TRANSFORMERS_CONFIG_FILES[1:]:
            if (tok_dir / name).is_file():
                refuse_custom_code(read_json(tok_dir / name), tok_dir / name)
    for path in weight_files(folder):
        check_safetensors_complete(path)
