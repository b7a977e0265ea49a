"""LoRA at generation time on the tiny checkpoints: formats, fit check, scale, unload,
provenance and re-render, INT8 refusal, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine.errors import AdapterError, ValidationError
from engine.lora.formats import read_adapter
from engine.lora.spec import LoraSpec, parse_lora_arg
from engine.tasks.request import GenerationRequest, request_from_dict, request_to_dict
from tests.engine.lora_helpers import random_lora_state, write_random_adapter

REQ = GenerationRequest(caption="lofi piano", lyrics="[verse]\nla la", duration=2.0, seeds=(7,))


@pytest.fixture(scope="module")
def turbo(tiny_checkpoints):
    from engine.tasks.pipeline import GenerationPipeline

    return GenerationPipeline.from_checkpoints(tiny_checkpoints, task="text2music")


@pytest.fixture(scope="module")
def adapter_dir(turbo, tmp_path_factory):
    return write_random_adapter(tmp_path_factory.mktemp("lora") / "style", turbo.dit.transformer, rank=4, alpha=8)


def _audio(pipe, req):
    return pipe(req).takes[0].audio


def test_upstream_peft_folder_is_read_with_rank_targets_and_hash(adapter_dir):
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["task_type"] == "FEATURE_EXTRACTION"
    assert sorted(config["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    from safetensors import safe_open

    with safe_open(str(adapter_dir / "adapter_model.safetensors"), "pt") as handle:
        keys = list(handle.keys())
    assert "base_model.model.layers.0.self_attn.o_proj.lora_B.weight" in keys
    adapter = read_adapter(adapter_dir)
    assert (adapter.rank, adapter.alpha, adapter.layout) == (4, 8.0, "peft-folder")
    assert "layers.0.self_attn.to_out.0" in adapter.modules and len(adapter.sha256) == 64


def test_scale_zero_and_unload_are_bit_identical_and_scale_changes_output(turbo, adapter_dir):
    base = _audio(turbo, REQ)
    with_lora = _audio(turbo, REQ.with_changes(loras=(LoraSpec(str(adapter_dir), 1.0),)))
    half = _audio(turbo, REQ.with_changes(loras=(LoraSpec(str(adapter_dir), 0.5),)))
    zero = _audio(turbo, REQ.with_changes(loras=(LoraSpec(str(adapter_dir), 0.0),)))
    assert np.array_equal(zero, base)
    assert not np.allclose(with_lora, base, atol=1e-4) and not np.allclose(half, with_lora, atol=1e-4)
    again = _audio(turbo, REQ.with_changes(loras=(LoraSpec(str(adapter_dir), 1.0),)))
    assert np.array_equal(again, with_lora)  # scale round trip 1 -> 0.5 -> 0 -> 1 lands on the same output
    unloaded = _audio(turbo, REQ)  # no adapters: every PEFT layer is gone again
    assert np.array_equal(unloaded, base)
    assert type(turbo.dit.transformer.layers[0].self_attn.to_q) is torch.nn.Linear


def test_two_adapters_each_with_its_scale(turbo, adapter_dir, tmp_path):
    other = write_random_adapter(tmp_path / "other", turbo.dit.transformer, rank=2, alpha=2, seed=5)
    one = _audio(turbo, REQ.with_changes(loras=(LoraSpec(str(adapter_dir), 1.0),)))
    both = _audio(turbo, REQ.with_changes(loras=(LoraSpec(str(adapter_dir), 1.0), LoraSpec(str(other), 1.0))))
    other_off = _audio(turbo, REQ.with_changes(loras=(LoraSpec(str(adapter_dir), 1.0), LoraSpec(str(other), 0.0))))
    assert not np.allclose(both, one, atol=1e-4)
    assert np.array_equal(other_off, one)
    _audio(turbo, REQ)


def test_provenance_names_hash_and_scale_and_the_request_round_trips(turbo, adapter_dir):
    take = turbo(REQ.with_changes(loras=(LoraSpec(str(adapter_dir), 0.7),))).takes[0]
    (recorded,) = take.provenance.request["loras"]
    assert recorded == {"path": str(adapter_dir), "scale": 0.7, "name": "style",
                        "sha256": read_adapter(adapter_dir).sha256}
    again = request_from_dict(json.loads(json.dumps(take.provenance.request)))
    assert again.loras == (LoraSpec(**recorded),)
    assert np.array_equal(turbo(again).takes[0].audio, take.audio)
    assert request_to_dict(again)["loras"] == [recorded]
    _audio(turbo, REQ)


def test_a_changed_adapter_file_is_refused_on_rerender(turbo, adapter_dir, tmp_path):
    import shutil

    copy = shutil.copytree(adapter_dir, tmp_path / "copy")
    sha = read_adapter(copy).sha256
    write_random_adapter(copy, turbo.dit.transformer, seed=9)
    with pytest.raises(AdapterError, match="changed since"):
        turbo(REQ.with_changes(loras=(LoraSpec(str(copy), 1.0, sha256=sha),)))


def test_community_single_files_load_like_the_folder(turbo, adapter_dir, tmp_path):
    adapter = read_adapter(adapter_dir)
    folder_out = _audio(turbo, REQ.with_changes(loras=(LoraSpec(str(adapter_dir), 1.0),)))
    from engine.lora.export import upstream_state

    peft_keys = upstream_state(adapter.state)
    # ComfyUI-style: PEFT keys plus per-module .alpha scalars.
    comfy = dict(peft_keys)
    for key in peft_keys:
        if ".lora_A." in key:
            comfy[key.split(".lora_A.")[0] + ".alpha"] = torch.tensor(8.0)
    save_file(comfy, str(tmp_path / "comfy.safetensors"))
    # Older trainer style: diffusion_model.decoder. prefix, kohya lora_down/lora_up, alpha in metadata.
    kohya = {k.replace("base_model.model.", "diffusion_model.decoder.").replace("lora_A", "lora_down")
             .replace("lora_B", "lora_up"): v for k, v in peft_keys.items()}
    save_file(kohya, str(tmp_path / "kohya.safetensors"), metadata={"lora_alpha": "8"})
    for name in ("comfy", "kohya"):
        single = read_adapter(tmp_path / f"{name}.safetensors")
        assert (single.rank, single.alpha, single.layout) == (4, 8.0, "single-file")
        out = _audio(turbo, REQ.with_changes(loras=(LoraSpec(str(tmp_path / f"{name}.safetensors")),)))
        assert np.array_equal(out, folder_out), name
    _audio(turbo, REQ)


def test_unsupported_formats_are_refused_naming_the_file(tmp_path, turbo):
    lokr = tmp_path / "lokr_weights.safetensors"
    save_file({"lycoris_layers_0.lokr_w1": torch.zeros(2, 2)}, str(lokr))
    with pytest.raises(AdapterError, match="LoKr.*not supported") as err:
        read_adapter(lokr)
    assert str(lokr) in str(err.value)
    pickled = tmp_path / "lora_weights.pt"
    torch.save({"x": torch.zeros(1)}, pickled)
    with pytest.raises(AdapterError, match="pickled"):
        read_adapter(pickled)
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 4, "lora_alpha": 8}')
    (folder / "adapter_model.bin").write_bytes(b"x")
    with pytest.raises(AdapterError, match="pickled weights are never loaded"):
        read_adapter(folder)
    with pytest.raises(AdapterError, match="not found"):
        read_adapter(tmp_path / "nothing")
    not_lora = tmp_path / "full.safetensors"
    save_file({"decoder.layers.0.self_attn.q_proj.weight": torch.zeros(2, 2)}, str(not_lora))
    with pytest.raises(AdapterError, match="not a LoRA A/B weight"):
        read_adapter(not_lora)


def test_fit_check_refuses_an_adapter_for_another_model_size(turbo, tmp_path):
    from engine.lora.fit import check_fit
    from engine.models.dit_loader import load_dit
    from engine.models.tiny.dit_checkpoint import tiny_dit_config, write_dit_checkpoint

    write_dit_checkpoint(tmp_path / "xl", tiny_dit_config("xl_turbo"), seed=0)
    xl = load_dit(tmp_path / "xl")
    xl_adapter = write_random_adapter(tmp_path / "xl_lora", xl.transformer)
    with pytest.raises(AdapterError, match="trained for the hidden size") as err:
        check_fit(read_adapter(xl_adapter), turbo.dit.transformer)
    assert str(xl_adapter) in str(err.value)
    with pytest.raises(AdapterError, match="trained for"):
        turbo(REQ.with_changes(loras=(LoraSpec(str(xl_adapter)),)))
    # Too many layers, and a wrong rank in the config.
    state = random_lora_state(turbo.dit.transformer)
    state["layers.9.self_attn.to_q.lora_A.weight"] = state["layers.0.self_attn.to_q.lora_A.weight"].clone()
    state["layers.9.self_attn.to_q.lora_B.weight"] = state["layers.0.self_attn.to_q.lora_B.weight"].clone()
    from engine.lora.export import write_peft_adapter

    deep = write_peft_adapter(tmp_path / "deep", state, rank=4, alpha=8)
    with pytest.raises(AdapterError, match="layer 9 but the loaded model has 4 layers"):
        check_fit(read_adapter(deep), turbo.dit.transformer)
    config = json.loads((deep / "adapter_config.json").read_text())
    (deep / "adapter_config.json").write_text(json.dumps(config | {"r": 16}))
    with pytest.raises(AdapterError, match="r=16"):
        read_adapter(deep)


def test_int8_model_is_refused_with_the_reason(tiny_checkpoints, adapter_dir):
    pytest.importorskip("torchao")
    from engine.lora.inference import apply_loras
    from engine.models.dit_loader import load_dit
    from engine.runtime.options import apply_int8_weight_only

    dit = load_dit(tiny_checkpoints / "acestep-v15-turbo")
    apply_int8_weight_only(dit)
    with pytest.raises(AdapterError, match="INT8"):
        apply_loras(dit.transformer, (LoraSpec(str(adapter_dir)),))
    assert apply_loras(dit.transformer, (LoraSpec(str(adapter_dir), 0.0),))[0].sha256  # scale 0: nothing to load


def test_request_validation_and_cli_argument(adapter_dir):
    from engine.tasks.request import validate_request

    with pytest.raises(ValidationError, match="loras: scale"):
        validate_request(REQ.with_changes(loras=(LoraSpec("x", 3.0),)))
    with pytest.raises(ValidationError, match="listed twice"):
        validate_request(REQ.with_changes(loras=(LoraSpec("x"), LoraSpec("x", 0.5))))
    assert parse_lora_arg("/a/b:0.5") == LoraSpec("/a/b", 0.5)
    assert parse_lora_arg("C:/x/lora") == LoraSpec("C:/x/lora")
    assert parse_lora_arg("/a/b") == LoraSpec("/a/b", 1.0)


def test_cli_lora_info_list_and_generate_flag(adapter_dir, capsys):
    from engine.cli import build_parser, main

    assert main(["lora", "info", str(adapter_dir)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["rank"], info["alpha"], info["layers"]) == (4, 8.0, 4)
    assert info["target_modules"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert main(["lora", "list", str(adapter_dir.parent)]) == 0
    assert "LoRA rank 4" in capsys.readouterr().out
    assert main(["lora", "info", str(adapter_dir / "missing")]) == 1
    assert "not found" in capsys.readouterr().err
    from engine.cli.generate import request_from_args

    args = build_parser().parse_args(["generate", "--caption", "x", "--lora", f"{adapter_dir}:0.25", "--lora", "b"])
    assert request_from_args(args).loras == (LoraSpec(str(adapter_dir), 0.25), LoraSpec("b", 1.0))
