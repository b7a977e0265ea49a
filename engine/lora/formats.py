"""Reading a LoRA adapter from disk into our own key space (safetensors only, never pickle).

Accepted layouts (upstream_lm_tools.md §6.4-§6.5 and the community tools around upstream):

- upstream's PEFT folder: `adapter_config.json` + `adapter_model.safetensors`, keys
  `base_model.model.layers.N.self_attn.q_proj.lora_A.weight` (PEFT `save_pretrained` of the
  decoder, upstream's module names);
- one `.safetensors` file with the same keys plus optional per-module `<module>.alpha` scalars
  and `lora_rank` / `lora_alpha` metadata (what ComfyUI's ACE-Step 1.5 loader reads), or with
  `diffusion_model.decoder.` / `diffusion_model.` / `decoder.` / `transformer.` prefixes, and
  kohya-style `lora_down` / `lora_up` names.

Refused with an `AdapterError` naming the file: pickled weights (`adapter_model.bin`, `.pt`),
LoKr/LyCORIS (upstream's later `lokr_weights.safetensors`), DoRA, flattened kohya names
(`lora_unet_...`), and anything whose keys are not LoRA A/B pairs.

Keys inside `AdapterWeights.state` are relative to OUR decoder module (diffusers'
AceStepTransformer1DModel): `layers.N.self_attn.to_q.lora_A.weight`. The renames are the same
bijection the checkpoint loader uses (engine.models.key_mapping).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import AdapterError, CheckpointError
from engine.models import key_mapping

if TYPE_CHECKING:
    import torch

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
_PREFIXES = ("base_model.model.", "diffusion_model.decoder.", "diffusion_model.", "decoder.", "transformer.")
_LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>[AB])\.weight$")
UPSTREAM_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")  # upstream's decoder attention projections


@dataclass(frozen=True)
class AdapterWeights:
    """One adapter, read and normalised. Tensors are CPU float (as stored)."""

    path: Path
    name: str
    sha256: str
    layout: str  # "peft-folder" | "single-file"
    rank: int  # the most common rank
    alpha: float  # the alpha that goes with `rank`
    rank_pattern: dict[str, int]  # module -> rank where it differs from `rank`
    alpha_pattern: dict[str, float]  # module -> alpha where it differs from `alpha`
    use_rslora: bool
    modules: tuple[str, ...]  # our module names, e.g. "layers.0.self_attn.to_q"
    state: dict[str, torch.Tensor] = field(repr=False)  # our keys -> tensors
    base_model_hint: str = ""  # what the file says it was trained on (informational)

    @property
    def parameter_count(self) -> int:
        return sum(int(t.numel()) for t in self.state.values())


def adapter_sha256(path: Path) -> str:
    """SHA-256 of an adapter's bytes: the file, or a folder's config + weights (in that order)."""
    path = Path(path)
    files = [path] if path.is_file() else [path / CONFIG_FILE, path / WEIGHTS_FILE]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _read_tensors(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    from engine.models.checkpoint_files import read_safetensors

    try:
        tensors = read_safetensors([file])
        with safe_open(str(file), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
    except CheckpointError as exc:
        raise AdapterError(str(exc)) from exc
    return tensors, metadata


def _our_key(raw: str) -> str:
    key = raw
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    key = key.replace(".lora_down.", ".lora_A.").replace(".lora_up.", ".lora_B.")
    mapped = key_mapping.to_diffusers("decoder." + key)
    return mapped[1] if mapped else key


def _refuse_unsupported(file: Path, keys: list[str], metadata: dict[str, str]) -> None:
    if "lokr_config" in metadata or any("lokr_" in k or ".hada_" in k for k in keys):
        raise AdapterError(f"{file}: LoKr/LyCORIS adapters are not supported (only LoRA); "
                           "export the adapter as LoRA")
    if any(k.startswith("lora_unet_") or k.startswith("lora_te") for k in keys):
        raise AdapterError(f"{file}: flattened kohya key names (lora_unet_...) cannot be mapped onto the "
                           "ACE-Step decoder; use a PEFT-format adapter")
    if any("lora_magnitude_vector" in k for k in keys):
        raise AdapterError(f"{file}: DoRA adapters are not supported (only plain LoRA)")


def _split(file: Path, tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Our-key LoRA tensors and per-module alphas (from `.alpha` scalars)."""
    state: dict[str, torch.Tensor] = {}
    alphas: dict[str, float] = {}
    for raw, tensor in tensors.items():
        if raw.endswith(".alpha"):
            module = _our_key(raw[: -len(".alpha")] + ".lora_A.weight").removesuffix(".lora_A.weight")
            alphas[module] = float(tensor.float().reshape(-1)[0])
            continue
        key = _our_key(raw)
        if not _LORA_KEY.match(key):
            raise AdapterError(f"{file}: tensor {raw!r} is not a LoRA A/B weight; this is not a LoRA adapter "
                               "for the ACE-Step decoder")
        state[key] = tensor
    if not state:
        raise AdapterError(f"{file}: holds no LoRA weights")
    return state, alphas


def _modules_and_ranks(file: Path, state: dict[str, torch.Tensor]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for key in state:
        match = _LORA_KEY.match(key)
        ranks.setdefault(match["module"], 0)
    for module in ranks:
        a, b = state.get(f"{module}.lora_A.weight"), state.get(f"{module}.lora_B.weight")
        if a is None or b is None:
            raise AdapterError(f"{file}: module {module} has only one of lora_A / lora_B")
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise AdapterError(f"{file}: module {module} has lora_A {tuple(a.shape)} and lora_B {tuple(b.shape)}, "
                               "which do not form a rank-r pair")
        ranks[module] = int(a.shape[0])
    return ranks


def _finish(path: Path, layout: str, state, ranks: dict[str, int], alpha_of: dict[str, float],
            default_alpha: float | None, use_rslora: bool, hint: str) -> AdapterWeights:
    rank = Counter(ranks.values()).most_common(1)[0][0]
    alphas = {m: alpha_of.get(m, default_alpha if default_alpha is not None else float(ranks[m])) for m in ranks}
    alpha = Counter(alphas[m] for m in ranks if ranks[m] == rank).most_common(1)[0][0]
    return AdapterWeights(
        path=path, name=path.stem if path.is_file() else path.name, sha256=adapter_sha256(path), layout=layout,
        rank=rank, alpha=float(alpha),
        rank_pattern={m: r for m, r in ranks.items() if r != rank},
        alpha_pattern={m: a for m, a in alphas.items() if a != alpha},
        use_rslora=use_rslora, modules=tuple(sorted(ranks)), state=state, base_model_hint=hint,
    )


def _read_folder(folder: Path) -> AdapterWeights:
    from engine.models.config_guard import read_json

    config_file, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not config_file.is_file():
        raise AdapterError(f"{folder}: not a LoRA adapter folder (no {CONFIG_FILE})")
    if not weights.is_file():
        if (folder / "adapter_model.bin").is_file():
            raise AdapterError(f"{folder / 'adapter_model.bin'}: pickled weights are never loaded; "
                               f"save the adapter as {WEIGHTS_FILE}")
        raise AdapterError(f"{folder}: missing {WEIGHTS_FILE}")
    try:
        config = read_json(config_file)
    except CheckpointError as exc:
        raise AdapterError(str(exc)) from exc
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type != "LORA":
        raise AdapterError(f"{config_file}: peft_type {config.get('peft_type')!r} is not supported (only LORA)")
    if config.get("use_dora"):
        raise AdapterError(f"{config_file}: DoRA adapters are not supported (only plain LoRA)")
    tensors, metadata = _read_tensors(weights)
    _refuse_unsupported(weights, list(tensors), metadata)
    state, alphas = _split(weights, tensors)
    ranks = _modules_and_ranks(weights, state)
    r = config.get("r")
    alpha = config.get("lora_alpha")
    if not isinstance(r, int) or r <= 0 or not isinstance(alpha, int | float):
        raise AdapterError(f"{config_file}: needs a positive integer 'r' and a number 'lora_alpha'")
    # Per-module patterns in the config use upstream names; match them as PEFT does (key suffix).
    rank_pattern = {str(k): int(v) for k, v in (config.get("rank_pattern") or {}).items()}
    alpha_pattern = {str(k): float(v) for k, v in (config.get("alpha_pattern") or {}).items()}
    expected_rank = {}
    for module in ranks:
        original = key_mapping.to_original("transformer", module + ".x").removeprefix("decoder.").removesuffix(".x")
        want = next((v for k, v in rank_pattern.items() if original == k or original.endswith("." + k)), r)
        expected_rank[module] = want
        alphas.setdefault(module, next(
            (v for k, v in alpha_pattern.items() if original == k or original.endswith("." + k)), float(alpha)))
    wrong = [m for m in ranks if ranks[m] != expected_rank[m]]
    if wrong:
        m = wrong[0]
        raise AdapterError(f"{weights}: module {m} has rank {ranks[m]} but {CONFIG_FILE} says r={expected_rank[m]}")
    return _finish(folder, "peft-folder", state, ranks, alphas, float(alpha), bool(config.get("use_rslora")),
                   str(config.get("base_model_name_or_path") or ""))


def _read_single_file(file: Path) -> AdapterWeights:
    if file.suffix.lower() != ".safetensors":
        raise AdapterError(f"{file}: only .safetensors adapters are loaded (pickled .pt/.bin/.ckpt never are)")
    tensors, metadata = _read_tensors(file)
    _refuse_unsupported(file, list(tensors), metadata)
    state, alphas = _split(file, tensors)
    ranks = _modules_and_ranks(file, state)
    default_alpha = None
    if "lora_alpha" in metadata:
        try:
            default_alpha = float(metadata["lora_alpha"])
        except ValueError as exc:
            raise AdapterError(f"{file}: metadata lora_alpha {metadata['lora_alpha']!r} is not a number") from exc
    hint = metadata.get("model", "") or metadata.get("base_model", "")
    return _finish(file, "single-file", state, ranks, alphas, default_alpha,
                   metadata.get("use_rslora", "").lower() == "true", hint)


def read_adapter(path: str | Path) -> AdapterWeights:
    """Read an adapter folder or single file.

    Raises:
        AdapterError: naming the file, for anything missing, malformed or unsupported.
    """
    path = Path(path)
    if path.is_dir():
        return _read_folder(path)
    if path.is_file():
        return _read_single_file(path)
    raise AdapterError(f"LoRA adapter not found: {path}")


def upstream_module_name(module: str) -> str:
    """Our module name -> upstream's (`layers.0.self_attn.to_out.0` -> `layers.0.self_attn.o_proj`)."""
    return key_mapping.to_original("transformer", module + ".weight").removeprefix("decoder.").removesuffix(".weight")


def describe(adapter: AdapterWeights) -> dict:
    """What `legato lora info` prints: rank, alpha, targets (upstream names), layers, size."""
    targets = sorted({upstream_module_name(m).rsplit(".", 1)[-1] for m in adapter.modules})
    kinds = sorted({m.split(".")[2] for m in adapter.modules if m.count(".") >= 3})
    layers = sorted({int(m.split(".")[1]) for m in adapter.modules if m.startswith("layers.")})
    hidden = model_hidden_size(adapter)
    return {
        "name": adapter.name, "path": str(adapter.path), "layout": adapter.layout, "sha256": adapter.sha256,
        "rank": adapter.rank, "alpha": adapter.alpha, "scaling": adapter.alpha / adapter.rank,
        "rank_pattern": len(adapter.rank_pattern), "target_modules": targets, "attention": kinds,
        "layers": (layers[-1] + 1) if layers else 0, "hidden_size": hidden, "model": model_label(hidden),
        "parameters": adapter.parameter_count, "base_model_hint": adapter.base_model_hint,
    }


# The decoder width tells the model size apart (upstream_dit.md: 2B hidden 2048, XL 2560).
MODEL_SIZES = {2048: "2B", 2560: "XL"}


def model_label(hidden: int | None) -> str:
    if hidden is None:
        return "unknown"
    return MODEL_SIZES.get(hidden, f"hidden size {hidden}")


def model_hidden_size(adapter: AdapterWeights) -> int | None:
    """The decoder width the adapter was trained on, from a self-attention q projection's lora_A."""
    for module in adapter.modules:
        if module.endswith("self_attn.to_q"):
            return int(adapter.state[f"{module}.lora_A.weight"].shape[1])
    return None


def summary_line(adapter: AdapterWeights) -> str:
    info = describe(adapter)
    return (f"{info['name']}: LoRA rank {info['rank']}, alpha {info['alpha']:g}, {info['layers']} layers "
            f"({', '.join(info['target_modules'])}), for the {info['model']} model, {info['parameters']:,} parameters")


def dumps_info(adapter: AdapterWeights) -> str:
    return json.dumps(describe(adapter), indent=2)
