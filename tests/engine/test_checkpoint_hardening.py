"""Hostile checkpoint folders (issue 13 items 1, 2, 6): no code runs, nothing outside the folder
is read, and every broken file is a CheckpointError naming it, never a crash or a hang."""

from __future__ import annotations

import ast
import json
import shutil
import struct
from pathlib import Path

import pytest

from engine.errors import CheckpointError

REPO = Path(__file__).resolve().parents[2]
TEXT = "Qwen3-Embedding-0.6B"
LM = "acestep-5Hz-lm-1.7B"
TURBO = "acestep-v15-turbo"

PLANTED = """
import pathlib
pathlib.Path({marker!r}).write_text("custom code ran")
class EvilConfig: pass
class EvilModel: pass
"""


def _copy(tiny: Path, name: str, dest: Path) -> Path:
    return Path(shutil.copytree(tiny / name, dest / name))


def _tree(tiny: Path, dest: Path, copied: str) -> Path:
    """A checkpoints root where `copied` is a private copy and every other folder a symlink."""
    root = dest / "checkpoints"
    root.mkdir()
    for child in tiny.iterdir():
        if child.name == copied:
            shutil.copytree(child, root / child.name)
        else:
            (root / child.name).symlink_to(child, target_is_directory=True)
    return root


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _plant_auto_map(folder: Path, tmp_path: Path, file: str = "config.json") -> Path:
    marker = tmp_path / "PWNED"
    (folder / "configuration_evil.py").write_text(PLANTED.format(marker=str(marker)))
    _edit_json(
        folder / file,
        auto_map={"AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "configuration_evil.EvilModel",
                  "AutoTokenizer": ["configuration_evil.EvilConfig", None]},
    )
    return marker


# --- 1. custom code ----------------------------------------------------------------------------


@pytest.mark.parametrize("file", ["config.json", "tokenizer_config.json"])
def test_text_encoder_auto_map_is_refused_before_transformers(tiny_checkpoints, tmp_path, file, monkeypatch):
    from engine.models.text_encoder import TextEncoder

    folder = _copy(tiny_checkpoints, TEXT, tmp_path)
    marker = _plant_auto_map(folder, tmp_path, file)
    # "y" to transformers' "run custom code? [y/N]" prompt, should it ever be asked.
    monkeypatch.setattr("builtins.input", lambda *a, **k: "y")
    with pytest.raises(CheckpointError, match=rf"{file}.*auto_map"):
        TextEncoder.load(folder)
    assert not marker.exists()


@pytest.mark.parametrize("file", ["config.json", "tokenizer_config.json"])
def test_lm_auto_map_is_refused(tiny_checkpoints, tmp_path, file, monkeypatch):
    from engine.planner.lm import PlannerLM

    folder = _copy(tiny_checkpoints, LM, tmp_path)
    marker = _plant_auto_map(folder, tmp_path, file)
    monkeypatch.setattr("builtins.input", lambda *a, **k: "y")
    with pytest.raises(CheckpointError, match="auto_map"):
        PlannerLM.load(folder, max_duration=60)
    assert not marker.exists()


def test_pipeline_from_checkpoints_refuses_auto_map(tiny_checkpoints, tmp_path, monkeypatch):
    from engine.tasks.pipeline import GenerationPipeline

    root = _tree(tiny_checkpoints, tmp_path, TEXT)
    marker = _plant_auto_map(root / TEXT, tmp_path)
    monkeypatch.setattr("builtins.input", lambda *a, **k: "y")
    with pytest.raises(CheckpointError, match=rf"{TEXT}.*config.json.*auto_map"):
        GenerationPipeline.from_checkpoints(root)
    assert not marker.exists()


def test_every_transformers_from_pretrained_says_trust_remote_code_false():
    """AST scan: each `Auto*.from_pretrained(...)` in engine/ passes trust_remote_code=False."""
    offenders = []
    for path in (REPO / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if node.func.attr != "from_pretrained" or not (
                isinstance(owner, ast.Name) and owner.id.startswith("Auto")
            ):
                continue
            ok = any(
                k.arg == "trust_remote_code" and isinstance(k.value, ast.Constant) and k.value.value is False
                for k in node.keywords
            )
            if not ok:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


# --- 2. shard names ----------------------------------------------------------------------------


def _shard_outside(folder: Path, tmp_path: Path, weights: str, index: str, absolute: bool) -> None:
    """Move the weights file outside the folder and point an index at it."""
    outside = tmp_path / "outside.safetensors"
    shutil.move(str(folder / weights), outside)
    from engine.models.checkpoint_files import read_header

    keys = [k for k in read_header(outside) if k != "__metadata__"]
    name = str(outside) if absolute else "../outside.safetensors"
    (folder / index).write_text(json.dumps({"metadata": {}, "weight_map": {k: name for k in keys}}))


@pytest.mark.parametrize("absolute", [False, True])
def test_dit_index_with_escaping_shard_names_is_refused(tiny_checkpoints, tmp_path, absolute):
    from engine.models.dit_loader import load_dit

    folder = _copy(tiny_checkpoints, TURBO, tmp_path)
    _shard_outside(folder, tmp_path, "model.safetensors", "model.safetensors.index.json", absolute)
    with pytest.raises(CheckpointError, match=r"model.safetensors.index.json: shard names must be plain"):
        load_dit(folder)


@pytest.mark.parametrize("absolute", [False, True])
def test_lm_and_text_encoder_indexes_with_escaping_shards_are_refused(tiny_checkpoints, tmp_path, absolute):
    from engine.models.text_encoder import TextEncoder
    from engine.planner.lm import PlannerLM

    lm = _copy(tiny_checkpoints, LM, tmp_path)
    _shard_outside(lm, tmp_path, "model.safetensors", "model.safetensors.index.json", absolute)
    with pytest.raises(CheckpointError, match="shard names must be plain"):
        PlannerLM.load(lm, max_duration=60)
    text_dir = tmp_path / "t"
    text_dir.mkdir()
    text = _copy(tiny_checkpoints, TEXT, text_dir)
    _shard_outside(text, text_dir, "model.safetensors", "model.safetensors.index.json", absolute)
    with pytest.raises(CheckpointError, match="shard names must be plain"):
        TextEncoder.load(text)


# --- 6. headers, weights, sizes, nesting, tokenizer ----------------------------------------------


def _rewrite_header(path: Path, header_bytes: bytes, length: int | None = None) -> None:
    data = path.read_bytes()
    (old_len,) = struct.unpack("<Q", data[:8])
    body = data[8 + old_len :]
    length = len(header_bytes) if length is None else length
    path.write_bytes(struct.pack("<Q", length) + header_bytes + body)


def _header(path: Path) -> dict:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n])


@pytest.mark.parametrize("length", [2**64 - 1, 2**40])
def test_absurd_header_length_is_named(tiny_checkpoints, tmp_path, length):
    from engine.models.dit_loader import load_dit

    folder = _copy(tiny_checkpoints, TURBO, tmp_path)
    weights = folder / "model.safetensors"
    _rewrite_header(weights, json.dumps(_header(weights)).encode(), length=length)
    with pytest.raises(CheckpointError, match=rf"{weights}.*header length"):
        load_dit(folder)


def test_header_that_is_a_list_is_named_and_models_list_survives(tiny_checkpoints, tmp_path, capsys):
    from engine.cli import main
    from engine.models.discovery import list_installed_models

    root = _tree(tiny_checkpoints, tmp_path, TURBO)
    weights = root / TURBO / "model.safetensors"
    _rewrite_header(weights, b"[1, 2, 3]")
    [turbo] = [m for m in list_installed_models(root) if m.name == TURBO]
    assert "header is a JSON list" in turbo.problem and str(weights) in turbo.problem
    main(["models", "list", "--checkpoints", str(root)])  # used to crash with AttributeError
    assert TURBO in capsys.readouterr().out


@pytest.mark.parametrize("dtype", ["I64", "BOOL"])
def test_integer_or_bool_dit_weights_are_refused(tiny_checkpoints, tmp_path, dtype):
    from engine.models.dit_loader import load_dit

    folder = _copy(tiny_checkpoints, TURBO, tmp_path)
    weights = folder / "model.safetensors"
    header = _header(weights)
    # Re-declare one F32 tensor as I64 / BOOL over the same bytes (I64: half the elements).
    key = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
    start, end = header[key]["data_offsets"]
    header[key] = {"dtype": dtype, "shape": [(end - start) // (8 if dtype == "I64" else 1)],
                   "data_offsets": [start, end]}
    _rewrite_header(weights, json.dumps(header).encode())
    with pytest.raises(CheckpointError, match=rf"{weights}: weights must be floating point.*{dtype}"):
        load_dit(folder)


def test_absurd_weight_shape_is_refused_before_reading(tiny_checkpoints, tmp_path):
    from engine.models.dit_loader import load_dit

    folder = _copy(tiny_checkpoints, TURBO, tmp_path)
    weights = folder / "model.safetensors"
    header = _header(weights)
    key = next(k for k in header if k != "__metadata__")
    header[key]["shape"] = [2**31, 2**31]
    _rewrite_header(weights, json.dumps(header).encode())
    with pytest.raises(CheckpointError, match=rf"{weights}.*does not match its"):
        load_dit(folder)


@pytest.mark.parametrize(
    "field, value",
    [("hidden_size", -1), ("hidden_size", 1e9), ("num_hidden_layers", 100000), ("head_dim", True)],
)
@pytest.mark.parametrize("which", [TURBO, TEXT, LM, "vae"])
def test_absurd_sizes_are_refused_quickly(tiny_checkpoints, tmp_path, field, value, which):
    from engine.models.dit_loader import load_dit
    from engine.models.text_encoder import TextEncoder
    from engine.models.vae import AudioVAE
    from engine.planner.lm import PlannerLM

    folder = _copy(tiny_checkpoints, which, tmp_path)
    if which == "vae":
        field = {"hidden_size": "encoder_hidden_size", "num_hidden_layers": "decoder_channels",
                 "head_dim": "audio_channels"}[field]
    _edit_json(folder / "config.json", **{field: value})
    loader = {TURBO: load_dit, TEXT: TextEncoder.load, "vae": AudioVAE.load,
              LM: lambda f: PlannerLM.load(f, max_duration=60)}[which]
    with pytest.raises(CheckpointError, match=rf"config.json: malformed value: {field} is"):
        loader(folder)


def test_vae_list_sizes_are_bounded(tiny_checkpoints, tmp_path):
    from engine.models.vae import AudioVAE

    folder = _copy(tiny_checkpoints, "vae", tmp_path)
    _edit_json(folder / "config.json", downsampling_ratios=[2, 4, -1])
    with pytest.raises(CheckpointError, match="downsampling_ratios"):
        AudioVAE.load(folder)


@pytest.mark.parametrize("which", [TURBO, TEXT])
def test_deeply_nested_config_is_named(tiny_checkpoints, tmp_path, which):
    from engine.models.discovery import list_installed_models
    from engine.models.dit_loader import load_dit
    from engine.models.text_encoder import TextEncoder

    root = _tree(tiny_checkpoints, tmp_path, which)
    config = root / which / "config.json"
    config.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CheckpointError, match=rf"{config}: not valid JSON"):
        (load_dit if which == TURBO else TextEncoder.load)(root / which)
    [model] = [m for m in list_installed_models(root) if m.name == which]
    assert str(config) in model.problem


def test_moderately_deep_config_is_refused(tmp_path):
    """Deep enough for json but not for anything that walks it recursively later."""
    from engine.models.config_guard import read_json

    path = tmp_path / "config.json"
    path.write_text('{"a": ' + "[" * 500 + "]" * 500 + "}")
    with pytest.raises(CheckpointError, match="nested more than"):
        read_json(path)


def test_huge_integer_in_config_is_named(tiny_checkpoints, tmp_path):
    from engine.models.dit_loader import load_dit

    folder = _copy(tiny_checkpoints, TURBO, tmp_path)
    text = (folder / "config.json").read_text().replace('"hidden_size": 64', '"hidden_size": ' + "9" * 5000)
    (folder / "config.json").write_text(text)
    with pytest.raises(CheckpointError, match="config.json: not valid JSON"):
        load_dit(folder)


def test_missing_lm_tokenizer_json_is_named(tiny_checkpoints, tmp_path):
    from engine.planner.lm import PlannerLM

    folder = _copy(tiny_checkpoints, LM, tmp_path)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match=r"missing file: .*tokenizer.json"):
        PlannerLM.load(folder, max_duration=60)


def test_dit_auto_map_is_ignored_not_run(tiny_checkpoints, tmp_path):
    """The ACE-Step DiT config ships an auto_map upstream; our parser never executes it."""
    from engine.models.dit_loader import load_dit

    folder = _copy(tiny_checkpoints, TURBO, tmp_path)
    marker = _plant_auto_map(folder, tmp_path)
    load_dit(folder)
    assert not marker.exists()
