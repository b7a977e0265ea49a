"""Time and memory of a training run, before it starts, from one measured step.

The generation preflight (engine.runtime.preflight) is calibrated on forward passes only; a
training step adds the backward pass, LoRA gradients and AdamW moments, and its cost depends on
the longest sample, the batch and gradient checkpointing. So we measure it: one forward +
backward on the longest preprocessed sample at the chosen batch, timed, with the preflight's
own peak-memory meter (`_PeakMemory`: CUDA peak stats, or sampled RSS on a CPU) and its
`available_bytes`, plus the weights and optimizer state counted exactly. The adapter used for
the probe is removed again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

GB = 1024**3


@dataclass(frozen=True)
class TrainEstimate:
    seconds_per_step: float
    total_steps: int
    total_seconds: float
    peak_bytes: int  # weights + optimizer state + the measured step
    available_bytes: int
    fits: bool
    line: str


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_training(dit, files: list[Path] | tuple[Path, ...], config, family: str, *,
                      remaining_steps: int | None = None) -> TrainEstimate:
    import torch

    from engine.lora.preprocess import load_tensors
    from engine.lora.train import (
        add_training_adapter,
        collate,
        flow_loss,
        sample_timesteps,
        total_steps,
        use_bf16,
    )
    from engine.runtime.preflight import _PeakMemory, available_bytes, tensor_bytes

    transformer = dit.transformer
    device = transformer.proj_in_conv.weight.device
    samples = [load_tensors(Path(f)) for f in files]
    longest = max(samples, key=lambda s: s["target_latents"].shape[0])
    params = add_training_adapter(transformer, config)
    try:
        transformer.train()
        if config.gradient_checkpointing:
            transformer.enable_gradient_checkpointing()
        batch = collate([longest] * config.batch_size, device, transformer.proj_in_conv.weight.dtype)
        gen = torch.Generator().manual_seed(0)
        bf16 = use_bf16(device, config.precision)
        with _PeakMemory(device) as meter:
            started = time.perf_counter()
            loss = flow_loss(transformer, batch, sample_timesteps(family, config.batch_size, gen),
                             torch.randn(batch["x0"].shape, generator=gen), bf16=bf16)
            loss.backward()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            step_s = (time.perf_counter() - started) * config.grad_accumulation
        lora_bytes = sum(p.numel() * 4 for _, p in params)
    finally:
        if config.gradient_checkpointing:
            transformer.disable_gradient_checkpointing()
        transformer.unload_lora()
        for p in transformer.parameters():
            p.requires_grad_(False)
        transformer.eval()
    weights = sum(tensor_bytes(t) for t in list(dit.parameters()) + list(dit.buffers()))
    peak = int(weights + 3 * lora_bytes + max(0, meter.peak))  # + AdamW's two moments per LoRA weight
    steps = remaining_steps if remaining_steps is not None else total_steps(len(samples), config)
    avail = available_bytes(device)
    total = step_s * steps
    fits = peak <= avail
    line = (f"about {_human(total)} for {steps} steps ({step_s:.2f} s a step), "
            f"{peak / GB:.1f} of {avail / GB:.1f} GB" + ("" if fits else " — will not fit: lower the batch or "
                                                             "turn gradient checkpointing on"))
    return TrainEstimate(step_s, steps, total, peak, avail, fits, line)
