"""What this machine offers, in one frozen value for Settings and the status bar.

Computing it imports torch (about a second), so the app builds it on the job worker, never on
the UI thread: `DeviceReportJob` returns it as a job result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from engine.jobs.spec import JobSpec

if TYPE_CHECKING:
    from engine.jobs.context import JobContext
    from engine.jobs.model_cache import ModelCache


@dataclass(frozen=True)
class DeviceReport:
    device: str  # "cpu", "cuda", "mps"
    name: str  # "NVIDIA H200", "CPU (2 cores)", ...
    memory_gb: float | None  # accelerator memory; None on the CPU
    ram_gb: float | None
    tier: str  # upstream's memory tier name
    max_duration_s: int  # longest song the tier offers without the LM
    max_batch: int
    dtype: str  # the DiT dtype the device uses by default
    problem: str = ""  # e.g. the requested device is not available
    options: str = ""  # the chosen runtime options, e.g. "float32, no offload, full weights, eager"
    options_why: tuple[str, ...] = ()  # one reason per choice (tier, Settings, measured)

    def summary(self) -> str:
        memory = f"{self.memory_gb:.0f} GB" if self.memory_gb else (f"{self.ram_gb:.0f} GB RAM" if self.ram_gb else "")
        parts = [self.name, memory, f"tier {self.tier}", self.options or self.dtype]
        return " · ".join(p for p in parts if p)


def device_report(requested: str = "auto", choices=None) -> DeviceReport:
    """`choices`: the RuntimeChoices to resolve (None = the saved Settings')."""
    import os

    import torch

    from engine.errors import ValidationError
    from engine.runtime.device import default_dtypes, pick_device
    from engine.runtime.memory_tier import accelerator_memory_gb, detect_tier, system_ram_gb

    problem = ""
    try:
        device = pick_device(requested)
    except ValidationError as exc:
        problem, device = str(exc), torch.device("cpu")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device.index or 0)
    elif device.type == "mps":
        name = "Apple GPU (MPS)"
    else:
        name = f"CPU ({os.cpu_count() or 1} cores)"
    tier = detect_tier(device)
    from engine.runtime.options import RuntimeChoices, resolve_options

    if choices is None:
        from engine.settings import load_settings

        choices = RuntimeChoices.from_settings(load_settings())
    try:
        options = resolve_options(device, choices)
    except ValidationError as exc:  # a hand-edited settings file with a value we do not know
        options, problem = None, problem or str(exc)
    return DeviceReport(
        device=device.type, name=name, memory_gb=accelerator_memory_gb(device), ram_gb=system_ram_gb(),
        tier=tier.name, max_duration_s=tier.max_duration_without_lm, max_batch=tier.max_batch_without_lm,
        dtype=str(options.dtype if options else default_dtypes(device).dit).removeprefix("torch."), problem=problem,
        options=options.describe() if options else "", options_why=options.why if options else (),
    )


@dataclass(frozen=True, kw_only=True)
class DeviceReportJob(JobSpec):
    kind: ClassVar[str] = "device-report"
    requested: str = "auto"

    @property
    def display_label(self) -> str:
        return self.label or "Checking the hardware"

    def run(self, models: ModelCache, ctx: JobContext) -> DeviceReport:
        report = device_report(self.requested)
        # Warm the worker: importing the model code (diffusers, transformers) holds the GIL in
        # long stretches, which would stall the UI during the first generation. Do it now,
        # while the musician is still reading the screen.
        import gc

        import engine.tasks.pipeline  # noqa: F401

        # Everything alive now (modules, classes, Qt bindings) lives as long as the app. Moving it
        # to the permanent generation makes the worker's between-job gc.collect() scan only
        # what jobs create: ~0.04 ms instead of ~400 ms holding the GIL (a UI stall).
        gc.freeze()
        return report
