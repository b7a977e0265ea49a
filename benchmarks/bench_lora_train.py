"""LoRA training at the REAL 2B decoder size (random weights): seconds per optimizer step and
peak memory, on this machine. Prints numbers; asserts nothing.

    flock /tmp/legato-heavy.lock /work/main/.venv/bin/python benchmarks/bench_lora_train.py
    options: --seconds 2 (latent length; 25 frames a second) --steps 2 --rank 64 --batch 1
             --no-checkpointing --threads N

The decoder (AceStepTransformer1DModel with upstream's 2B sizes, ~1.58 B parameters, ~6.3 GB in
fp32) is built with random weights; the condition rows are random [L, 2048]. What runs is our
training step itself (engine.lora.train: LoRA on every attention projection, flow-matching loss,
AdamW, gradient clipping) in fp32, as on any CPU (bf16 is ~4x slower here).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--condition-rows", type=int, default=300)
    parser.add_argument("--no-checkpointing", action="store_true")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    import torch
    from diffusers.models.transformers.ace_step_transformer import AceStepTransformer1DModel

    from engine.lora.train import TrainConfig, add_training_adapter, collate, flow_loss, sample_timesteps

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    torch.manual_seed(0)
    with torch.device("meta"):  # no slow per-layer init: random values are filled in below
        model = AceStepTransformer1DModel(hidden_size=2048, intermediate_size=6144, num_hidden_layers=24,
                                          num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                                          in_channels=192, sliding_window=128, is_turbo=True)
    model = model.to_empty(device="cpu").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    config = TrainConfig(rank=args.rank, alpha=2.0 * args.rank, dropout=0.1,
                         gradient_checkpointing=not args.no_checkpointing)
    params = add_training_adapter(model, config)
    model.train()
    if config.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW([p for _, p in params], lr=3e-4, weight_decay=0.01)
    frames = int(args.seconds * 25)
    gen = torch.Generator().manual_seed(0)
    sample = {"target_latents": torch.randn(frames, 64, generator=gen),
              "context_latents": torch.randn(frames, 128, generator=gen),
              "encoder_hidden_states": torch.randn(args.condition_rows, 2048, generator=gen)}
    batch = collate([sample] * args.batch, "cpu", torch.float32)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = flow_loss(model, batch, sample_timesteps("turbo", args.batch, gen),
                         torch.randn(batch["x0"].shape, generator=gen), bf16=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
        print(f"  step {len(times)}: {times[-1]:.1f} s, loss {float(loss.detach()):.3f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    lora = sum(p.numel() for _, p in params)
    print(f"decoder {n_params / 1e6:.1f} M params (built in {build_s:.1f} s), LoRA rank {args.rank}: "
          f"{lora / 1e6:.2f} M trainable")
    print(f"latents {frames} frames ({args.seconds:g} s) x batch {args.batch}, {args.condition_rows} condition rows, "
          f"gradient checkpointing {'on' if config.gradient_checkpointing else 'off'}, threads {torch.get_num_threads()}")
    print(f"step time: first {times[0]:.1f} s, last {times[-1]:.1f} s")
    print(f"peak RSS: {peak:.2f} GB (after building + adapter: {rss_before:.2f} GB; training adds "
          f"{peak - rss_before:.2f} GB)")


if __name__ == "__main__":
    main()
