"""Writing an adapter in upstream's PEFT format, so it loads in upstream's Gradio and elsewhere.

Upstream saves `get_peft_model(decoder, LoraConfig(task_type=FEATURE_EXTRACTION, ...))` with
`save_pretrained` (upstream_lm_tools.md §6.1, §6.4): a folder with `adapter_config.json` and
`adapter_model.safetensors` whose keys are `base_model.model.<upstream decoder key>` without
the adapter name. We write exactly that from our decoder's LoRA tensors: peft's own
`LoraConfig` builds the config (trimmed to the portable fields), our key mapping turns `to_q` / `to_out.0` back
into upstream's `q_proj` / `o_proj`, and the file gets the `{"format": "pt"}` metadata PEFT
writes. Files are written to a temporary name and renamed, so a kill leaves no half adapter.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from engine.lora.formats import CONFIG_FILE, WEIGHTS_FILE, upstream_module_name

if TYPE_CHECKING:
    import torch

PEFT_PREFIX = "base_model.model."
# The adapter_config.json fields every peft release since LoRA's introduction understands. Newer
# peft writes many more (arrow_config, kasa_config, ...); an older peft, such as the one an
# upstream install pins, may refuse unknown fields, so the file keeps only these.
PORTABLE_CONFIG_FIELDS = ("peft_type", "task_type", "base_model_name_or_path", "revision", "inference_mode", "r",
                          "lora_alpha", "lora_dropout", "target_modules", "bias", "fan_in_fan_out",
                          "modules_to_save", "init_lora_weights", "layers_to_transform", "layers_pattern",
                          "rank_pattern", "alpha_pattern", "use_rslora", "use_dora", "peft_version")


def upstream_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our keys (`layers.0.self_attn.to_q.lora_A.weight`) -> upstream PEFT keys."""
    out = {}
    for key, tensor in state.items():
        module, _, tail = key.partition(".lora_")
        out[f"{PEFT_PREFIX}{upstream_module_name(module)}.lora_{tail}"] = tensor.detach().cpu().contiguous()
    return out


def write_peft_adapter(folder: str | Path, state: dict[str, torch.Tensor], *, rank: int, alpha: float,
                       dropout: float = 0.1, base_model: str = "", dtype: torch.dtype | None = None) -> Path:
    """Write `state` (our keys, one adapter, no adapter name) as an upstream PEFT folder."""
    from peft import LoraConfig
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    targets = sorted({upstream_module_name(k.partition(".lora_")[0]).rsplit(".", 1)[-1] for k in state})
    config = LoraConfig(r=int(rank), lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none",
                        task_type="FEATURE_EXTRACTION", base_model_name_or_path=base_model or None,
                        inference_mode=True)
    portable = {k: v for k, v in config.to_dict().items() if k in PORTABLE_CONFIG_FIELDS}
    portable["target_modules"] = targets  # peft keeps a set; a sorted list is stable on disk
    tmp_config = folder / (CONFIG_FILE + ".tmp")
    tmp_config.write_text(json.dumps(portable, indent=2, sort_keys=True, default=str), encoding="utf-8")
    tensors = upstream_state(state)
    if dtype is not None:
        tensors = {k: v.to(dtype) for k, v in tensors.items()}
    tmp_weights = folder / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp_weights), metadata={"format": "pt"})
    os.replace(tmp_weights, folder / WEIGHTS_FILE)
    os.replace(tmp_config, folder / CONFIG_FILE)
    return folder
