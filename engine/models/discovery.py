"""Finding models in a checkpoints folder (ours, or an existing ACE-Step install the user points at).

The upstream layout (upstream_dit.md §1.1) is one folder per model under `checkpoints/`:
`acestep-v15-turbo/` (and other DiT variants), `vae/`, `Qwen3-Embedding-0.6B/`,
`acestep-5Hz-lm-*/`. A DiT folder may also be in the diffusers layout (model_index.json).
This module only reads configs and safetensors headers (no torch model is built), so listing is fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import CheckpointError

DEFAULT_DIT = "acestep-v15-turbo"
VAE_DIR = "vae"
TEXT_ENCODER_DIR = "Qwen3-Embedding-0.6B"
LM_PREFIX = "acestep-5Hz-lm-"


@dataclass(frozen=True)
class InstalledModel:
    """One model folder found on disk."""

    name: str  # folder name, e.g. "acestep-v15-turbo"
    kind: str  # "dit" | "vae" | "text_encoder" | "lm"
    path: Path
    layout: str  # "original" | "diffusers"
    variant: str  # e.g. "turbo", "base", "sft", "xl-turbo"; "" where it does not apply
    problem: str | None = None  # None when complete; else what is missing/broken (names the file)

    @property
    def complete(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class ModelSet:
    """The folders one generation needs."""

    dit: Path
    vae: Path
    text_encoder: Path
    lm: Path | None = None
    tokenizer: Path | None = None  # None: tokenizer files sit in the text_encoder folder


def _bundled_parts(dit_folder: Path) -> dict[str, Path]:
    """A diffusers pipeline folder may carry its own vae/, text_encoder/ and tokenizer/ subfolders."""
    parts = {}
    if (dit_folder / "model_index.json").is_file():
        for name in ("vae", "text_encoder", "tokenizer"):
            if (dit_folder / name).is_dir():
                parts[name] = dit_folder / name
    return parts


def default_checkpoints_dir() -> Path:
    """The checkpoints folder by the one shared rule (engine.models.locations)."""
    from engine.models.locations import checkpoints_dir

    return checkpoints_dir()


def find_checkpoints_dir(path: Path) -> Path:
    """Accept the checkpoints folder itself or an ACE-Step install root that contains `checkpoints/`.

    Raises:
        CheckpointError: when the folder does not exist.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"checkpoints folder not found: {path}")
    nested = path / "checkpoints"
    if nested.is_dir() and not _looks_like_model_dir(path):
        has_models_here = any(_looks_like_model_dir(child) for child in path.iterdir() if child.is_dir())
        if not has_models_here:
            return nested
    return path


def _looks_like_model_dir(folder: Path) -> bool:
    return (folder / "config.json").is_file() or (folder / "model_index.json").is_file()


def _read_config(path: Path) -> dict:
    """A config for classification only; unreadable -> {} (its problem is reported by _problem)."""
    from engine.models.config_guard import read_json

    try:
        return read_json(path)
    except CheckpointError:
        return {}


def _kind_from_name(name: str) -> tuple[str, str, str] | None:
    """Classify a folder whose config.json is unreadable by its conventional name, so a broken
    download is listed with its problem instead of silently vanishing from `models list`."""
    if name.startswith("acestep-v15-"):
        return "dit", "original", name.removeprefix("acestep-v15-")
    if name.startswith(LM_PREFIX):
        return "lm", "original", name[len(LM_PREFIX) :]
    if name == VAE_DIR:
        return "vae", "original", ""
    if "embedding" in name.lower():
        return "text_encoder", "original", ""
    return None


def _classify(folder: Path) -> tuple[str, str, str] | None:
    """(kind, layout, variant) for a model folder, or None if it is not one we know."""
    if (folder / "model_index.json").is_file():
        transformer = _read_config(folder / "transformer" / "config.json")
        return "dit", "diffusers", _dit_variant(folder.name, transformer)
    config = _read_config(folder / "config.json")
    if not config:
        return _kind_from_name(folder.name) if (folder / "config.json").is_file() else None
    if config.get("model_type") == "acestep":
        return "dit", "original", _dit_variant(folder.name, config)
    if config.get("_class_name") == "AutoencoderOobleck":
        return "vae", "original", ""
    if folder.name.startswith(LM_PREFIX):
        return "lm", "original", folder.name[len(LM_PREFIX) :]
    if config.get("model_type") == "qwen3" and "embedding" in folder.name.lower():
        return "text_encoder", "original", ""
    return _kind_from_name(folder.name)  # a conventional name with a damaged config: list its problem


def _dit_variant(name: str, config: dict) -> str:
    variant = name.removeprefix("acestep-v15-") if name.startswith("acestep-v15-") else ""
    return variant or config.get("model_version") or ("turbo" if config.get("is_turbo") else "base")


def _problem(folder: Path, kind: str, layout: str) -> str | None:
    """What is missing or broken in a model folder (naming the file), or None."""
    from engine.models.checkpoint_files import check_safetensors_complete, weight_files

    required = {
        "dit": ["config.json", "silence_latent.pt"],
        "vae": ["config.json"],
        "text_encoder": ["config.json", "tokenizer.json"],
        "lm": ["config.json", "tokenizer.json"],
    }[kind]
    weight_folders = [folder]
    if kind == "dit" and layout == "diffusers":
        required = ["model_index.json", "transformer/config.json", "condition_encoder/config.json"]
        weight_folders = [folder / "transformer", folder / "condition_encoder"]
    for name in required:
        if not (folder / name).is_file():
            return f"missing file: {folder / name}"
    try:
        _check_configs(folder, kind, layout)
        for sub in weight_folders:
            for path in weight_files(sub):
                check_safetensors_complete(path)
    except CheckpointError as exc:
        return str(exc)
    return None


def _check_configs(folder: Path, kind: str, layout: str) -> None:
    """The same config checks the loaders run (sizes, custom code, JSON sanity), so `models list`
    flags a hostile or broken config instead of crashing on it or listing it as complete."""
    from engine.models.acestep_config import AceStepConfig
    from engine.models.config_guard import read_json, read_model_config

    if kind == "dit" and layout == "original":
        AceStepConfig.from_file(folder / "config.json")  # auto_map ignored: never given to transformers
        return
    if kind == "dit":
        read_json(folder / "model_index.json")
        for sub in ("transformer", "condition_encoder"):
            read_model_config(folder / sub / "config.json")
        return
    config = read_model_config(folder / "config.json")
    key, expected = ("_class_name", "AutoencoderOobleck") if kind == "vae" else ("model_type", "qwen3")
    if config.get(key) != expected:
        raise CheckpointError(
            f"{folder / 'config.json'}: {key} is {str(config.get(key))[:40]!r}, expected {expected!r}"
        )


def _problem_weights(folder: Path) -> str | None:
    from engine.models.checkpoint_files import check_safetensors_complete, weight_files

    if not (folder / "config.json").is_file():
        return f"missing file: {folder / 'config.json'}"
    try:
        for path in weight_files(folder):
            check_safetensors_complete(path)
    except CheckpointError as exc:
        return str(exc)
    return None


def list_installed_models(path: Path | None = None) -> list[InstalledModel]:
    """Every model folder under the checkpoints folder, complete or not, sorted by kind then name."""
    root = find_checkpoints_dir(path or default_checkpoints_dir())
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        classified = _classify(folder)
        if classified is None:
            continue
        kind, layout, variant = classified
        found.append(
            InstalledModel(folder.name, kind, folder, layout, variant, _problem(folder, kind, layout))
        )
    order = {"dit": 0, "lm": 1, "text_encoder": 2, "vae": 3}
    return sorted(found, key=lambda m: (order[m.kind], m.name))


def resolve_model_set(path: Path | None = None, dit: str = DEFAULT_DIT, lm: str | None = None) -> ModelSet:
    """The folders for one generation, checked complete.

    Args:
        path: checkpoints folder (or an ACE-Step install root); default `default_checkpoints_dir()`.
        dit: DiT folder name, e.g. "acestep-v15-turbo" or "acestep-v15-base".
        lm: planner LM folder name (e.g. "acestep-5Hz-lm-1.7B"), or None for no LM.

    Raises:
        CheckpointError: listing every missing or broken piece by name and file.
    """
    root = find_checkpoints_dir(path or default_checkpoints_dir())
    installed = {m.name: m for m in list_installed_models(root)}
    bundled = _bundled_parts(root / dit)
    wanted = [(dit, "dit")]
    if not ({"vae"} <= set(bundled) and VAE_DIR not in installed):
        wanted.append((VAE_DIR, "vae"))
    use_bundled_text = {"text_encoder", "tokenizer"} <= set(bundled) and TEXT_ENCODER_DIR not in installed
    if not use_bundled_text:
        wanted.append((TEXT_ENCODER_DIR, "text_encoder"))
    if lm:
        wanted.append((lm, "lm"))
    problems = []
    for name, kind in wanted:
        model = installed.get(name)
        if model is None:
            problems.append(f"{name} ({kind}) is not installed: expected folder {root / name}")
        elif model.kind != kind:
            problems.append(f"{root / name} is a {model.kind}, not a {kind}")
        elif model.problem:
            problems.append(f"{name}: {model.problem}")
    if "vae" in bundled and VAE_DIR not in installed:
        problems.append(_problem(bundled["vae"], "vae", "original"))
    if use_bundled_text:
        if not (bundled["tokenizer"] / "tokenizer.json").is_file():
            problems.append(f"missing file: {bundled['tokenizer'] / 'tokenizer.json'}")
        problems.append(_problem_weights(bundled["text_encoder"]))
    problems = [p for p in problems if p]
    if problems:
        raise CheckpointError(f"models missing in {root}:\n  " + "\n  ".join(problems))
    vae_folder = root / VAE_DIR if (VAE_DIR in installed or "vae" not in bundled) else bundled["vae"]
    return ModelSet(
        dit=root / dit,
        vae=vae_folder,
        text_encoder=bundled["text_encoder"] if use_bundled_text else root / TEXT_ENCODER_DIR,
        lm=(root / lm) if lm else None,
        tokenizer=bundled["tokenizer"] if use_bundled_text else None,
    )
