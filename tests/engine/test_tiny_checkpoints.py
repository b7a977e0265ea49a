"""The tiny-checkpoint factory writes the real upstream layout, deterministically, loadable offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import ValidationError
from engine.models.tiny import acestep_dit_parameter_shapes, write_tiny_checkpoints
from engine.models.tiny.dit_checkpoint import TINY_LATENT_CHANNELS as LATENT
from tests.engine import conformance_kit as kit


def _kit_dit(variant: str) -> Path:
    """The kit's tiny DiT folder (the kit is required, as for the conformance tests)."""
    return kit.kit_dir() / f"tiny-acestep-v15-{variant}"


EXPECTED_FILES = {
    "acestep-v15-turbo": {"config.json", "model.safetensors", "silence_latent.pt"},
    "acestep-v15-base": {"config.json", "model.safetensors", "silence_latent.pt"},
    "vae": {"config.json", "diffusion_pytorch_model.safetensors"},
    "Qwen3-Embedding-0.6B": {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
    },
    "acestep-5Hz-lm-1.7B": {
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
    },
}


def _inventory(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}


def _tensors(path: Path) -> list:
    from safetensors.torch import load_file

    return list(load_file(str(path)).values())


def _read_config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))


# --- the DiT key inventory, checked against the real upstream checkpoint of the kit -------------


@pytest.mark.parametrize("variant", ["turbo", "base"])
def test_dit_inventory_for_kit_config_equals_kit_checkpoint(variant):
    folder = _kit_dit(variant)
    shapes = acestep_dit_parameter_shapes(_read_config(folder))
    assert shapes == _inventory(folder / "model.safetensors")


def test_dit_inventory_follows_config_dimensions(tiny_checkpoints):
    config = _read_config(tiny_checkpoints / "acestep-v15-turbo")
    base = acestep_dit_parameter_shapes(config)
    deeper = acestep_dit_parameter_shapes(
        {**config, "num_hidden_layers": 5, "num_lyric_encoder_hidden_layers": 3}
    )
    assert set(deeper) - set(base) == {
        k for k in deeper if k.startswith(("decoder.layers.4.", "encoder.lyric_encoder.layers.2."))
    }
    # XL: the condition side is encoder_hidden_size wide, the decoder hidden_size wide.
    xl = acestep_dit_parameter_shapes({**config, "encoder_hidden_size": 48, "fsq_dim": 48})
    assert xl["decoder.condition_embedder.weight"] == (64, 48)
    assert xl["encoder.text_projector.weight"] == (48, config["text_hidden_dim"])
    assert xl["null_condition_emb"] == (1, 1, 48)
    assert xl["decoder.layers.0.cross_attn.k_proj.weight"] == (32, 64)


def test_dit_inventory_names_a_missing_field():
    with pytest.raises(ValidationError, match="hidden_size"):
        acestep_dit_parameter_shapes({"head_dim": 16})


# --- layout and contents of the written tree ----------------------------------------------------


def test_tree_has_the_real_folder_and_file_names(tiny_checkpoints):
    from engine.models.verify import TINY_MARKER

    found = {p.name: {f.name for f in p.iterdir()} - {TINY_MARKER} for p in tiny_checkpoints.iterdir() if p.is_dir()}
    assert found == EXPECTED_FILES
    assert all((tiny_checkpoints / name / TINY_MARKER).is_file() for name in EXPECTED_FILES)  # verify's hint
    total = sum(f.stat().st_size for f in tiny_checkpoints.rglob("*") if f.is_file())
    assert total < 40_000_000, f"tiny checkpoints grew to {total / 1e6:.1f} MB"


@pytest.mark.parametrize("variant", ["turbo", "base"])
def test_dit_folder_matches_kit_field_set_and_inventory(tiny_checkpoints, variant):
    ours = _read_config(tiny_checkpoints / f"acestep-v15-{variant}")
    theirs = _read_config(_kit_dit(variant))
    assert set(ours) == set(theirs)
    for field in ("is_turbo", "model_version", "auto_map", "architectures", "model_type", "layer_types"):
        assert ours[field] == theirs[field], field
    # The kit's tiny dimensions except the VAE latent channels (fewer, so the tiny VAE is fast):
    # exactly the kit's keys, and the shapes the inventory (checked against the kit above) gives
    # for the kit's config with our latent channels.
    latent = {k: ours[k] for k in ("audio_acoustic_hidden_dim", "in_channels", "timbre_hidden_dim")}
    assert {k for k in ours if ours[k] != theirs[k]} <= set(latent) | {"text_hidden_dim"}
    assert latent["audio_acoustic_hidden_dim"] < theirs["audio_acoustic_hidden_dim"] == 64
    ours_inventory = _inventory(tiny_checkpoints / f"acestep-v15-{variant}" / "model.safetensors")
    assert set(ours_inventory) == set(_inventory(_kit_dit(variant) / "model.safetensors"))
    assert ours_inventory == acestep_dit_parameter_shapes({**theirs, **latent})


def test_dit_weights_are_seeded_non_trivial_and_differ_between_variants(tiny_checkpoints):
    from safetensors.torch import load_file

    turbo = load_file(str(tiny_checkpoints / "acestep-v15-turbo" / "model.safetensors"))
    base = load_file(str(tiny_checkpoints / "acestep-v15-base" / "model.safetensors"))
    norm = turbo["decoder.layers.0.self_attn_norm.weight"]
    assert 0.15 < float(norm.std()) < 0.35 and 0.85 < float(norm.mean()) < 1.15
    bias = turbo["decoder.proj_in.1.bias"]
    assert 0.05 < float(bias.std()) < 0.15
    weight = turbo["decoder.layers.0.mlp.down_proj.weight"]  # fan_in 192
    assert abs(float(weight.std()) * 192**0.5 - 1.0) < 0.1
    assert all(t.dtype.is_floating_point and bool(t.isfinite().all()) for t in turbo.values())
    assert not any(bool((t == t.flatten()[0]).all()) for t in turbo.values()), "a constant tensor"
    assert not bool((turbo["null_condition_emb"] == base["null_condition_emb"]).all())


def test_silence_latent_is_a_channel_first_float32_tensor(tiny_checkpoints):
    import torch

    for variant in ("turbo", "base"):
        latent = torch.load(
            tiny_checkpoints / f"acestep-v15-{variant}" / "silence_latent.pt", weights_only=True
        )
        assert isinstance(latent, torch.Tensor)
        assert latent.dtype == torch.float32 and latent.shape[:2] == (1, LATENT) and latent.shape[2] >= 750
        assert float(latent.std(dim=2).mean()) > 0.1  # frames differ, so a wrong offset shows


def test_text_encoder_width_is_the_dit_text_hidden_dim(tiny_checkpoints):
    text = _read_config(tiny_checkpoints / "Qwen3-Embedding-0.6B")
    for variant in ("turbo", "base"):
        assert (
            _read_config(tiny_checkpoints / f"acestep-v15-{variant}")["text_hidden_dim"]
            == text["hidden_size"]
        )


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tiny_checkpoints, tmp_path):
    again = write_tiny_checkpoints(tmp_path / "again", seed=0)
    assert [p.relative_to(tmp_path / "again") for p in again] == sorted(
        p.relative_to(tiny_checkpoints) for p in tiny_checkpoints.rglob("*") if p.is_file()
    )
    for path in again:
        original = tiny_checkpoints / path.relative_to(tmp_path / "again")
        assert path.read_bytes() == original.read_bytes(), f"{path.name} differs between runs"

    other = tmp_path / "other"
    write_tiny_checkpoints(other, seed=1)
    for weights in (
        "acestep-v15-turbo/model.safetensors",
        "acestep-v15-turbo/silence_latent.pt",
        "vae/diffusion_pytorch_model.safetensors",
        "Qwen3-Embedding-0.6B/model.safetensors",
        "acestep-5Hz-lm-1.7B/model.safetensors",
    ):
        assert (other / weights).read_bytes() != (tiny_checkpoints / weights).read_bytes(), weights
    # The tokenizer does not depend on the seed.
    tok = "acestep-5Hz-lm-1.7B/tokenizer.json"
    assert (other / tok).read_bytes() == (tiny_checkpoints / tok).read_bytes()


# --- loading offline with the stock library classes ----------------------------------------------


def test_dit_loads_with_our_strict_loader(tiny_checkpoints):
    from safetensors.torch import load_file

    from engine.models.dit_loader import load_dit

    dit = load_dit(tiny_checkpoints / "acestep-v15-turbo")
    stored = load_file(str(tiny_checkpoints / "acestep-v15-turbo" / "model.safetensors"))

    def fingerprint(tensors):  # (shape, sum) per tensor: names differ (key mapping), values must not
        return sorted((tuple(t.shape), round(float(t.detach().double().sum()), 6)) for t in tensors)

    # Every stored tensor landed in a parameter and no parameter kept its random init.
    assert fingerprint(stored.values()) == fingerprint(dit.parameters())


def test_text_encoder_loads_offline_and_appends_endoftext(tiny_checkpoints):
    import torch
    from transformers import AutoModel, AutoTokenizer, Qwen3Model

    folder = tiny_checkpoints / "Qwen3-Embedding-0.6B"
    model = AutoModel.from_pretrained(folder, local_files_only=True)
    assert type(model) is Qwen3Model
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert tokenizer.pad_token_id == eot
    ids = tokenizer("# Caption\nA calm piano melody<|endoftext|>\n").input_ids
    assert ids[-1] == eot and ids.count(eot) == 2  # the one in the text + the appended one
    assert tokenizer.decode(ids[:-1], skip_special_tokens=True) == "# Caption\nA calm piano melody\n"
    batch = tokenizer(["[Verse]\nHello world", "hi"], padding="longest", return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state  # [B, L, text_hidden_dim]
        lyric_embeddings = model.embed_tokens(batch.input_ids)  # [B, L, 32], as the lyric branch uses
    assert states.shape == (2, batch.input_ids.shape[1], 32) and bool(states.isfinite().all())
    assert 0.5 < float(lyric_embeddings.std()) < 2.0


def test_planner_lm_loads_offline_with_audio_code_and_think_tokens(tiny_checkpoints):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3ForCausalLM

    folder = tiny_checkpoints / "acestep-5Hz-lm-1.7B"
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    assert type(model) is Qwen3ForCausalLM
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)

    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    # Relative ids as in the real vocabulary (151643 + offset there).
    offsets = {"<|im_start|>": 1, "<|im_end|>": 2, "<think>": 24, "</think>": 25, "<|audio_code_0|>": 26}
    for token, offset in offsets.items():
        assert tokenizer.convert_tokens_to_ids(token) == eot + offset, token
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.convert_tokens_to_ids("<|audio_code_63999|>") == eot + 26 + 63999
    assert len(tokenizer) == eot + 26 + 65535 == model.config.vocab_size
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()

    ids = tokenizer("<think>\nbpm: 120\n</think><|audio_code_123|><|audio_code_7|>").input_ids
    assert ids[0] == eot + 24 and eot + 25 in ids
    assert ids[-2:] == [eot + 26 + 123, eot + 26 + 7]  # each code is ONE token, no separators
    assert tokenizer.decode(ids[-2:]) == "<|audio_code_123|><|audio_code_7|>"
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits  # [1, L, vocab]
    assert logits.shape == (1, len(ids), len(tokenizer)) and bool(logits.isfinite().all())
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_chat_template_renders_upstream_prompt_strings(tiny_checkpoints):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        tiny_checkpoints / "Qwen3-Embedding-0.6B", local_files_only=True
    )
    system = "# Instruction\nGenerate audio semantic tokens based on the given conditions:\n\n"
    user = "# Caption\nA calm piano melody\n\n# Lyric\n[Instrumental]\n"
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    head = f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
    render = tokenizer.apply_chat_template
    assert render(messages, tokenize=False, add_generation_prompt=True) == head + "<|im_start|>assistant\n"
    cot = "<think>\nbpm: 73\nduration: 120\n</think>"
    assert render([*messages, {"role": "assistant", "content": cot}], tokenize=False) == (
        head + "<|im_start|>assistant\n<think>\nbpm: 73\nduration: 120\n</think>\n\n<|im_end|>\n"
    )
    empty = "<think>\n\n</think>"
    assert render([*messages, {"role": "assistant", "content": empty}], tokenize=False) == (
        head + "<|im_start|>assistant\n<think>\n\n</think>\n\n<|im_end|>\n"
    )


def test_vae_encodes_one_second_to_25_frames_of_the_dit_latent_channels(tiny_checkpoints):
    import torch
    from diffusers import AutoencoderOobleck

    weights = tiny_checkpoints / "vae" / "diffusion_pytorch_model.safetensors"
    assert {str(t.dtype) for t in _tensors(weights)} == {"torch.bfloat16"}  # 2 bytes/param, as real
    vae = AutoencoderOobleck.from_pretrained(tiny_checkpoints / "vae", local_files_only=True).eval()
    assert next(vae.parameters()).dtype == torch.float32  # diffusers upcasts on load
    config = vae.config
    assert config.sampling_rate == 48000 and config.audio_channels == 2
    assert list(config.downsampling_ratios) == [2, 4, 4, 6, 10] and config.decoder_input_channels == LATENT
    assert config.encoder_hidden_size == 2 * LATENT  # mean + scale per channel
    for variant in ("turbo", "base"):  # the DiTs read and write these latents
        dit = _read_config(tiny_checkpoints / f"acestep-v15-{variant}")
        assert dit["audio_acoustic_hidden_dim"] == dit["timbre_hidden_dim"] == LATENT
        assert dit["in_channels"] == 3 * LATENT
    audio = 0.3 * torch.randn(1, 2, 48000, generator=torch.Generator().manual_seed(0))  # [B, 2, 48000]
    with torch.no_grad():
        latents = vae.encode(audio).latent_dist.mean  # [B, C, 25]
        decoded = vae.decode(latents).sample  # [B, 2, 48000]
    assert latents.shape == (1, LATENT, 25)
    assert decoded.shape == (1, 2, 48000)
    assert bool(latents.isfinite().all()) and 0.1 < float(decoded.std()) < 10.0


# --- the command line ----------------------------------------------------------------------------


def test_cli_make_tiny_writes_the_tree_and_prints_paths(tmp_path, capsys):
    from engine.cli import main

    assert main(["models", "make-tiny", str(tmp_path / "ck"), "--seed", "3"]) == 0
    printed = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert {p.parent.name for p in printed} == set(EXPECTED_FILES)
    assert all(p.is_file() for p in printed)
    assert len(printed) == sum(len(files) + 1 for files in EXPECTED_FILES.values())  # + the tiny marker


def test_cli_make_tiny_reports_a_file_in_the_way(tmp_path, capsys):
    from engine.cli import main

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert main(["models", "make-tiny", str(blocker)]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(ValidationError, match="seed"):
        write_tiny_checkpoints(tmp_path / "ck", seed="0")
    with pytest.raises(ValidationError, match="tokenizer"):
        write_tiny_checkpoints(tmp_path / "ck", tokenizer="gpt2")


def test_qwen3_tiny_checkpoints_use_the_real_vocabulary_and_upstreams_code_ids(tiny_checkpoints_qwen3):
    """Text encoder and LM tokenizers are Qwen3's (151,643 BPE + 26 added tokens); the LM adds
    <|audio_code_N|> at 151669 + N (217,204 in all); the embedding tables have one row per token."""
    import json

    from tokenizers import Tokenizer

    text = Tokenizer.from_file(str(tiny_checkpoints_qwen3 / "Qwen3-Embedding-0.6B" / "tokenizer.json"))
    lm = Tokenizer.from_file(str(tiny_checkpoints_qwen3 / "acestep-5Hz-lm-1.7B" / "tokenizer.json"))
    assert text.get_vocab_size(with_added_tokens=True) == 151669
    assert lm.get_vocab_size(with_added_tokens=True) == 217204
    expected = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
                "<think>": 151667, "</think>": 151668, "<|audio_code_0|>": 151669,
                "<|audio_code_63999|>": 151669 + 63999, "<|audio_code_65534|>": 217203}
    assert {t: lm.token_to_id(t) for t in expected} == expected
    assert text.token_to_id("<|audio_code_0|>") is None
    # Qwen's pre-tokenizer: `.\n` is one token; the text encoder appends <|endoftext|>.
    assert lm.encode(".\n", add_special_tokens=False).ids == [624]
    assert text.encode("hi").ids[-1] == 151643
    for folder, rows in (("Qwen3-Embedding-0.6B", 151669), ("acestep-5Hz-lm-1.7B", 217204)):
        config = json.loads((tiny_checkpoints_qwen3 / folder / "config.json").read_text())
        assert config["vocab_size"] == rows
