"""Adapters on the DiT decoder at generation time: load, scale, unload (with peft).

    resolved = apply_loras(dit.transformer, request.loras)   # before the diffusion loop

`apply_loras` makes the decoder carry exactly the adapters the request names, each at its
scale, and returns the specs with name + sha256 filled in (what the provenance records):

- adapters with scale 0 are left out, and when none is left every PEFT layer is removed again
  (diffusers' `unload_lora` puts the original Linear modules back), so scale 0 / no adapters
  runs the very same modules as a model that never saw a LoRA: bit-identical;
- the scale multiplies the adapter's own alpha/r (peft `set_scale`), as upstream does (§6.5);
- adapters are injected only where the file has weights (exact module names), after the fit
  check (engine.lora.fit), under an internal name from the file's hash, so the same file
  loaded twice is one adapter and a changed file is a new one;
- an INT8 (torchao) decoder is refused: PEFT cannot wrap torchao's quantised linears
  (upstream #129, later upstream refuses too).

Thread: the worker thread that owns the pipeline.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import AdapterError
from engine.lora.fit import check_fit, is_quantized
from engine.lora.formats import AdapterWeights, read_adapter
from engine.lora.spec import LoraSpec

if TYPE_CHECKING:
    import torch

LOADED_ATTR = "_legato_loras"  # on the transformer: {internal name: AdapterWeights}
_READ_CACHE: dict[tuple[str, int, int], AdapterWeights] = {}  # (path, size, mtime) -> adapter
_READ_CACHE_SIZE = 8


def _stat_key(path: Path) -> tuple[str, int, int]:
    target = path / "adapter_model.safetensors" if path.is_dir() else path
    try:
        st = os.stat(target)
    except OSError:
        return (str(path.resolve()), -1, -1)
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def read_cached(path: str | Path) -> AdapterWeights:
    """`read_adapter`, remembered while the file's size and mtime stay the same."""
    path = Path(path)
    key = _stat_key(path)
    hit = _READ_CACHE.get(key)
    if hit is None:
        hit = read_adapter(path)
        _READ_CACHE[key] = hit
        while len(_READ_CACHE) > _READ_CACHE_SIZE:
            _READ_CACHE.pop(next(iter(_READ_CACHE)))
    return hit


def internal_name(adapter: AdapterWeights) -> str:
    return f"lora_{adapter.sha256[:16]}"


def lora_config(adapter: AdapterWeights, *, dropout: float = 0.0):
    """The peft LoraConfig for `adapter` on our decoder (exact module names)."""
    from peft import LoraConfig

    return LoraConfig(r=adapter.rank, lora_alpha=adapter.alpha, target_modules=list(adapter.modules),
                      rank_pattern=dict(adapter.rank_pattern), alpha_pattern=dict(adapter.alpha_pattern),
                      lora_dropout=dropout, bias="none", use_rslora=adapter.use_rslora)


def unload_all(transformer: torch.nn.Module) -> None:
    """Remove every adapter; the decoder's original Linear modules are back in place."""
    if getattr(transformer, LOADED_ATTR, None):
        transformer.unload_lora()
    setattr(transformer, LOADED_ATTR, {})


def _inject(transformer: torch.nn.Module, adapter: AdapterWeights, name: str) -> None:
    from peft import inject_adapter_in_model, set_peft_model_state_dict

    with warnings.catch_warnings():  # "multiple adapters in the model": that is the point here
        warnings.filterwarnings("ignore", message=".*multiple adapters.*")
        inject_adapter_in_model(lora_config(adapter), transformer, adapter_name=name)
    result = set_peft_model_state_dict(transformer, adapter.state, adapter_name=name)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise AdapterError(f"{adapter.path}: weights {unexpected[:3]} have no place in the decoder")
    param = transformer.proj_in_conv.weight
    for module_name, p in transformer.named_parameters():
        if "lora_" in module_name:
            p.data = p.data.to(param.device, param.dtype)
            p.requires_grad_(False)


def apply_loras(transformer: torch.nn.Module, specs: tuple[LoraSpec, ...]) -> tuple[LoraSpec, ...]:
    """Make `transformer` carry exactly `specs` (scale 0 = absent); return them resolved.

    Raises:
        AdapterError: a file is missing, malformed, changed since it was recorded (sha256),
            does not fit the model, or the model is INT8-quantised.
    """
    from peft.tuners.lora import LoraLayer
    from peft.tuners.tuners_utils import set_adapter

    resolved: list[LoraSpec] = []
    wanted: dict[str, tuple[AdapterWeights, float]] = {}
    for spec in specs:
        adapter = read_cached(spec.path)
        if spec.sha256 and spec.sha256 != adapter.sha256:
            raise AdapterError(f"{spec.path}: this adapter file has changed since it was used "
                               f"(sha256 {adapter.sha256[:12]}..., recorded {spec.sha256[:12]}...)")
        resolved.append(replace(spec, name=spec.name or adapter.name, sha256=adapter.sha256))
        if spec.scale != 0:
            wanted[internal_name(adapter)] = (adapter, float(spec.scale))
    loaded: dict[str, AdapterWeights] = getattr(transformer, LOADED_ATTR, None) or {}
    if not wanted:
        unload_all(transformer)
        return tuple(resolved)
    if is_quantized(transformer):
        raise AdapterError(f"{next(iter(wanted.values()))[0].path}: LoRA cannot be applied to an INT8-quantised "
                           "model (PEFT cannot wrap quantised layers); set Quantization to 'none' in Settings")
    for adapter, _ in wanted.values():
        check_fit(adapter, transformer)  # every adapter checked before any is injected
    if set(loaded) - set(wanted):
        # Removing one adapter from several: start from the clean decoder (simple and exact).
        unload_all(transformer)
        loaded = {}
    for name, (adapter, _) in wanted.items():
        if name not in loaded:
            _inject(transformer, adapter, name)
            loaded[name] = adapter
    setattr(transformer, LOADED_ATTR, loaded)
    set_adapter(transformer, list(wanted), inference_mode=True)
    for module in transformer.modules():
        if isinstance(module, LoraLayer):
            for name, (_, scale) in wanted.items():
                module.set_scale(name, scale)
    return tuple(resolved)


def loaded_adapters(transformer: torch.nn.Module) -> dict[str, AdapterWeights]:
    return dict(getattr(transformer, LOADED_ATTR, None) or {})
