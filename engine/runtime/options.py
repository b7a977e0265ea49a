"""Runtime options per device: offload between stages, INT8 weights, torch.compile, CPU VAE, dtype.

    opts = choose_options(device, tier, load_settings())   # automatic, overridable in Settings
    apply_int8_weight_only(pipeline.models.dit)             # torchao, in place
    with StageOffloader(device, enabled=opts.offload).use(text_encoder_module): ...

The automatic choice follows the memory tier (upstream_lm_tools.md §7.2: offload and INT8 below
20 GB, compile everywhere except MPS) with one difference: the dtype is chosen by MEASURING on
this device (`measure_dtype`), because on CPUs without bf16 matrix units a bf16 forward is about
4x slower than fp32, which an assumption would get wrong. Each Settings field ("auto" or an
explicit value) overrides its automatic choice.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from engine.errors import ValidationError

AUTO = "auto"
CHOICES = {
    "offload": ("auto", "on", "off"),
    # Quantisation modes other than "auto"/"none" are keys of QUANTIZERS (below); a new mode is
    # one entry there plus its name here.
    "quantization": ("auto", "none", "int8", "int8-dynamic"),
    "compile": ("auto", "on", "off"),
    "vae_device": ("auto", "cpu"),
}
# Settings label of the fast path: its speed and quality cost as measured (see QUANTIZER_LABELS).
INT8_FAST_LABEL = "INT8 fast (≈1.4× faster DiT on CPU, ~4 % latent error)"
DTYPE_FILE = "measured_dtype.json"  # under engine.settings.data_dir(): one measurement per device


@dataclass(frozen=True)
class RuntimeChoices:
    """What the user asked for (each "auto" or an explicit value; dtype "" = automatic).

    The job carries this (frozen, hashable) instead of the whole Settings; `from_settings` copies
    the saved Settings' runtime fields.
    """

    offload: str = AUTO
    quantization: str = AUTO
    compile: str = AUTO
    vae_device: str = AUTO
    dtype: str = ""

    @classmethod
    def from_settings(cls, settings) -> RuntimeChoices:
        return cls(**{name: getattr(settings, name) for name in ("offload", "quantization", "compile",
                                                                  "vae_device", "dtype")})

    def with_changes(self, **changes) -> RuntimeChoices:
        from dataclasses import replace

        return replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class RuntimeOptions:
    offload: bool  # text encoder, LM, DiT and VAE leave the accelerator when their stage is over
    quantization: str  # "none" or a QUANTIZERS key ("int8": torchao weight-only; "int8-dynamic":
    #                     weights and activations, engine/runtime/int8_dynamic.py) for the DiT and LM
    compile: bool  # torch.compile the DiT's decoder
    vae_on_cpu: bool  # decode on the CPU (the last resort after smaller tiles)
    dtype: torch.dtype
    why: tuple[str, ...]  # one reason per choice, for Settings and the status bar

    @property
    def int8(self) -> bool:
        return self.quantization == "int8"

    def describe(self) -> str:
        parts = [str(self.dtype).removeprefix("torch."), "offload" if self.offload else "no offload",
                 QUANTIZER_LABELS.get(self.quantization, self.quantization) if self.quantization != "none"
                 else "full weights", "compiled" if self.compile else "eager"]
        if self.vae_on_cpu:
            parts.append("CPU VAE")
        return ", ".join(parts)

    def variant(self) -> tuple[str, ...]:
        """What changes the loaded models (ModelCache key part): another choice loads anew."""
        return (f"quant={self.quantization}", f"compile={self.compile}", f"offload={self.offload}",
                f"vae_cpu={self.vae_on_cpu}")

    def to_record(self) -> dict[str, str]:
        """The options a take was made with, for its provenance."""
        return {"offload": "on" if self.offload else "off", "quantization": self.quantization,
                "compile": "on" if self.compile else "off", "vae_device": "cpu" if self.vae_on_cpu else "device",
                "dtype": str(self.dtype).removeprefix("torch.")}


def _setting(settings, name: str) -> str:
    value = (getattr(settings, name, "") or AUTO) if settings is not None else AUTO
    if value not in CHOICES[name]:
        raise ValidationError(f"setting {name} must be one of {', '.join(CHOICES[name])}, got {value!r}")
    return value


def choose_options(device: torch.device | str, tier, settings=None, *, measured_dtype: torch.dtype | None = None
                   ) -> RuntimeOptions:
    """The options for `device` with memory tier `tier` (engine.runtime.memory_tier), Settings first.

    `measured_dtype`: the result of `measure_dtype(device)` (None: float32 on CPU/MPS, bf16 on
    CUDA, upstream's default, until a measurement exists).
    """
    device = torch.device(device)
    why = []
    offload_setting = _setting(settings, "offload")
    accelerator = device.type in ("cuda", "mps")
    if offload_setting == AUTO:
        offload = accelerator and device.type != "mps" and tier.offload
        why.append(f"offload {'on' if offload else 'off'}: {tier.name}" + ("" if accelerator else " (CPU: nothing to offload)"))
    else:
        offload = offload_setting == "on"
        why.append(f"offload {offload_setting}: Settings")
    quant = _setting(settings, "quantization")
    if quant == AUTO:
        quant = "int8" if accelerator and device.type != "mps" and tier.int8 else "none"
        why.append(f"quantization {quant}: {tier.name}")
    else:
        why.append(f"quantization {quant}: Settings")
    comp = _setting(settings, "compile")
    if comp == AUTO:
        # Compile pays on CUDA. On the CPU not automatically (benchmarks/bench_dit_fast.py --parts
        # compile; real-width DiT, 2 of 24 layers, 30 s, 2 threads, fp32, interleaved): the steady
        # forward is 0.82x eager, but the first two steps cost 57 s + 43 s of compiling (two graphs:
        # K/V computed, then reused), more with all 24 layers, and every new song length or batch
        # size compiles again (76 s): an 8-step 30 s song saves ~7 s of a ~40 s loop, so compile
        # only repays over dozens of same-length takes. Settings "on" still forces it.
        compiled = device.type == "cuda"
        why.append(f"compile {'on' if compiled else 'off'}: {device.type}")
    else:
        compiled = comp == "on"
        why.append(f"compile {comp}: Settings")
    vae_cpu = _setting(settings, "vae_device") == "cpu"
    dtype_name = getattr(settings, "dtype", "") if settings is not None else ""
    if dtype_name:
        from engine.runtime.device import parse_dtype

        dtype = parse_dtype(dtype_name)
        why.append(f"dtype {dtype_name}: Settings")
    elif measured_dtype is not None:
        dtype = measured_dtype
        why.append(f"dtype {str(dtype).removeprefix('torch.')}: measured fastest here")
    else:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        why.append("dtype: device default (not measured yet)")
    return RuntimeOptions(offload, quant, compiled, vae_cpu, dtype, tuple(why))


def measure_dtype(device: torch.device | str, *, size: int = 512, repeats: int = 3) -> tuple[torch.dtype, dict[str, float]]:
    """The faster of float32 and bfloat16 for a DiT-like matmul on `device`, and the seconds of each.

    Returns (dtype, {"float32": s, "bfloat16": s}). bf16 wins only when it is at least 10 %
    faster, since fp32 is the more accurate of two near-equal choices.
    """
    device = torch.device(device)
    times = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        a @ b  # warm-up
        best = float("inf")
        for _ in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(4):
                a @ b
            _sync(device)
            best = min(best, time.perf_counter() - t0)
        times[str(dtype).removeprefix("torch.")] = best
    faster = torch.bfloat16 if times["bfloat16"] < 0.9 * times["float32"] else torch.float32
    return faster, times


def automatic_dtype(device: torch.device | str, path=None) -> torch.dtype:
    """The measured faster dtype for `device`: stored after the first measurement (about 2 s on a
    CPU without bf16 units), keyed by device and torch version, so jobs never re-measure."""
    import json
    import os

    from engine.settings import data_dir

    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    key = f"{device.type}|{name}|torch {torch.__version__}"
    path = path or data_dir() / DTYPE_FILE
    try:
        store = json.loads(path.read_text(encoding="utf-8"))
        store = store if isinstance(store, dict) else {}
    except (OSError, ValueError):
        store = {}
    if store.get(key) in ("float32", "bfloat16"):
        return getattr(torch, store[key])
    dtype, _ = measure_dtype(device, size=256, repeats=2)
    store[key] = str(dtype).removeprefix("torch.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(store, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return dtype


def resolve_options(device: torch.device | str, choices: RuntimeChoices | None = None) -> RuntimeOptions:
    """`choose_options` for this machine: its memory tier and (unless chosen) its measured dtype."""
    from engine.runtime.memory_tier import detect_tier

    choices = choices or RuntimeChoices()
    device = torch.device(device)
    measured = None if choices.dtype else automatic_dtype(device)
    return choose_options(device, detect_tier(device), choices, measured_dtype=measured)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def apply_int8_weight_only(module: torch.nn.Module) -> torch.nn.Module:
    """Quantise every Linear of `module` to INT8 weights in place (torchao `Int8WeightOnlyConfig`).

    Activations stay in the module's dtype; only weights are stored as int8 with per-channel
    scales, which halves (bf16) or quarters (fp32) their memory.
    """
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    quantize_(module, Int8WeightOnlyConfig())
    return module


def apply_int8_dynamic(module: torch.nn.Module) -> torch.nn.Module:
    """INT8 weights and activations for every Linear of `module`, in place (the fast path;
    engine/runtime/int8_dynamic.py says which kernels and why not torchao's on the CPU)."""
    from engine.runtime.int8_dynamic import apply_int8_dynamic as apply

    return apply(module)


QUANTIZERS = {"int8": apply_int8_weight_only, "int8-dynamic": apply_int8_dynamic}  # mode -> in-place quantiser
# What Settings shows for each mode. The int8-dynamic cost is MEASURED (benchmarks/bench_dit_fast.py,
# real-width turbo DiT on random weights, the 2-core AVX2 CPU, interleaved with fp32): per forward
# 1.47x faster (2 layers, 30 s) and 1.43x (12 layers, 4 s); relative error of the 8-step latents
# 1.8 % (2 layers), 3.6 % (12 layers), 1.8 % on the tiny turbo DiT (decoded log-STFT L1 0.034).
QUANTIZER_LABELS = {"int8": "INT8 weights", "int8-dynamic": INT8_FAST_LABEL}


def apply_quantization(module: torch.nn.Module, mode: str) -> torch.nn.Module:
    """Quantise `module` in place with `mode` ("none": unchanged)."""
    if mode == "none":
        return module
    if mode not in QUANTIZERS:
        raise ValidationError(f"quantization must be one of none, {', '.join(QUANTIZERS)}, got {mode!r}")
    return QUANTIZERS[mode](module)


def maybe_compile(module: torch.nn.Module, enabled: bool) -> torch.nn.Module:
    """Compile `module` in place (`nn.Module.compile`) when enabled: it keeps its type, attributes
    and state-dict keys, unlike the OptimizedModule wrapper `torch.compile(module)` returns."""
    if enabled:
        module.compile()
    return module


class StageOffloader:
    """Keeps a model on the accelerator only while its stage runs (when `enabled`).

    With offload off (or on the CPU) `use` is a no-op, so callers write one code path.
    """

    def __init__(self, device: torch.device | str, enabled: bool, home: str = "cpu") -> None:
        self.device = torch.device(device)
        self.enabled = enabled and self.device.type != "cpu"
        self.home = torch.device(home)
        self._pinned: set[int] = set()  # id()s of modules that stay where they are (the CPU VAE)

    def pin(self, module: torch.nn.Module) -> None:
        """Never move `module` (e.g. a VAE the user put on the CPU)."""
        self._pinned.add(id(module))

    @contextlib.contextmanager
    def use(self, module: torch.nn.Module) -> Iterator[torch.nn.Module]:
        if not self.enabled or id(module) in self._pinned:
            yield module
            return
        module.to(self.device)
        try:
            yield module
        finally:
            module.to(self.home)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def park(self, module: torch.nn.Module) -> None:
        """Move a model off the accelerator now (e.g. right after loading)."""
        if self.enabled and id(module) not in self._pinned:
            module.to(self.home)
