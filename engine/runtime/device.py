"""Device choice and dtype policy (CPU / CUDA / MPS; float32 / bfloat16 / float16).

Upstream policy (upstream_dit.md §5 "dtype"): DiT and text encoder in bf16 on CUDA, fp32 on CPU
and MPS (the newer handler); the VAE in bf16 on CUDA, fp16 on MPS, fp32 on CPU. Attention runs
through PyTorch SDPA (diffusers' native backend); flash-attn is never required.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from engine.errors import ValidationError
from engine.runtime.oom import is_out_of_memory  # noqa: F401 - re-exported beside the device helpers

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
ENV_DEVICE = "LEGATO_DEVICE"


def cuda_available() -> bool:
    return torch.cuda.is_available()


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(requested: str | None = None) -> torch.device:
    """The device to run on: `requested` ('auto', 'cpu', 'cuda', 'cuda:1', 'mps'), else $LEGATO_DEVICE,
    else CUDA if present, then MPS, then CPU.

    Raises:
        ValidationError: when an explicitly requested device is not available.
    """
    choice = (requested or os.environ.get(ENV_DEVICE) or "auto").strip().lower()
    if choice == "auto":
        if cuda_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = choice.split(":")[0]
    if kind == "cuda" and not cuda_available():
        raise ValidationError(f"device {choice!r} requested, but CUDA is not available on this machine")
    if kind == "mps" and not mps_available():
        raise ValidationError(f"device {choice!r} requested, but Apple MPS is not available")
    if kind not in ("cpu", "cuda", "mps"):
        raise ValidationError(f"unknown device {choice!r}: use auto, cpu, cuda, cuda:N or mps")
    return torch.device(choice)


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    """'fp32'/'float32', 'bf16'/'bfloat16', 'fp16'/'float16' (or a torch dtype) -> torch dtype."""
    if isinstance(name, torch.dtype):
        if name not in DTYPES.values():
            raise ValidationError(f"dtype {name} is not supported (use float32, bfloat16 or float16)")
        return name
    try:
        return DTYPES[str(name).strip().lower()]
    except KeyError:
        raise ValidationError(f"dtype {name!r} is not supported (use float32, bfloat16 or float16)") from None


@dataclass(frozen=True)
class DtypePolicy:
    """Which dtype each model part runs in on a device."""

    dit: torch.dtype
    text_encoder: torch.dtype
    vae: torch.dtype


def default_dtypes(device: torch.device | str, override: str | torch.dtype | None = None) -> DtypePolicy:
    """Upstream's per-device defaults; `override` forces one dtype for every part.

    Raises:
        ValidationError: for an unsupported override (fp16/bf16 on CPU is allowed but slow).
    """
    if override is not None:
        dtype = parse_dtype(override)
        return DtypePolicy(dtype, dtype, dtype)
    kind = torch.device(device).type
    if kind == "cuda":
        return DtypePolicy(torch.bfloat16, torch.bfloat16, torch.bfloat16)
    if kind == "mps":
        return DtypePolicy(torch.float32, torch.float32, torch.float16)
    return DtypePolicy(torch.float32, torch.float32, torch.float32)


def empty_cache(device: torch.device | str) -> None:
    kind = torch.device(device).type
    if kind == "cuda" and cuda_available():
        torch.cuda.empty_cache()
    elif kind == "mps" and mps_available():
        torch.mps.empty_cache()
