"""Fit check: does an adapter belong on THIS decoder? Run before anything is injected.

Reads the adapter's own rank, target modules and tensor shapes (engine.lora.formats) and
compares them with the loaded decoder: the model size (2B vs XL, told apart by the decoder
width), the number of layers, that every target is a Linear of the model, and that each
lora_A is [r, in_features] and lora_B [out_features, r]. A mismatch is an `AdapterError`
that names the file and says why, instead of PEFT's shape error deep inside loading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import AdapterError
from engine.lora.formats import AdapterWeights, model_hidden_size, model_label

if TYPE_CHECKING:
    import torch


def is_quantized(transformer: torch.nn.Module) -> bool:
    """True when the decoder's attention weights are quantised (torchao INT8 weight-only, or
    int8-dynamic)."""
    import torch

    layer = transformer.layers[0].self_attn.to_q
    weight = getattr(getattr(layer, "base_layer", layer), "weight", None)
    if weight is None:  # int8-dynamic (runtime/int8_dynamic.py): only packed int8 weights are kept
        return True
    # torchao swaps the weight for a tensor subclass (AffineQuantizedTensor / Int8Tensor).
    return type(weight.data) is not torch.Tensor or not weight.dtype.is_floating_point


def check_fit(adapter: AdapterWeights, transformer: torch.nn.Module) -> None:
    """Raise AdapterError naming `adapter.path` when it does not fit `transformer`."""
    import torch

    where = adapter.path
    model_hidden = int(transformer.config.hidden_size)
    hidden = model_hidden_size(adapter)
    if hidden is not None and hidden != model_hidden:
        raise AdapterError(
            f"{where}: this adapter was trained for the {model_label(hidden)} model (decoder width {hidden}); "
            f"the loaded model is {model_label(model_hidden)} (width {model_hidden}). Load it with the model it was "
            "trained on")
    n_layers = len(transformer.layers)
    for module in adapter.modules:
        parts = module.split(".")
        if parts[0] == "layers" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) >= n_layers:
            raise AdapterError(f"{where}: the adapter has layer {parts[1]} but the loaded model has {n_layers} "
                               "layers; it was trained for another model")
        try:
            target = transformer.get_submodule(module)
        except AttributeError:
            raise AdapterError(f"{where}: target module {module} does not exist in the ACE-Step decoder") from None
        target = getattr(target, "base_layer", target)
        if not isinstance(target, torch.nn.Linear):
            raise AdapterError(f"{where}: target module {module} is not a linear layer of the decoder")
        a = adapter.state[f"{module}.lora_A.weight"]
        b = adapter.state[f"{module}.lora_B.weight"]
        if a.shape[1] != target.in_features or b.shape[0] != target.out_features:
            raise AdapterError(
                f"{where}: {module} expects [{target.out_features} x {target.in_features}] but the adapter's "
                f"lora_B x lora_A is [{b.shape[0]} x {a.shape[1]}]; it was trained for another model")
