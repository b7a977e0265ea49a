"""Model discovery in a checkpoints folder: listing, completeness, and messages naming what is missing."""

import shutil

import pytest

from engine.errors import CheckpointError
from engine.models.discovery import find_checkpoints_dir, list_installed_models, resolve_model_set


@pytest.fixture()
def tree(tiny_checkpoints, tmp_path):
    root = tmp_path / "ACE-Step-1.5" / "checkpoints"
    shutil.copytree(tiny_checkpoints, root)
    return root


def test_lists_every_installed_model(tree):
    models = {m.name: m for m in list_installed_models(tree)}
    assert models["acestep-v15-turbo"].kind == "dit" and models["acestep-v15-turbo"].variant == "turbo"
    assert models["acestep-v15-base"].variant == "base"
    assert models["vae"].kind == "vae"
    assert models["Qwen3-Embedding-0.6B"].kind == "text_encoder"
    assert any(m.kind == "lm" for m in models.values())
    assert all(m.complete for m in models.values())


def test_install_root_is_accepted(tree):
    assert find_checkpoints_dir(tree.parent) == tree
    model_set = resolve_model_set(tree.parent, dit="acestep-v15-base")
    assert model_set.dit == tree / "acestep-v15-base" and model_set.vae == tree / "vae"


def test_missing_pieces_are_named(tree):
    shutil.rmtree(tree / "vae")
    (tree / "acestep-v15-turbo" / "silence_latent.pt").unlink()
    with pytest.raises(CheckpointError) as info:
        resolve_model_set(tree)
    message = str(info.value)
    assert "vae (vae) is not installed" in message
    assert "silence_latent.pt" in message
    listed = {m.name: m for m in list_installed_models(tree)}
    assert not listed["acestep-v15-turbo"].complete


def test_truncated_download_is_reported(tree):
    weights = tree / "Qwen3-Embedding-0.6B" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    broken = {m.name: m for m in list_installed_models(tree)}["Qwen3-Embedding-0.6B"]
    assert "truncated" in broken.problem and "model.safetensors" in broken.problem


def test_diffusers_layout_dit_is_discovered(tree):
    from engine.models.dit_loader import load_dit, save_dit_diffusers

    save_dit_diffusers(load_dit(tree / "acestep-v15-turbo"), tree / "acestep-v15-turbo-diffusers")
    listed = {m.name: m for m in list_installed_models(tree)}["acestep-v15-turbo-diffusers"]
    assert (listed.kind, listed.layout, listed.complete) == ("dit", "diffusers", True)


def test_cli_models_list(tree, capsys):
    from engine.cli import main

    assert main(["models", "list", str(tree)]) == 0
    out = capsys.readouterr().out
    assert "acestep-v15-turbo" in out and "ok" in out
    shutil.rmtree(tree / "vae")
    (tree / "acestep-v15-base" / "model.safetensors").unlink()
    assert main(["models", "list", str(tree)]) == 1
    lines = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "BROKEN" in lines["acestep-v15-base"] and "model.safetensors" in lines["acestep-v15-base"]
    assert lines["acestep-v15-turbo"].endswith(" ok")  # only the damaged model is reported
    assert "vae" not in lines  # a removed model is no longer listed


def test_diffusers_pipeline_folder_with_bundled_parts(tree, tmp_path):
    """A diffusers pipeline folder alone (vae/, text_encoder/, tokenizer/ inside) resolves and loads."""
    from engine.models.dit_loader import load_dit, save_dit_diffusers
    from engine.models.text_encoder import TextEncoder

    root = tmp_path / "only-diffusers"
    pipe = save_dit_diffusers(load_dit(tree / "acestep-v15-turbo"), root / "acestep-v15-turbo-diffusers")
    shutil.copytree(tree / "vae", pipe / "vae")
    shutil.copytree(tree / "Qwen3-Embedding-0.6B", pipe / "text_encoder")
    (pipe / "tokenizer").mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (pipe / "text_encoder" / name).rename(pipe / "tokenizer" / name)
    model_set = resolve_model_set(root, dit="acestep-v15-turbo-diffusers")
    assert model_set.vae == pipe / "vae" and model_set.tokenizer == pipe / "tokenizer"
    text = TextEncoder.load(model_set.text_encoder, tokenizer_folder=model_set.tokenizer)
    assert text.encode_captions(["hi"]).hidden_states.ndim == 3
    (pipe / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="tokenizer.json"):
        resolve_model_set(root, dit="acestep-v15-turbo-diffusers")
