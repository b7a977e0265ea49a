"""INT8 weights AND activations for every Linear of a module (the opt-in "fast path", issue 17).

    apply_int8_dynamic(dit.transformer)   # in place; Linear -> DynamicInt8Linear

Each Linear's weight is quantised once, per output channel, symmetric int8; at every call the
activations are quantised per tensor to uint8 and the product runs as an int8 GEMM.

Why not torchao here: torchao 0.18's `Int8DynamicActivationInt8WeightConfig` does the same maths
but runs it through `torch._int_mm`, which on a CPU without AMX is a scalar fallback: on this
machine's CPU (AVX2, no AVX-512/VNNI visible) one real-size DiT linear took 9.2 s int8 vs 0.44 s
fp32, and 5.5 s even under torch.compile (benchmarks/bench_dit_fast.py). PyTorch's own quantized
engine (fbgemm / oneDNN behind `torch.ops.quantized.linear_dynamic`) has hand-written AVX2 and
AVX-512 VNNI int8 kernels and ran the same layer in 0.13 s (2x faster than fp32). So on the CPU
we call those ops directly (the module-swapping wrapper around them, torch.ao.quantization, is
deprecated); on CUDA, where `_int_mm` is a real kernel, torchao's config is used.

Cost: the activation of each layer is rounded to 256 levels per call, so the output moves by
about 1-2 % per layer (`reduce_range`: 7-bit activations on CPUs without VNNI, where 8-bit
products may saturate the 16-bit accumulator of the AVX2 instruction). The benchmark prints the
resulting latent and spectral error after a full 8-step generation.
"""

from __future__ import annotations

import warnings

import torch

from engine.errors import ValidationError


def _has_vnni() -> bool:
    """AVX-512 VNNI / AMX present: 8-bit activations cannot saturate, full range is safe."""
    capability = torch.backends.cpu.get_cpu_capability()  # "AVX2", "AVX512", ...
    return capability.startswith("AVX512")


class DynamicInt8Linear(torch.nn.Module):
    """A frozen float32 Linear computed as int8 x int8 (weights per channel, activations per call).

    Args:
        linear: the float32 nn.Linear to replace (its weight is copied, quantised and dropped).
        reduce_range: 7-bit activations (True on CPUs without VNNI, see module docstring).
    """

    def __init__(self, linear: torch.nn.Linear, reduce_range: bool) -> None:
        super().__init__()
        weight = linear.weight.detach()  # [out, in]
        if weight.dtype != torch.float32:
            raise ValidationError(
                f"quantization int8-dynamic on the CPU needs float32 weights, got {weight.dtype}; "
                "set Precision to float32 or choose int8 (weights only)")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.reduce_range = reduce_range
        scale = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12).double()  # [out]
        zero = torch.zeros(self.out_features, dtype=torch.long)
        with warnings.catch_warnings():
            # PyTorch marks quantized tensor creation deprecated (pytorch#184982) but the packed
            # int8 GEMM still takes one; tests/engine/test_int8_dynamic.py goes red when it goes.
            warnings.filterwarnings("ignore", message=".*quantized tensor creation.*")
            qweight = torch.quantize_per_channel(weight, scale, zero, 0, torch.qint8)  # [out, in] qint8
        bias = None if linear.bias is None else linear.bias.detach().float()
        self._packed = torch.ops.quantized.linear_prepack(qweight, bias)  # engine-specific layout

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., in] float32 -> [..., out] float32
        return torch.ops.quantized.linear_dynamic(x.contiguous(), self._packed, self.reduce_range)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights+activations"


def _swap_linears(module: torch.nn.Module, reduce_range: bool) -> int:
    swapped = 0
    for name, child in list(module.named_children()):
        if type(child) is torch.nn.Linear:
            setattr(module, name, DynamicInt8Linear(child, reduce_range))
            swapped += 1
        else:
            swapped += _swap_linears(child, reduce_range)
    return swapped


def apply_int8_dynamic(module: torch.nn.Module) -> torch.nn.Module:
    """Quantise every Linear of `module` to INT8 weights and activations, in place.

    CPU: DynamicInt8Linear (PyTorch's fbgemm/oneDNN int8 GEMM). CUDA: torchao's
    `Int8DynamicActivationInt8WeightConfig`. Any other device: a clear error.
    """
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    if device.type == "cuda":
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

        quantize_(module, Int8DynamicActivationInt8WeightConfig())
        return module
    if device.type != "cpu":
        raise ValidationError(f"quantization int8-dynamic runs on the CPU or CUDA, not {device.type}")
    _swap_linears(module, reduce_range=not _has_vnni())
    return module
