"""DiT loading: both layouts give identical outputs; broken folders give errors naming the file."""

import json
import shutil

import pytest
import torch

from engine.errors import CheckpointError
from engine.models import key_mapping
from engine.models.dit_loader import load_dit, save_dit_diffusers
from engine.models.tiny.dit_checkpoint import TINY_LATENT_CHANNELS as C


@pytest.fixture(scope="module")
def turbo_dir(tiny_checkpoints):
    return tiny_checkpoints / "acestep-v15-turbo"


@pytest.fixture(scope="module")
def turbo(turbo_dir):
    return load_dit(turbo_dir)


def _outputs(dit):
    g = torch.Generator().manual_seed(0)
    cfg = dit.config
    text = torch.randn(2, 5, cfg.text_hidden_dim, generator=g)
    lyric = torch.randn(2, 7, cfg.text_hidden_dim, generator=g)
    text_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    lyric_mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    refs = torch.randn(2, 12, C, generator=g)
    cond = dit.encode_conditions(text, text_mask, lyric, lyric_mask, refs, torch.tensor([0, 1]))
    x = torch.randn(2, 13, C, generator=g)
    ctx = torch.randn(2, 13, 2 * C, generator=g)
    v = dit.denoise(x, torch.tensor([0.7, 0.3]), torch.tensor([0.7, 0.3]), ctx, cond.encoder_hidden_states)
    tok = dit.tokenize(x)
    detok = dit.detokenize(tok.codes)
    return {
        "cond": cond.encoder_hidden_states,
        "v": v,
        "codes": tok.codes,
        "hints": detok.latents_25hz,
        "silence": dit.silence_frames(300),
        "null": dit.null_condition(cond.encoder_hidden_states),
    }


def test_original_and_diffusers_layouts_agree(turbo, tmp_path):
    save_dit_diffusers(turbo, tmp_path / "diffusers")
    assert (tmp_path / "diffusers" / "model_index.json").is_file()
    again = load_dit(tmp_path / "diffusers")
    assert again.config.is_turbo and again.config.hidden_size == turbo.config.hidden_size
    ours, theirs = _outputs(turbo), _outputs(again)
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name


def test_key_mapping_round_trips(turbo_dir):
    from engine.models.checkpoint_files import read_safetensors_header

    for key in read_safetensors_header(turbo_dir / "model.safetensors"):
        component, inner = key_mapping.to_diffusers(key)
        assert key_mapping.to_original(component, inner) == key


def test_sharded_checkpoint_loads(turbo, turbo_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "sharded"
    folder.mkdir()
    for name in ("config.json", "silence_latent.pt"):
        shutil.copy(turbo_dir / name, folder / name)
    state = load_file(str(turbo_dir / "model.safetensors"))
    keys = sorted(state)
    shards = {
        "model-00001-of-00002.safetensors": keys[: len(keys) // 2],
        "model-00002-of-00002.safetensors": keys[len(keys) // 2 :],
    }
    weight_map = {}
    for shard, shard_keys in shards.items():
        save_file({k: state[k] for k in shard_keys}, str(folder / shard))
        weight_map.update({k: shard for k in shard_keys})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    loaded = load_dit(folder)
    assert torch.equal(_outputs(loaded)["v"], _outputs(turbo)["v"])
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model-00002-of-00002.safetensors"):
        load_dit(folder)


def _copy(turbo_dir, tmp_path):
    folder = tmp_path / "acestep-v15-turbo"
    shutil.copytree(turbo_dir, folder)
    return folder


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors", "silence_latent.pt"])
def test_missing_file_is_named(turbo_dir, tmp_path, missing):
    folder = _copy(turbo_dir, tmp_path)
    (folder / missing).unlink()
    with pytest.raises(CheckpointError, match=missing.replace(".", r"\.")):
        load_dit(folder)


def test_truncated_safetensors_is_named(turbo_dir, tmp_path):
    folder = _copy(turbo_dir, tmp_path)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*truncated"):
        load_dit(folder)
    weights.write_bytes(data[:5])  # not even a header
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        load_dit(folder)


def test_config_with_wrong_shapes_is_named(turbo_dir, tmp_path):
    folder = _copy(turbo_dir, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] *= 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*shapes do not match config\.json.*mlp"):
        load_dit(folder)
    config["num_hidden_layers"] += 1
    config["layer_types"] = None
    config["intermediate_size"] //= 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"missing keys decoder\.layers\.\d+\."):
        load_dit(folder)


def test_unexpected_and_missing_keys_are_named(turbo_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = _copy(turbo_dir, tmp_path)
    state = load_file(str(folder / "model.safetensors"))
    state.pop("decoder.norm_out.weight")
    state["decoder.extra.weight"] = torch.zeros(1)
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(
        CheckpointError,
        match=r"missing keys decoder\.norm_out\.weight.*unexpected keys "
        r"decoder\.extra\.weight",
    ):
        load_dit(folder)


def test_diffusers_layout_missing_component_is_named(turbo, tmp_path):
    folder = save_dit_diffusers(turbo, tmp_path / "diffusers")
    shutil.rmtree(folder / "condition_encoder")
    with pytest.raises(CheckpointError, match="condition_encoder"):
        load_dit(folder)


def test_not_a_checkpoint_folder(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        load_dit(tmp_path)


def test_bf16_load(turbo_dir):
    dit = load_dit(turbo_dir, dtype=torch.bfloat16)
    assert dit.dtype == torch.bfloat16
    v = dit.denoise(
        torch.randn(1, 6, C), 0.5, 0.5, torch.randn(1, 6, 2 * C), torch.randn(1, 4, dit.config.hidden_size)
    )
    assert v.dtype == torch.bfloat16 and torch.isfinite(v.float()).all()
    tok = dit.tokenize(torch.randn(1, 7, C))  # FSQ runs in fp32 inside, codes still valid
    assert tok.codes.shape == (1, 2, 1) and int(tok.codes.max()) < 64000
