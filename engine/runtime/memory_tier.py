"""Memory tier of the accelerator, after upstream `acestep/gpu_config.py` (upstream_lm_tools.md §7.2).

VRAM = total memory of GPU 0; on MPS the recommended max working set, else 75 % of system RAM,
else 8 GB. $MAX_CUDA_VRAM / $MAX_MPS_VRAM (GB) simulate a size. No GPU -> tier1 limits. Cards
reporting >= 15.5 GB count as 16 GB. The tier sets what the UI offers: max duration and batch,
which planner LMs, and whether to offload / quantise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from engine.runtime.device import cuda_available, mps_available

GB = 1024**3


@dataclass(frozen=True)
class MemoryTier:
    """Limits for one tier (later gpu_config.py table)."""

    name: str
    vram_gb: float
    max_duration_with_lm: int
    max_duration_without_lm: int
    max_batch_with_lm: int
    max_batch_without_lm: int
    init_lm: bool
    lms: tuple[str, ...]
    recommended_lm: str | None
    offload: bool
    offload_dit: bool
    int8: bool


# (upper bound in GB, name, dur with/without LM, batch with/without, LM init, LMs, recommended,
#  offload, offload DiT, int8)
_TABLE = (
    (4.0, "tier1", 240, 360, 1, 1, False, (), None, True, True, True),
    (6.0, "tier2", 480, 600, 1, 1, False, (), None, True, True, True),
    (8.0, "tier3", 480, 600, 2, 2, True, ("0.6B",), "0.6B", True, True, True),
    (12.0, "tier4", 480, 600, 2, 4, True, ("0.6B",), "0.6B", True, True, True),
    (15.5, "tier5", 480, 600, 4, 4, True, ("0.6B", "1.7B"), "1.7B", True, False, True),
    (20.0, "tier6a", 480, 600, 4, 8, True, ("0.6B", "1.7B"), "1.7B", True, False, True),
    (24.0, "tier6b", 480, 480, 8, 8, True, ("0.6B", "1.7B", "4B"), "1.7B", False, False, False),
    (float("inf"), "unlimited", 600, 600, 8, 8, True, ("0.6B", "1.7B", "4B"), "4B", False, False, False),
)


def tier_for_vram(vram_gb: float) -> MemoryTier:
    """The tier for an accelerator with `vram_gb` GB (>= 15.5 counts as a 16 GB card)."""
    for bound, name, d_lm, d_no, b_lm, b_no, init, lms, rec, off, off_dit, int8 in _TABLE:
        if vram_gb <= bound:
            return MemoryTier(name, vram_gb, d_lm, d_no, b_lm, b_no, init, lms, rec, off, off_dit, int8)
    raise AssertionError("unreachable: last tier is unbounded")


def system_ram_gb() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return pages * size / GB
    except (ValueError, OSError, AttributeError):
        return None


def accelerator_memory_gb(device: torch.device | str) -> float | None:
    """Total memory of the accelerator in GB (env overrides first); None for the CPU."""
    kind = torch.device(device).type
    if kind == "cuda":
        if os.environ.get("MAX_CUDA_VRAM"):
            return float(os.environ["MAX_CUDA_VRAM"])
        if cuda_available():
            index = torch.device(device).index or 0
            return torch.cuda.get_device_properties(index).total_memory / GB
        return None
    if kind == "mps":
        if os.environ.get("MAX_MPS_VRAM"):
            return float(os.environ["MAX_MPS_VRAM"])
        if mps_available():
            try:
                return torch.mps.recommended_max_memory() / GB
            except (AttributeError, RuntimeError):
                ram = system_ram_gb()
                return 0.75 * ram if ram else 8.0
        return None
    return None


def detect_tier(device: torch.device | str) -> MemoryTier:
    """The memory tier for `device`; the CPU (no accelerator) gets tier1's limits, as upstream."""
    vram = accelerator_memory_gb(device)
    return tier_for_vram(vram if vram is not None else 0.0)
