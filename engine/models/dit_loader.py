"""Load an ACE-Step 1.5 DiT from either checkpoint layout into an `AceStepDiT`; save the diffusers layout.

Layouts:
  original  <folder>/config.json + model.safetensors (or model.safetensors.index.json + shards)
            + silence_latent.pt — as published in `ACE-Step/Ace-Step1.5` (upstream_dit.md §1.1).
            Keys are converted by engine.models.key_mapping and checked STRICTLY.
  diffusers <folder>/model_index.json + transformer/, condition_encoder/, [audio_tokenizer/,
            audio_token_detokenizer/] subfolders, loaded with diffusers `from_pretrained`
            offline (local_files_only) and checked for missing/unexpected keys too.

No trust_remote_code, no pickle: safetensors only, and `silence_latent.pt` via weights_only.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.errors import CheckpointError
from engine.models import key_mapping
from engine.models.acestep_config import AceStepConfig, read_json
from engine.models.checkpoint_files import (
    check_safetensors_complete,
    load_diffusers_module,
    read_safetensors,
    read_silence_latent,
    short_list,
    weight_files,
)
from engine.models.dit import AceStepDiT
from engine.models.empty_init import meta_parameters, parameters_on_meta

DIFFUSERS_SUBFOLDERS = {
    "transformer": "AceStepTransformer1DModel",
    "condition_encoder": "AceStepConditionEncoder",
    "audio_tokenizer": "AceStepAudioTokenizer",
    "audio_token_detokenizer": "AceStepAudioTokenDetokenizer",
}
# diffusers keeps a fixed-length silence buffer in the condition encoder (15000 frames = 10 min).
DIFFUSERS_SILENCE_FRAMES = 15000


def detect_layout(folder: Path) -> str:
    """'diffusers' if model_index.json is present, 'original' if config.json is; else CheckpointError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder not found: {folder}")
    if (folder / "model_index.json").is_file():
        return "diffusers"
    if (folder / "config.json").is_file():
        return "original"
    raise CheckpointError(
        f"missing file: {folder / 'config.json'} (or model_index.json for the "
        "diffusers layout); this is not an ACE-Step DiT checkpoint folder"
    )


def load_dit(
    folder: Path, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> AceStepDiT:
    """Load a DiT checkpoint folder in either layout.

    Args:
        folder: e.g. checkpoints/acestep-v15-turbo (original) or a diffusers-format folder.
        dtype: parameter dtype (float32, bfloat16 or float16).
        device: where to put the model.

    Raises:
        CheckpointError: naming the file when something is missing, truncated or inconsistent.
    """
    layout = detect_layout(Path(folder))
    if layout == "diffusers":
        dit = _load_diffusers(Path(folder), dtype)
    else:
        dit = _load_original(Path(folder), dtype)
    return dit.to(device).eval()


# --- original layout ----------------------------------------------------------------------------


def _build_modules(config: AceStepConfig):
    from diffusers import AceStepTransformer1DModel
    from diffusers.pipelines.ace_step.modeling_ace_step import (
        AceStepAudioTokenDetokenizer,
        AceStepAudioTokenizer,
        AceStepConditionEncoder,
    )

    with parameters_on_meta():
        return {
            "transformer": AceStepTransformer1DModel(**config.transformer_kwargs()),
            "condition_encoder": AceStepConditionEncoder(**config.condition_encoder_kwargs()),
            "audio_tokenizer": AceStepAudioTokenizer(**config.tokenizer_kwargs()),
            "audio_token_detokenizer": AceStepAudioTokenDetokenizer(**config.detokenizer_kwargs()),
        }


def _ignored_deeper_layers(config: AceStepConfig, component: str, key: str) -> bool:
    """Keys of encoder layers at index >= num_hidden_layers: upstream never runs them."""
    import re

    match = re.match(r"^(lyric_encoder|timbre_encoder|attention_pooler)?\.?layers\.(\d+)\.", key)
    if component not in ("condition_encoder", "audio_tokenizer", "audio_token_detokenizer") or not match:
        return False
    return int(match.group(2)) >= config.num_hidden_layers


def _load_component(module, state: dict, component: str, source: str, config: AceStepConfig | None) -> None:
    """Strict, shape-checked `load_state_dict(assign=True)`; errors name `source` and original keys."""
    expected = {k: v for k, v in module.state_dict().items()}
    # The condition encoder's silence buffer is not part of the original checkpoint (it ships as
    # silence_latent.pt); it is filled separately.
    expected_keys = set(expected) - ({"silence_latent"} if component == "condition_encoder" else set())
    if config is not None:
        state = {k: v for k, v in state.items() if not _ignored_deeper_layers(config, component, k)}
    name = (lambda k: key_mapping.to_original(component, k)) if config is not None else (lambda k: k)
    missing = sorted(expected_keys - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {short_list([name(k) for k in missing])}")
        if unexpected:
            parts.append(f"unexpected keys {short_list([name(k) for k in unexpected])}")
        raise CheckpointError(f"{source}: does not match its config ({'; '.join(parts)})")
    wrong = [
        f"{name(k)} {tuple(state[k].shape)} (config implies {tuple(expected[k].shape)})"
        for k in sorted(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if wrong:
        raise CheckpointError(f"{source}: tensor shapes do not match config.json: {short_list(wrong)}")
    if component == "condition_encoder" and "silence_latent" not in state:
        state = dict(state, silence_latent=expected["silence_latent"])
    module.load_state_dict(state, strict=True, assign=True)
    leftover = meta_parameters(module)
    if leftover:
        raise CheckpointError(f"{source}: parameters never loaded: {short_list(leftover)}")


def _load_original(folder: Path, dtype: torch.dtype) -> AceStepDiT:
    config = AceStepConfig.from_file(folder / "config.json")
    files = weight_files(folder)
    for path in files:
        check_safetensors_complete(path)
    source = str(files[0]) if len(files) == 1 else f"{folder} (sharded safetensors)"
    state = read_safetensors(files, dtype=dtype)
    parts, unknown = key_mapping.split_state_dict(state)
    if unknown:
        raise CheckpointError(f"{source}: unexpected keys {short_list(sorted(unknown))}")
    modules = _build_modules(config)
    for component, module in modules.items():
        _load_component(module, parts[component], component, source, config)
    silence = read_silence_latent(folder / "silence_latent.pt", config.audio_acoustic_hidden_dim)
    return AceStepDiT(config, silence_latent=silence.to(dtype), **modules)


# --- diffusers layout ---------------------------------------------------------------------------


def _config_from_diffusers(folder: Path) -> AceStepConfig:
    """Rebuild our AceStepConfig from the diffusers components' config.json files."""
    t = read_json(folder / "transformer" / "config.json")
    c = read_json(folder / "condition_encoder" / "config.json")
    tok_path = folder / "audio_tokenizer" / "config.json"
    tok = read_json(tok_path) if tok_path.is_file() else {}
    raw = dict(
        hidden_size=t.get("hidden_size"),
        intermediate_size=t.get("intermediate_size"),
        num_hidden_layers=t.get("num_hidden_layers"),
        num_attention_heads=t.get("num_attention_heads"),
        num_key_value_heads=t.get("num_key_value_heads"),
        head_dim=t.get("head_dim"),
        in_channels=t.get("in_channels", 192),
        audio_acoustic_hidden_dim=t.get("audio_acoustic_hidden_dim", 64),
        patch_size=t.get("patch_size", 2),
        rope_theta=t.get("rope_theta", 1e6),
        rms_norm_eps=t.get("rms_norm_eps", 1e-6),
        attention_bias=t.get("attention_bias", False),
        sliding_window=t.get("sliding_window", 128),
        layer_types=t.get("layer_types"),
        is_turbo=t.get("is_turbo", False),
        model_version=t.get("model_version"),
        encoder_hidden_size=c.get("hidden_size"),
        encoder_intermediate_size=c.get("intermediate_size"),
        encoder_num_attention_heads=c.get("num_attention_heads"),
        encoder_num_key_value_heads=c.get("num_key_value_heads"),
        text_hidden_dim=c.get("text_hidden_dim", 1024),
        timbre_hidden_dim=c.get("timbre_hidden_dim", 64),
        num_lyric_encoder_hidden_layers=c.get("num_lyric_encoder_hidden_layers", 8),
        num_timbre_encoder_hidden_layers=c.get("num_timbre_encoder_hidden_layers", 4),
        num_attention_pooler_hidden_layers=tok.get("num_attention_pooler_hidden_layers", 2),
        pool_window_size=tok.get("pool_window_size", 5),
        fsq_dim=tok.get("fsq_dim", c.get("hidden_size")),
        fsq_input_levels=tok.get("fsq_input_levels", [8, 8, 8, 5, 5, 5]),
        fsq_input_num_quantizers=tok.get("fsq_input_num_quantizers", 1),
    )
    return AceStepConfig.from_dict(raw, source=str(folder / "transformer" / "config.json"))


def _load_diffusers(folder: Path, dtype: torch.dtype) -> AceStepDiT:
    import diffusers
    from diffusers.pipelines.ace_step import modeling_ace_step

    index = read_json(folder / "model_index.json")
    for required in ("transformer", "condition_encoder"):
        if not (folder / required).is_dir():
            raise CheckpointError(f"missing folder: {folder / required} (named by model_index.json)")
    config = _config_from_diffusers(folder)
    classes = {
        "transformer": diffusers.AceStepTransformer1DModel,
        "condition_encoder": modeling_ace_step.AceStepConditionEncoder,
        "audio_tokenizer": modeling_ace_step.AceStepAudioTokenizer,
        "audio_token_detokenizer": modeling_ace_step.AceStepAudioTokenDetokenizer,
    }
    modules = {}
    for name, cls in classes.items():
        sub = folder / name
        if not sub.is_dir():
            if name in index and index[name] and index[name][0] is not None:
                raise CheckpointError(f"missing folder: {sub} (named by model_index.json)")
            modules[name] = None
            continue
        modules[name] = load_diffusers_module(cls, sub, dtype)
    silence = modules["condition_encoder"].silence_latent.detach().float().clone()  # [1, 15000, 64]
    return AceStepDiT(config, silence_latent=silence.to(dtype), **modules)


def save_dit_diffusers(dit: AceStepDiT, folder: Path) -> Path:
    """Write `dit` in the diffusers layout (model_index.json + one subfolder per module).

    The silence latent goes into condition_encoder's 15000-frame buffer, TILED along time as
    upstream tiles it when it needs more frames, so any prefix a caller reads is unchanged.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    enc = dit.condition_encoder
    tiled = dit.silence_frames(DIFFUSERS_SILENCE_FRAMES).detach().to(enc.null_condition_emb.dtype)
    enc.silence_latent = tiled.clone()
    index = {"_class_name": "AceStepPipeline", "_diffusers_version": _diffusers_version()}
    for name, cls_name in DIFFUSERS_SUBFOLDERS.items():
        module = getattr(dit, name)
        if module is None:
            continue
        module.save_pretrained(str(folder / name), safe_serialization=True)
        library = "diffusers"
        index[name] = [library, cls_name]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return folder


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__
