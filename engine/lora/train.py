"""LoRA training on the DiT decoder's attention projections (upstream_lm_tools.md §6.1-§6.3).

    result = train_lora(dit, preprocessed.files, TrainConfig(rank=64, alpha=128), "out/", ctx,
                        family="turbo", on_loss=lambda step, loss: ...)

Recipe: peft LoRA on every decoder `to_q/to_k/to_v/to_out.0` (upstream's q/k/v/o_proj, self-
and cross-attention); everything else frozen. Flow matching with data x0 and noise x1:
x_t = t·x1 + (1-t)·x0, the decoder called with t and r = t, loss = MSE(v, x1 - x0) in fp32 over
the valid frames. AdamW (weight decay 0.01), linear warm-up from 0.1x over
min(warmup, max(1, total // 10)) steps then cosine to 0.01x, gradient clipping at 1.0,
gradient accumulation.

Timesteps, by family:
- turbo: a uniform pick among the 8 turbo (shift 3) inference times, the times the distilled
  model is used at;
- base / SFT: continuous logit-normal t = sigmoid(N(mu, sigma)) with the model's own
  mu = -0.4, sigma = 1.0, plus CFG dropout (15 %: the condition rows replaced by the learned
  null embedding) so the LoRA still works under classifier-free guidance.
Upstream's snapshot trainer (ace-step/ACE-Step-1.5:acestep/training/trainer.py at f30aee4, the
fixed `TURBO_SHIFT3_TIMESTEPS` draw in its training step) uses the turbo times for EVERY model,
base included, with no CFG dropout; that was reported as a bug (#619, #737) and later fixed in
training_v2. We do not copy it.

Precision: bf16 autocast on CUDA when the device supports bf16, else fp32 (on a CPU bf16
matmuls are ~4x slower, and upstream trains fp32 there too). Gradient checkpointing through
diffusers' own switch, on by default.

Checkpoints every `save_every` steps: `checkpoints/step_NNNNNN/adapter/` (upstream's PEFT
format) + `training_state.safetensors` (AdamW moments, by parameter name) + `training_state.json`
(step, config). No pickle anywhere. Each step's randomness (sample order, noise, t, dropout)
derives from (seed, step) alone, so `resume=True` after a kill continues from the last
checkpoint exactly as the uninterrupted run would have. `losses.jsonl` holds one line per step.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import ValidationError

if TYPE_CHECKING:
    import torch

    from engine.jobs.context import JobContext

ADAPTER_NAME = "legato_train"  # not "train": that is an nn.Module method
TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")  # our names for upstream's q/k/v/o_proj
CFG_DROPOUT = 0.15
LOGIT_NORMAL = (-0.4, 1.0)  # the model's own timestep_mu / timestep_sigma


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (upstream UI defaults where they exist, §6.1/§6.3)."""

    rank: int = 64
    alpha: float = 128.0
    dropout: float = 0.1
    learning_rate: float = 3e-4
    epochs: int = 100
    max_steps: int | None = None  # stop earlier than `epochs` (optimizer steps)
    batch_size: int = 1
    grad_accumulation: int = 1
    weight_decay: float = 0.01
    warmup_steps: int = 100
    max_grad_norm: float = 1.0
    save_every: int = 200  # optimizer steps between checkpoints
    seed: int = 42
    precision: str = "auto"  # auto | fp32 | bf16
    gradient_checkpointing: bool = True

    def validate(self) -> None:
        checks = (("rank", self.rank, 1, 512), ("alpha", self.alpha, 0.1, 2048),
                  ("dropout", self.dropout, 0.0, 0.9), ("learning_rate", self.learning_rate, 1e-7, 1.0),
                  ("epochs", self.epochs, 1, 100_000), ("batch_size", self.batch_size, 1, 64),
                  ("grad_accumulation", self.grad_accumulation, 1, 64), ("save_every", self.save_every, 1, 10**7),
                  ("warmup_steps", self.warmup_steps, 0, 10**6), ("weight_decay", self.weight_decay, 0.0, 1.0))
        for name, value, low, high in checks:
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise ValidationError(f"{name}: must be between {low:g} and {high:g}, got {value!r}")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 1):
            raise ValidationError(f"max_steps: must be a positive whole number, got {self.max_steps!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValidationError(f"precision: must be auto, fp32 or bf16, got {self.precision!r}")


@dataclass(frozen=True)
class TrainResult:
    adapter_path: Path  # the final adapter (upstream PEFT folder)
    steps: int  # optimizer steps done in all
    resumed_from: int  # the step the run started at (0 = fresh)
    losses: tuple[tuple[int, float], ...]  # (step, loss) of this whole training, resumed part included
    seconds: float


# --------------------------------------------------------------------------- schedule pieces


def steps_per_epoch(n_samples: int, config: TrainConfig) -> int:
    micro = math.ceil(n_samples / config.batch_size)
    return math.ceil(micro / config.grad_accumulation)


def total_steps(n_samples: int, config: TrainConfig) -> int:
    total = steps_per_epoch(n_samples, config) * config.epochs
    return min(total, config.max_steps) if config.max_steps else total


def lr_at(step: int, total: int, config: TrainConfig) -> float:
    """Upstream's schedule: linear warm-up 0.1x -> 1x, then cosine down to 0.01x (§6.3)."""
    warm = min(config.warmup_steps, max(1, total // 10))
    base = config.learning_rate
    if step < warm:
        return base * (0.1 + 0.9 * step / warm)
    progress = (step - warm) / max(1, total - warm)
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def turbo_training_times() -> tuple[float, ...]:
    """The 8 turbo (shift 3) inference times: 1.0, 0.9545, 0.9, 0.8333, 0.75, 0.6429, 0.5, 0.3."""
    from engine.sampling.schedules import turbo_schedule

    return tuple(turbo_schedule(3.0)[:-1])


def sample_timesteps(family: str, batch: int, gen: torch.Generator) -> torch.Tensor:
    """[B] training times for `family` (see the module docstring)."""
    import torch

    if family == "turbo":
        times = torch.tensor(turbo_training_times())
        return times[torch.randint(0, len(times), (batch,), generator=gen)]
    mu, sigma = LOGIT_NORMAL
    return torch.sigmoid(torch.randn(batch, generator=gen) * sigma + mu)


def _derived(seed: int, *parts) -> int:
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & ((1 << 62) - 1)


def micro_batches(step: int, n_samples: int, config: TrainConfig) -> list[list[int]]:
    """The sample indices of each micro-batch of optimizer step `step` (from (seed, step) alone)."""
    import torch

    per_epoch = steps_per_epoch(n_samples, config)
    epoch, group = divmod(step, per_epoch)
    order = torch.randperm(n_samples, generator=torch.Generator().manual_seed(_derived(config.seed, "epoch", epoch)))
    micro = [order[i: i + config.batch_size].tolist() for i in range(0, n_samples, config.batch_size)]
    return micro[group * config.grad_accumulation: (group + 1) * config.grad_accumulation]


def collate(samples: list[dict], device, dtype) -> dict:
    """Pad latents/context to the longest T and condition rows to the longest L with zeros."""
    import torch

    t_max = max(s["target_latents"].shape[0] for s in samples)
    l_max = max(s["encoder_hidden_states"].shape[0] for s in samples)

    def pad(x: torch.Tensor, n: int) -> torch.Tensor:
        return torch.nn.functional.pad(x, (0, 0, 0, n - x.shape[0]))

    x0 = torch.stack([pad(s["target_latents"], t_max) for s in samples])  # [B, T, 64]
    context = torch.stack([pad(s["context_latents"], t_max) for s in samples])  # [B, T, 128]
    enc = torch.stack([pad(s["encoder_hidden_states"], l_max) for s in samples])  # [B, L, H]
    mask = torch.stack([(torch.arange(t_max) < s["target_latents"].shape[0]).float() for s in samples])  # [B, T]
    return {"x0": x0.to(device), "context": context.to(device, dtype), "enc": enc.to(device, dtype),
            "mask": mask.to(device)}


# --------------------------------------------------------------------------- the model side


def use_bf16(device: torch.device, precision: str) -> bool:
    import torch

    if precision == "fp32":
        return False
    if device.type != "cuda" or not torch.cuda.is_bf16_supported():
        if precision == "bf16":
            raise ValidationError(f"precision: bf16 training needs a GPU that supports it (device is {device})")
        return False
    return True


def add_training_adapter(transformer, config: TrainConfig) -> list:
    """Inject a fresh LoRA (seeded init) on the attention projections; freeze the rest."""
    import torch
    from peft import LoraConfig, inject_adapter_in_model

    for p in transformer.parameters():
        p.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                          target_modules=list(TARGET_MODULES), bias="none")
        inject_adapter_in_model(lora, transformer, adapter_name=ADAPTER_NAME)
    params = []
    ref = transformer.proj_in_conv.weight
    for name, p in transformer.named_parameters():
        if f".{ADAPTER_NAME}." in name and "lora_" in name:
            p.data = p.data.to(ref.device, torch.float32)  # LoRA weights train in fp32 (autocast casts)
            p.requires_grad_(True)
            params.append((name, p))
    if not params:
        raise ValidationError("model: no attention projections found for LoRA")
    return params


def adapter_state(transformer) -> dict:
    """The training adapter's tensors in our key space, without the adapter name."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().float().cpu().clone()
            for k, v in get_peft_model_state_dict(transformer, adapter_name=ADAPTER_NAME).items()}


def flow_loss(transformer, batch: dict, t: torch.Tensor, noise: torch.Tensor, *, bf16: bool,
              null_rows: torch.Tensor | None = None) -> torch.Tensor:
    """Masked MSE between the predicted velocity and x1 - x0, in fp32."""
    import torch

    x0, mask = batch["x0"], batch["mask"]
    x1 = noise.to(x0.device)
    tt = t.to(x0.device)
    x_t = tt[:, None, None] * x1 + (1 - tt[:, None, None]) * x0  # [B, T, 64]
    enc = batch["enc"] if null_rows is None else null_rows
    dtype = batch["context"].dtype
    with torch.autocast(device_type=x0.device.type, dtype=torch.bfloat16, enabled=bf16):
        v = transformer(hidden_states=x_t.to(dtype), timestep=tt.to(dtype), timestep_r=tt.to(dtype),
                        encoder_hidden_states=enc, context_latents=batch["context"], return_dict=False)[0]
    err = (v.float() - (x1 - x0)) ** 2 * mask[:, :, None]
    return err.sum() / (mask.sum() * x0.shape[-1])


def evaluation_loss(transformer, samples: list[dict], family: str, seed: int = 0) -> float:
    """Loss on every sample at fixed noise and fixed times (for comparing before / after)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    ref = transformer.proj_in_conv.weight
    total = 0.0
    with torch.no_grad():
        for s in samples:
            batch = collate([s], ref.device, ref.dtype)
            t = sample_timesteps(family, 1, gen)
            total += float(flow_loss(transformer, batch, t, torch.randn(batch["x0"].shape, generator=gen), bf16=False))
    return total / len(samples)


# --------------------------------------------------------------------------- checkpoints


def checkpoint_dirs(out_dir: Path) -> list[Path]:
    root = out_dir / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith("step_") and (p / "training_state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.removeprefix("step_")))


def _save_checkpoint(out_dir: Path, step: int, transformer, optimizer, names: dict, config: TrainConfig,
                     base_model: str) -> Path:
    from safetensors.torch import save_file

    from engine.lora.export import write_peft_adapter

    final = out_dir / "checkpoints" / f"step_{step:06d}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_peft_adapter(tmp / "adapter", adapter_state(transformer), rank=config.rank, alpha=config.alpha,
                       dropout=config.dropout, base_model=base_model)
    tensors = {}
    for p, state in optimizer.state.items():
        name = names[id(p)]
        tensors[f"{name}::exp_avg"] = state["exp_avg"].detach().cpu().contiguous()
        tensors[f"{name}::exp_avg_sq"] = state["exp_avg_sq"].detach().cpu().contiguous()
        tensors[f"{name}::step"] = state["step"].detach().float().cpu().reshape(1)
    save_file(tensors, str(tmp / "training_state.safetensors"))
    (tmp / "training_state.json").write_text(json.dumps({"step": step, "config": asdict(config)}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def _load_checkpoint(folder: Path, transformer, optimizer, params: list) -> int:
    import torch
    from peft import set_peft_model_state_dict

    from engine.lora.formats import read_adapter
    from engine.models.checkpoint_files import read_safetensors

    adapter = read_adapter(folder / "adapter")
    set_peft_model_state_dict(transformer, adapter.state, adapter_name=ADAPTER_NAME)
    state = read_safetensors([folder / "training_state.safetensors"])
    for name, p in params:
        if f"{name}::exp_avg" in state:
            optimizer.state[p] = {"step": torch.tensor(float(state[f"{name}::step"][0])),
                                  "exp_avg": state[f"{name}::exp_avg"].to(p.device),
                                  "exp_avg_sq": state[f"{name}::exp_avg_sq"].to(p.device)}
    return int(json.loads((folder / "training_state.json").read_text())["step"])


def _read_losses(path: Path, up_to: int) -> list[tuple[int, float]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if int(item["step"]) <= up_to:
            out.append((int(item["step"]), float(item["loss"])))
    return out


# --------------------------------------------------------------------------- the loop


def train_lora(dit, files: list[Path] | tuple[Path, ...], config: TrainConfig, out_dir: str | Path,
               ctx: JobContext, *, family: str, resume: bool = True, base_model: str = "",
               on_loss: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train a LoRA on preprocessed samples; checkpoints and the final adapter go to `out_dir`.

    Leaves the decoder as it found it (the training adapter is removed at the end, also on
    cancel or error), so a cached DiT can be used for generation again.
    """
    import torch

    from engine.lora.export import write_peft_adapter
    from engine.lora.preprocess import load_tensors

    config.validate()
    if family not in ("turbo", "base", "sft"):
        raise ValidationError(f"family: must be turbo, base or sft, got {family!r}")
    if not files:
        raise ValidationError("dataset: nothing preprocessed to train on")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    transformer = dit.transformer
    device = transformer.proj_in_conv.weight.device
    bf16 = use_bf16(device, config.precision)
    samples = [load_tensors(Path(f)) for f in files]
    n = len(samples)
    total = total_steps(n, config)
    started = time.monotonic()
    params = add_training_adapter(transformer, config)
    names = {id(p): name for name, p in params}
    was_training = transformer.training
    try:
        transformer.train()
        if config.gradient_checkpointing:
            transformer.enable_gradient_checkpointing()
        optimizer = torch.optim.AdamW([p for _, p in params], lr=config.learning_rate,
                                      weight_decay=config.weight_decay)
        start = 0
        losses_file = out_dir / "losses.jsonl"
        if resume and checkpoint_dirs(out_dir):
            start = _load_checkpoint(checkpoint_dirs(out_dir)[-1], transformer, optimizer, params)
        elif not resume:
            shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
        losses = _read_losses(losses_file, start) if start else []
        losses_file.write_text("".join(json.dumps({"step": s, "loss": v}) + "\n" for s, v in losses))
        null = dit.null_condition_emb
        ctx.progress("train", start, total)
        for step in range(start, total):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total, config)
            gen = torch.Generator().manual_seed(_derived(config.seed, "step", step))
            groups = micro_batches(step, n, config)
            step_loss = 0.0
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(_derived(config.seed, "dropout", step))
                for indices in groups:
                    ctx.check_cancelled()
                    batch = collate([samples[i] for i in indices], device, transformer.proj_in_conv.weight.dtype)
                    b = batch["x0"].shape[0]
                    t = sample_timesteps(family, b, gen)
                    noise = torch.randn(batch["x0"].shape, generator=gen)
                    null_rows = None
                    if family != "turbo":
                        drop = torch.rand(b, generator=gen) < CFG_DROPOUT  # [B]
                        if bool(drop.any()):
                            rows = null.to(batch["enc"].dtype).expand_as(batch["enc"])
                            null_rows = torch.where(drop.to(device)[:, None, None], rows, batch["enc"])
                    loss = flow_loss(transformer, batch, t, noise, bf16=bf16, null_rows=null_rows)
                    (loss / len(groups)).backward()
                    step_loss += float(loss.detach()) / len(groups)
            torch.nn.utils.clip_grad_norm_([p for _, p in params], config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done = step + 1
            losses.append((done, step_loss))
            with open(losses_file, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": done, "loss": step_loss, "lr": lr_at(step, total, config)}) + "\n")
            if on_loss is not None:
                on_loss(done, step_loss)
            ctx.progress("train", done, total)
            if done % config.save_every == 0 and done < total:
                _save_checkpoint(out_dir, done, transformer, optimizer, names, config, base_model)
        final = write_peft_adapter(out_dir / "final" / "adapter", adapter_state(transformer), rank=config.rank,
                                   alpha=config.alpha, dropout=config.dropout, base_model=base_model)
        _save_checkpoint(out_dir, total, transformer, optimizer, names, config, base_model)
        return TrainResult(final, total, start, tuple(losses), time.monotonic() - started)
    finally:
        if config.gradient_checkpointing:
            transformer.disable_gradient_checkpointing()
        transformer.unload_lora()
        for p in transformer.parameters():
            p.requires_grad_(False)
        transformer.train(was_training)


def with_steps(config: TrainConfig, **changes) -> TrainConfig:
    return replace(config, **changes)
