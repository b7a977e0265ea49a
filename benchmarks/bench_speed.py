"""Issue 17 speed figures: before/after ratios measured INTERLEAVED in one run (the machine is
shared, so absolute times drift; the ratio of neighbours is what to read). Prints every figure.

Parts (`--parts`, default all):
  tiny      tiny checkpoints as a new user meets them: VAE encode of a `--clip` s clip (stock
            diffusers vs our load-time folding), planner `format` (load + tokens/s, 2 threads
            vs our 1-thread decode of small models)
  dit       real-WIDTH turbo DiT (2048 hidden, 16 heads; `--layers` of the 24, the per-layer cost
            is what changes), `--frames` latent frames, `--steps` steps through run_diffusion's
            scope: cross-attention K/V recomputed every step vs reused; FLOPs/s of one forward
  vae       real-size VAE decode of `--vae-frames` frames: stock vs folded weight norm + frozen
            Snakes; FLOPs/s

Models are built exactly as the loaders build them (AceStepDiT / AudioVAE constructors freeze
weights and install the speed-ups; the stock variants are the same modules with them undone).

    python benchmarks/bench_speed.py --parts tiny,dit,vae
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import count_flops, real_vae_model  # noqa: E402


def _load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _timed(fn, repeats: int = 1) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# --- tiny ---------------------------------------------------------------------------------------

def bench_tiny(args) -> None:
    import torch
    from diffusers import AutoencoderOobleck

    from engine.models.checkpoint_files import load_diffusers_module
    from engine.models.tiny import write_tiny_checkpoints
    from engine.models.vae import AudioVAE

    root = Path(tempfile.mkdtemp(prefix="legato-bench-tiny-"))
    write_tiny_checkpoints(root)
    folder = root / "vae"
    audio = 0.3 * torch.randn(1, 2, int(args.clip * 48000), generator=torch.Generator().manual_seed(0))
    stock = AudioVAE(load_diffusers_module(AutoencoderOobleck, folder, torch.float32), fast=False)
    fast = AudioVAE.load(folder)
    rows = {"stock": [], "fast": []}
    for _ in range(args.repeats):
        for name, vae in (("stock", stock), ("fast", fast)):
            rows[name].append(_timed(lambda v=vae: v.encode(audio, sample=False)))
    s, f = statistics.median(rows["stock"]), statistics.median(rows["fast"])
    print(f"tiny VAE encode {args.clip:.0f} s clip: stock {s:.2f} s, ours {f:.2f} s, ratio {f / s:.2f}")
    flops = count_flops(lambda: fast.encode(audio[..., : 48000], sample=False)) * args.clip
    print(f"  encode FLOPs {flops / 1e9:.0f} GFLOP -> ours {flops / f / 1e9:.0f} GFLOP/s")

    from engine.planner.assist import AssistOptions, format_sample
    from engine.planner.lm import PlannerLM
    from engine.runtime import threads

    t = time.perf_counter()
    lm = PlannerLM.load(root)
    print(f"tiny planner load (tokenizer + model, first in process): {time.perf_counter() - t:.2f} s")
    options = AssistOptions(max_caption_tokens=args.tokens // 2, max_lyrics_tokens=args.tokens // 2)
    format_sample(lm, "warm-up", "la", options=AssistOptions(max_caption_tokens=4, max_lyrics_tokens=4))
    results = {"2 threads": [], "1 thread": []}
    real_decode_threads = threads.decode_threads
    for _ in range(args.repeats):
        for name in results:
            threads_fn = (lambda m: None) if name == "2 threads" else real_decode_threads
            import engine.planner.generate as gen

            gen.decode_threads = threads_fn
            torch.set_num_threads(2)
            t = time.perf_counter()
            out = format_sample(lm, "rock", "la", options=options)
            results[name].append((time.perf_counter() - t, len(lm.tokenizer.encode(out.caption + out.lyrics))))
    gen.decode_threads = real_decode_threads
    for name, runs in results.items():
        sec = statistics.median(r[0] for r in runs)
        print(f"  planner format, {args.tokens} token budget, decode on {name}: {sec:.2f} s")


# --- dit ----------------------------------------------------------------------------------------

def bench_dit(args) -> None:
    import torch
    from bench_generate import REAL_DIT_CONFIG, random_fill

    from engine.models.acestep_config import AceStepConfig
    from engine.models.dit import AceStepDiT
    from engine.models.dit_loader import _build_modules
    from engine.sampling.sampler import Condition, SamplerOptions, sample

    raw = dict(REAL_DIT_CONFIG, num_hidden_layers=args.layers, layer_types=REAL_DIT_CONFIG["layer_types"][: args.layers],
               num_lyric_encoder_hidden_layers=1, num_timbre_encoder_hidden_layers=1)
    config = AceStepConfig.from_dict(raw, source="bench")
    modules = _build_modules(config)
    for module in modules.values():
        random_fill(module, torch.float32, "cpu")
    silence = torch.randn(1, 1500, 64, generator=torch.Generator().manual_seed(0))
    dit = AceStepDiT(config, silence_latent=silence, **modules).eval()
    g = torch.Generator().manual_seed(1)
    frames, cond_len = args.frames, args.cond
    x = torch.randn(1, frames, 64, generator=g)
    condition = Condition(torch.randn(1, cond_len, 2048, generator=g), torch.ones(1, cond_len, dtype=torch.long),
                          torch.randn(1, frames, 128, generator=g))
    schedule = [1.0 - i / args.steps for i in range(args.steps + 1)]
    options = SamplerOptions(schedule=schedule)

    def model(xx, t, cond):
        return dit.denoise(xx, t, t, cond.context_latents, cond.encoder_hidden_states)

    def loop(cached: bool):
        with torch.no_grad():
            if cached:
                with dit.cross_attention_scope():
                    return sample(model, x, condition, options)
            return sample(model, x, condition, options)

    loop(True)
    rows = {"recompute": [], "reuse": []}
    outs = {}
    for _ in range(args.repeats):
        for name in rows:
            t = time.perf_counter()
            outs[name] = loop(name == "reuse")
            rows[name].append(time.perf_counter() - t)
    a, b = statistics.median(rows["recompute"]), statistics.median(rows["reuse"])
    diff = float((outs["reuse"] - outs["recompute"]).abs().max())
    print(f"DiT {args.steps}-step loop, real width, {args.layers} layers, {frames} frames, {cond_len} cond rows, "
          f"{torch.get_num_threads()} threads: K/V recomputed {a:.2f} s, reused {b:.2f} s, ratio {b / a:.3f}, "
          f"max |diff| {diff:.1e}")
    flops = count_flops(lambda: model(x, 0.5, condition))
    with dit.cross_attention_scope():
        model(x, 0.5, condition)
        reused = count_flops(lambda: model(x, 0.5, condition))  # a later step: K/V served from the cache
    print(f"  one forward {flops / 1e9:.1f} GFLOP recomputing, {reused / 1e9:.1f} GFLOP reusing "
          f"(FLOP ratio {reused / flops:.3f}); {reused * args.steps / b / 1e9:.0f} GFLOP/s in the loop")


# --- vae ----------------------------------------------------------------------------------------

def bench_vae(args) -> None:
    import torch

    from engine.models.vae import AudioVAE

    def build(fast: bool):
        return AudioVAE(real_vae_model(seed=0), fast=fast)

    stock, fast = build(False), build(True)
    z = torch.randn(1, args.vae_frames, 64, generator=torch.Generator().manual_seed(2))
    rows = {"stock": [], "fast": []}
    for _ in range(args.repeats):
        for name, vae in (("stock", stock), ("fast", fast)):
            rows[name].append(_timed(lambda v=vae: v._decode_window(z)))
    s, f = statistics.median(rows["stock"]), statistics.median(rows["fast"])
    print(f"real VAE decode of {args.vae_frames} frames ({args.vae_frames / 25:.1f} s), one tile: "
          f"stock {s:.2f} s, ours {f:.2f} s, ratio {f / s:.2f}")
    flops = count_flops(lambda: fast._decode_window(z))
    print(f"  decode {flops / 1e9:.0f} GFLOP -> ours {flops / f / 1e9:.0f} GFLOP/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="tiny,dit,vae")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clip", type=float, default=20.0, help="tiny VAE encode clip, seconds")
    parser.add_argument("--tokens", type=int, default=400, help="planner token budget")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--cond", type=int, default=600)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--vae-frames", type=int, default=50)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"load average at start: {_load_avg()} (2 cores, shared)")
    parts = {"tiny": bench_tiny, "dit": bench_dit, "vae": bench_vae}
    for name in args.parts.split(","):
        parts[name.strip()](args)
        print(f"  load average now: {_load_avg()}")


if __name__ == "__main__":
    main()
