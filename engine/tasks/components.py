"""The models a generation needs (DiT, text encoder, VAE), which folder to use, and their identity.

All loading goes through the model-core loaders that read real checkpoints:
`engine.models.dit_loader.load_dit` (the same loader the conformance tests use),
`engine.models.text_encoder.TextEncoder.load` and `engine.models.vae.AudioVAE.load`.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import CheckpointError, ValidationError
from engine.tasks import constants as C
from engine.tasks.results import ModelIdentity

DEFAULT_MODEL = "acestep-v15-turbo"
BASE_MODEL_PREFERENCE = ("acestep-v15-base", "acestep-v15-xl-base")
TEXT_ENCODER_FOLDER = "Qwen3-Embedding-0.6B"
VAE_FOLDER = "vae"


# --- which model -----------------------------------------------------------------------------


def _read_config(folder: Path) -> dict:
    """The DiT's identifying config: config.json (original layout) through the checkpoint guard
    (size/depth caps, never a RecursionError), or, for a diffusers-layout folder (model_index.json,
    no top-level config.json), the facts model choice needs from its transformer's config."""
    from engine.models.config_guard import read_json

    if not (folder / "config.json").is_file() and (folder / "model_index.json").is_file():
        index = read_json(folder / "model_index.json")
        if "transformer" not in index:
            return {}
        transformer = read_json(folder / "transformer" / "config.json")
        return {"model_type": "acestep", "is_turbo": bool(transformer.get("is_turbo", False)),
                "model_version": transformer.get("model_version")}
    return read_json(folder / "config.json")


def model_family(folder: Path) -> str:
    """"turbo", "base" or "sft", from config.json's is_turbo / model_version and the folder name."""
    config = _read_config(folder)
    if config.get("is_turbo"):
        return "turbo"
    version = str(config.get("model_version") or "").lower()
    name = folder.name.lower()
    if "sft" in version or "sft" in name:
        return "sft"
    return "base"


def installed_dits(checkpoints: Path) -> list[Path]:
    """DiT folders under `checkpoints` (those whose config.json says model_type acestep)."""
    found = []
    if not checkpoints.is_dir():
        return found
    for folder in sorted(checkpoints.iterdir()):
        if (folder / "config.json").is_file() or (folder / "model_index.json").is_file():
            try:
                if _read_config(folder).get("model_type") == "acestep":
                    found.append(folder)
            except CheckpointError:
                continue  # a broken folder is not offered; loading it names the problem
    return found


def resolve_model(checkpoints: Path, model: str | None, task: str) -> Path:
    """The DiT folder for a request; base-only tasks pick an installed base model automatically.

    Raises:
        CheckpointError: the checkpoints folder or the named model is missing.
        ValidationError: a base-only task with a turbo/SFT model, or none installed ("model").
    """
    if not checkpoints.is_dir():
        raise CheckpointError(f"checkpoints folder not found: {checkpoints}")
    base_only = task in C.BASE_ONLY_TASKS
    if model is None:
        if base_only:
            installed = {p.name: p for p in installed_dits(checkpoints)}
            for name in BASE_MODEL_PREFERENCE:
                if name in installed:
                    return installed[name]
            bases = [p for p in installed.values() if model_family(p) == "base"]
            if bases:
                return bases[0]
            raise ValidationError(
                f"model: task {task!r} needs a base-family model (e.g. acestep-v15-base), "
                f"and none is installed in {checkpoints}"
            )
        model = DEFAULT_MODEL
    folder = Path(model) if Path(model).is_absolute() else checkpoints / model
    if not folder.is_dir():
        raise CheckpointError(f"model {model!r} is not installed (no folder {folder})")
    if base_only and model_family(folder) != "base":
        raise ValidationError(
            f"model: task {task!r} needs a base-family model (e.g. acestep-v15-base); "
            f"{folder.name} is a {model_family(folder)} model"
        )
    return folder


# --- identity --------------------------------------------------------------------------------

_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached per (path, size, mtime) for the process (weights are GBs)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASH_CACHE:
            return _HASH_CACHE[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _HASH_LOCK:
        _HASH_CACHE[key] = value
    return value


def model_identity(folder: Path) -> ModelIdentity:
    weights = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".pt"))
    return ModelIdentity(
        name=folder.name,
        path=str(folder),
        weight_sha256=tuple((p.name, file_sha256(p)) for p in weights),
    )


# --- loading ---------------------------------------------------------------------------------


@dataclass
class GenerationModels:
    """Loaded models for one (DiT folder, device, dtype). Held by the worker's ModelCache."""

    dit: object  # engine.models.dit.AceStepDiT
    text: object  # engine.models.text_encoder.TextEncoder
    vae: object  # engine.models.vae.AudioVAE
    identities: tuple[ModelIdentity, ...]
    device: torch.device
    dtype: torch.dtype


def load_generation_models(checkpoints: Path, dit_folder: Path, device: str, dtype: torch.dtype,
                           vae_dtype: torch.dtype | None = None, vae_device: str | None = None) -> GenerationModels:
    """Load DiT + text encoder + VAE from a checkpoints tree in the upstream layout.

    `vae_device`: where the VAE lives (None = `device`; "cpu" is the runtime option "CPU VAE")."""
    from engine.models.dit_loader import load_dit

    dit = load_dit(dit_folder, dtype=dtype, device=device)
    text_folder = checkpoints / TEXT_ENCODER_FOLDER
    vae_folder = checkpoints / VAE_FOLDER
    for folder in (text_folder, vae_folder):
        if not folder.is_dir():
            raise CheckpointError(f"{folder.name} is not installed (no folder {folder})")
    from engine.models.text_encoder import TextEncoder
    from engine.models.vae import AudioVAE

    text = TextEncoder.load(text_folder, dtype=dtype, device=device)
    # The VAE runs in fp32 unless told otherwise (upstream: bf16 on CUDA, fp32 on CPU).
    vae = AudioVAE.load(vae_folder, dtype=vae_dtype or torch.float32, device=vae_device or device)
    if vae.latent_channels != dit.latent_channels:
        raise CheckpointError(
            f"{vae_folder / 'config.json'} makes {vae.latent_channels}-channel latents (decoder_input_channels) "
            f"but {dit_folder / 'config.json'} expects {dit.latent_channels} (audio_acoustic_hidden_dim): "
            "the VAE and the DiT do not belong together"
        )
    identities = tuple(model_identity(f) for f in (dit_folder, text_folder, vae_folder))
    return GenerationModels(dit=dit, text=text, vae=vae, identities=identities,
                            device=torch.device(device), dtype=dtype)
