"""Issue 17, the DiT side: where a forward's time goes, whether torch.compile pays on this CPU,
and what the INT8 weights+activations fast path gains and costs. Prints every figure.

Parts (`--parts`, default all; every comparison is INTERLEAVED in one run, because the machine is
shared and absolute times drift with its load: read the ratios):
  profile   one real-width turbo DiT forward under torch.profiler, diffusers' channel-major
            residual stream vs ours (token-major): the share of matmuls, attention and elementwise
            work (norms, AdaLN, RoPE, SwiGLU), mm vs bmm calls, FLOPs and GFLOP/s
  loop      the 8-step loop, stock vs token-major residual stream (engine/models/dit_layout.py)
  before-after  (not in the default set) the 8-step loop as before issue 17 (K/V recomputed every
            step, channel-major stream) vs now (K/V reused, token-major), interleaved
  compile   eager vs `nn.Module.compile()` (inductor, CPU, fp32) of the decoder: first-call
            compile time, steady per-forward time, recompiles across steps and a new length
  int8      fp32 vs "int8-dynamic" (engine/runtime/int8_dynamic.py) per forward, and torchao's
            Int8DynamicActivationInt8WeightConfig on one linear (why it is not used on the CPU);
            quality: relative error of the final 8-step latents (real width, random weights)
  tiny      quality on the tiny checkpoints: 8-step latents and the decoded audio's log-STFT
            magnitude distance, fp32 vs int8-dynamic

Models are built as the loader builds them (AceStepDiT freezes weights and installs the
cross-attention cache; random weights via bench_generate.random_fill). Real width = 2048 hidden,
16 heads, 6144 MLP; `--layers` of the 24 (the per-layer cost is what is compared).

    python benchmarks/bench_dit_fast.py --parts profile,compile,int8,tiny --frames 750
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import count_flops  # noqa: E402


def _load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


def build_dit(layers: int, seed: int = 0):
    """A real-width turbo AceStepDiT with `layers` decoder layers, built as the loader builds it."""
    import torch
    from bench_generate import REAL_DIT_CONFIG, random_fill

    from engine.models.acestep_config import AceStepConfig
    from engine.models.dit import AceStepDiT
    from engine.models.dit_loader import _build_modules

    raw = dict(REAL_DIT_CONFIG, num_hidden_layers=layers, layer_types=REAL_DIT_CONFIG["layer_types"][:layers],
               num_lyric_encoder_hidden_layers=1, num_timbre_encoder_hidden_layers=1)
    config = AceStepConfig.from_dict(raw, source="bench")
    modules = _build_modules(config)
    torch.manual_seed(seed)
    for module in modules.values():
        random_fill(module, torch.float32, "cpu")
    return AceStepDiT(config, silence_latent=torch.zeros(1, 1500, 64), **modules).eval()


def _inputs(frames: int, cond: int, batch: int = 1, seed: int = 1):
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, frames, 64, generator=g)  # [B, T, 64]
    ctx = torch.randn(batch, frames, 128, generator=g)  # [B, T, 128]
    enc = torch.randn(batch, cond, 2048, generator=g)  # [B, L, He]
    return x, ctx, enc


def _loop(dit, x, ctx, enc, steps: int, reuse_kv: bool = True):
    """The turbo ODE loop (engine.sampling's Euler step), one forward per step, K/V reused
    (`reuse_kv=False`: recomputed every step, as before issue 17)."""
    import contextlib

    import torch

    schedule = [1.0 - i / steps for i in range(steps + 1)]
    with torch.no_grad(), dit.cross_attention_scope() if reuse_kv else contextlib.nullcontext():
        for t, t_next in zip(schedule[:-1], schedule[1:], strict=True):
            v = dit.denoise(x, t, t, ctx, enc)
            x = x + (t_next - t) * v
    return x


# --- profile ------------------------------------------------------------------------------------

MATMUL = {"aten::mm", "aten::bmm", "aten::addmm", "aten::linear_dynamic", "quantized::linear_dynamic"}
ATTENTION = {"aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_scaled_dot_product_attention_math"}
CONV = {"aten::mkldnn_convolution", "aten::_convolution", "aten::convolution_overrideable"}


def _shares(prof) -> dict[str, float]:
    out = {"matmul": 0.0, "attention": 0.0, "conv": 0.0, "other": 0.0}
    for ev in prof.key_averages():
        s = ev.self_cpu_time_total / 1e6
        key = ("matmul" if ev.key in MATMUL else "attention" if ev.key in ATTENTION
               else "conv" if ev.key in CONV else "other")
        out[key] += s
    return out


def bench_profile(args) -> None:
    """Profile one forward; then stock layout vs token-major residual stream, interleaved."""
    import torch
    from torch.profiler import profile

    from engine.models.dit_layout import install_token_major_stream

    dit = build_dit(args.layers)
    x, ctx, enc = _inputs(args.frames, args.cond)

    def use(variant: str) -> None:  # "stock": diffusers' channel-major stream; "ours": token-major
        dit.token_major_hook.remove()
        if variant == "ours":
            dit.token_major_hook = install_token_major_stream(dit.transformer)

    with torch.no_grad(), dit.cross_attention_scope():
        dit.denoise(x, 0.5, 0.5, ctx, enc)  # the first step fills the K/V cache
        flops = count_flops(lambda: dit.denoise(x, 0.4, 0.4, ctx, enc))
        rows, outs, profiles = {"stock": [], "ours": []}, {}, {}
        for i in range(args.repeats):
            for variant in rows:
                use(variant)
                t = time.perf_counter()
                if i == 0:
                    with profile() as profiles[variant]:
                        outs[variant] = dit.denoise(x, 0.4, 0.4, ctx, enc)
                else:
                    outs[variant] = dit.denoise(x, 0.4, 0.4, ctx, enc)
                rows[variant].append(time.perf_counter() - t)
    s, o = statistics.median(rows["stock"]), statistics.median(rows["ours"])
    print(f"profile: one forward, {args.layers} layers, {args.frames} frames, {args.cond} cond rows, "
          f"{flops / 1e9:.1f} GFLOP (K/V cached)")
    print(f"  stock layout {s:.2f} s ({flops / s / 1e9:.0f} GFLOP/s), token-major stream {o:.2f} s "
          f"({flops / o / 1e9:.0f} GFLOP/s), ratio {o / s:.3f}; runs {[round(v, 2) for v in rows['stock']]} vs "
          f"{[round(v, 2) for v in rows['ours']]}; max |diff| {float((outs['ours'] - outs['stock']).abs().max()):.1e}")
    for variant, prof in profiles.items():
        shares = _shares(prof)
        total = sum(shares.values())
        calls = {ev.key: ev.count for ev in prof.key_averages()}
        print(f"  {variant}: " + ", ".join(f"{k} {v / total * 100:.1f} %" for k, v in shares.items())
              + f"; mm calls {calls.get('aten::mm', 0)}, bmm calls {calls.get('aten::bmm', 0)}")
        top = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[: args.top]
        for ev in top:
            print(f"    {ev.key:<52} {ev.self_cpu_time_total / 1e3:8.1f} ms  x{ev.count}")


def _interleaved_loops(args, variants: dict[str, tuple[bool, bool]]):
    """Run the `--steps`-step loop `--repeats` times per variant, interleaved; a variant is
    (token-major stream, K/V reused). -> ({name: runs in s}, {name: final latents})."""
    from engine.models.dit_layout import install_token_major_stream

    dit = build_dit(args.layers)
    x, ctx, enc = _inputs(args.frames, args.cond)
    rows, outs = {name: [] for name in variants}, {}
    for _ in range(args.repeats):
        for name, (token_major, reuse_kv) in variants.items():
            dit.token_major_hook.remove()
            if token_major:
                dit.token_major_hook = install_token_major_stream(dit.transformer)
            t = time.perf_counter()
            outs[name] = _loop(dit, x, ctx, enc, args.steps, reuse_kv=reuse_kv)
            rows[name].append(time.perf_counter() - t)
    return rows, outs


def bench_loop(args) -> None:
    """The `--steps`-step loop: diffusers' channel-major stream vs ours (token-major), interleaved."""
    rows, outs = _interleaved_loops(args, {"stock": (False, True), "ours": (True, True)})
    s, o = statistics.median(rows["stock"]), statistics.median(rows["ours"])
    print(f"{args.steps}-step loop, {args.layers} layers, {args.frames} frames: stock layout {s:.1f} s, "
          f"token-major {o:.1f} s, ratio {o / s:.3f} (runs {[round(v, 1) for v in rows['stock']]} vs "
          f"{[round(v, 1) for v in rows['ours']]}); max |diff| {float((outs['ours'] - outs['stock']).abs().max()):.1e}")


def bench_before_after(args) -> None:
    """The whole DiT side of issue 17 in one interleaved run: the `--steps`-step loop as it was
    (K/V recomputed every step, diffusers' channel-major stream) vs now (K/V reused, token-major)."""
    rows, outs = _interleaved_loops(args, {"before": (False, False), "after": (True, True)})
    b, a = statistics.median(rows["before"]), statistics.median(rows["after"])
    print(f"{args.steps}-step loop, {args.layers} layers, {args.frames} frames, {args.cond} cond rows: before "
          f"(K/V recomputed, channel-major) {b:.1f} s, after (K/V reused, token-major) {a:.1f} s, ratio "
          f"{a / b:.3f} (runs {[round(v, 1) for v in rows['before']]} vs {[round(v, 1) for v in rows['after']]}); "
          f"max |diff| {float((outs['after'] - outs['before']).abs().max()):.1e}")


# --- compile ------------------------------------------------------------------------------------

def bench_compile(args) -> None:
    import torch
    from torch._dynamo.utils import counters

    eager, compiled = build_dit(args.layers), build_dit(args.layers)
    if args.freezing:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # fold weights as constants, prepack them for mkldnn
    compiled.transformer.compile()
    x, ctx, enc = _inputs(args.frames, args.cond)
    with torch.no_grad(), eager.cross_attention_scope(), compiled.cross_attention_scope():
        t = time.perf_counter()
        compiled.denoise(x, 0.9, 0.9, ctx, enc)
        first = time.perf_counter() - t
        t = time.perf_counter()
        compiled.denoise(x, 0.8, 0.8, ctx, enc)  # later steps: K/V from the cache (another graph)
        second = time.perf_counter() - t
        graphs_after_two = counters["stats"]["unique_graphs"]
        rows = {"eager": [], "compiled": []}
        for i in range(args.repeats):
            t_now = 0.7 - 0.05 * i
            for name, dit in (("eager", eager), ("compiled", compiled)):
                t = time.perf_counter()
                y = dit.denoise(x, t_now, t_now, ctx, enc)
                rows[name].append(time.perf_counter() - t)
                if name == "eager":
                    ref = y
        diff = float((y - ref).abs().max())
        graphs_steady = counters["stats"]["unique_graphs"]
        x2, ctx2, enc2 = _inputs(args.frames + 50, args.cond)
        t = time.perf_counter()
        compiled.denoise(x2, 0.5, 0.5, ctx2, enc2)
        new_length = time.perf_counter() - t
    e, c = statistics.median(rows["eager"]), statistics.median(rows["compiled"])
    print(f"compile ({'freezing' if args.freezing else 'default inductor'}), {args.layers} layers, {args.frames} frames: "
          f"first call {first:.1f} s, second {second:.1f} s, graphs after two steps {graphs_after_two}, "
          f"after {args.repeats} more {graphs_steady}")
    print(f"  steady forward: eager {e:.2f} s, compiled {c:.2f} s, ratio {c / e:.2f} "
          f"(runs {[round(v, 2) for v in rows['eager']]} vs {[round(v, 2) for v in rows['compiled']]}), "
          f"max |diff| {diff:.1e}")
    print(f"  a new length ({args.frames + 50} frames): {new_length:.1f} s "
          f"(graphs now {counters['stats']['unique_graphs']}: every new song length or batch size recompiles)")


# --- int8 ---------------------------------------------------------------------------------------

def bench_int8(args) -> None:
    import torch

    from engine.runtime.options import apply_quantization

    fp32 = build_dit(args.layers)
    int8 = copy.deepcopy(fp32)
    t = time.perf_counter()
    apply_quantization(int8.transformer, "int8-dynamic")
    quant_s = time.perf_counter() - t
    x, ctx, enc = _inputs(args.frames, args.cond)
    rows = {"fp32": [], "int8-dynamic": []}
    with torch.no_grad(), fp32.cross_attention_scope(), int8.cross_attention_scope():
        for dit in (fp32, int8):
            dit.denoise(x, 0.9, 0.9, ctx, enc)
        for i in range(args.repeats):
            t_now = 0.8 - 0.05 * i
            for name, dit in (("fp32", fp32), ("int8-dynamic", int8)):
                t = time.perf_counter()
                dit.denoise(x, t_now, t_now, ctx, enc)
                rows[name].append(time.perf_counter() - t)
        flops = count_flops(lambda: fp32.denoise(x, 0.5, 0.5, ctx, enc))
    f, q = statistics.median(rows["fp32"]), statistics.median(rows["int8-dynamic"])
    print(f"int8-dynamic, {args.layers} layers, {args.frames} frames (quantising took {quant_s:.1f} s): "
          f"fp32 {f:.2f} s, int8 {q:.2f} s per forward, ratio {q / f:.2f} ({f / q:.2f}x faster); "
          f"{flops / 1e9:.0f} GFLOP -> fp32 {flops / f / 1e9:.0f}, int8 {flops / q / 1e9:.0f} GFLOP/s equivalent")
    print(f"  runs fp32 {[round(v, 2) for v in rows['fp32']]}, int8 {[round(v, 2) for v in rows['int8-dynamic']]}")
    x0_f = _loop(fp32, x, ctx, enc, args.steps)
    x0_q = _loop(int8, x, ctx, enc, args.steps)
    print(f"  quality, {args.steps}-step latents on random real-width weights: "
          f"||x_q - x|| / ||x|| = {_rel(x0_q, x0_f) * 100:.2f} %")
    if args.torchao:
        _torchao_linear(args)


def _torchao_linear(args) -> None:
    """torchao's dynamic int8 config on ONE real-size linear: why the CPU path does not use it."""
    import torch
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    from engine.runtime.int8_dynamic import DynamicInt8Linear, _has_vnni

    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Linear(2048, 6144, bias=False)).eval().requires_grad_(False)
    ours = DynamicInt8Linear(lin[0], reduce_range=not _has_vnni())
    ao = copy.deepcopy(lin)
    quantize_(ao, Int8DynamicActivationInt8WeightConfig())
    x = torch.randn(1, args.frames // 2, 2048)
    rows = {"fp32": [], "ours": [], "torchao": []}
    with torch.no_grad():
        for _ in range(2):
            for name, m in (("fp32", lin), ("ours", ours), ("torchao", ao)):
                t = time.perf_counter()
                m(x)
                rows[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"  one 2048x6144 linear, {args.frames // 2} tokens: fp32 {med['fp32'] * 1e3:.0f} ms, ours "
          f"{med['ours'] * 1e3:.0f} ms, torchao Int8DynamicActivationInt8WeightConfig {med['torchao'] * 1e3:.0f} ms "
          f"(torch._int_mm on a CPU without AMX; CPU capability {torch.backends.cpu.get_cpu_capability()})")


# --- tiny ---------------------------------------------------------------------------------------

def log_stft_distance(a, b) -> float:
    """Mean |log(|STFT a| + eps) - log(|STFT b| + eps)| over both channels (2048-point, hop 512)."""
    import torch

    def mag(w):  # [B, 2, N] -> [B*2, F, frames]
        w = w.reshape(-1, w.shape[-1])
        spec = torch.stft(w, 2048, 512, window=torch.hann_window(2048), return_complex=True)
        return torch.log(spec.abs() + 1e-5)

    return float((mag(a) - mag(b)).abs().mean())


def bench_tiny(args) -> None:
    import torch

    from engine.models.dit_loader import load_dit
    from engine.models.tiny import write_tiny_checkpoints
    from engine.models.tiny.factory import DIT_FOLDERS, VAE_FOLDER
    from engine.models.vae import AudioVAE
    from engine.runtime.options import apply_quantization

    root = Path(tempfile.mkdtemp(prefix="legato-bench-int8-"))
    write_tiny_checkpoints(root)
    fp32 = load_dit(root / DIT_FOLDERS["turbo"])
    int8 = load_dit(root / DIT_FOLDERS["turbo"])
    apply_quantization(int8.transformer, "int8-dynamic")
    frames = 250  # 10 s
    g = torch.Generator().manual_seed(3)
    width = fp32.transformer.condition_embedder.in_features
    x = torch.randn(1, frames, 64, generator=g)
    ctx = torch.randn(1, frames, 128, generator=g)
    enc = torch.randn(1, 40, width, generator=g)
    x0_f = _loop(fp32, x, ctx, enc, args.steps)
    x0_q = _loop(int8, x, ctx, enc, args.steps)
    vae = AudioVAE.load(root / VAE_FOLDER)
    audio_f, audio_q = vae.decode(x0_f), vae.decode(x0_q)
    print(f"tiny turbo DiT, {args.steps} steps, {frames} frames: latent error {_rel(x0_q, x0_f) * 100:.2f} %, "
          f"decoded audio log-STFT L1 {log_stft_distance(audio_q, audio_f):.3f} "
          f"(same latents + 1 % noise: {log_stft_distance(vae.decode(x0_f + 0.01 * x0_f.std() * torch.randn_like(x0_f)), audio_f):.3f}), "
          f"waveform error {_rel(audio_q, audio_f) * 100:.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="profile,loop,compile,int8,tiny")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--frames", type=int, default=750, help="latent frames (25 per second of audio)")
    parser.add_argument("--cond", type=int, default=600, help="packed condition rows")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=12, help="profile rows to print")
    parser.add_argument("--freezing", action="store_true", help="compile with inductor freezing (weight prepack)")
    parser.add_argument("--no-torchao", dest="torchao", action="store_false",
                        help="skip the one-linear torchao comparison (it takes ~20 s)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(args.threads)
    print(f"load average at start: {_load_avg()} (2 cores, shared); CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, {args.threads} threads")
    parts = {"profile": bench_profile, "loop": bench_loop, "before-after": bench_before_after, "compile": bench_compile, "int8": bench_int8, "tiny": bench_tiny}
    for name in args.parts.split(","):
        parts[name.strip()](args)
        print(f"  load average now: {_load_avg()}")


if __name__ == "__main__":
    main()
