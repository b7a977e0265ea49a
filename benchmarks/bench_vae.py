"""Issue 17 item 2: the real-size Oobleck VAE on this CPU, stock diffusers vs ours, INTERLEAVED.

The machine is shared (6 engineers on 2 cores), so wall time swings with the load; every figure
is printed as wall seconds AND process CPU seconds (CPU time is what our kernels cost; wall adds
the time other processes held the cores). Read the ratios of neighbours, with `uptime` printed.

Parts (`--parts`, default all):
  peak     this CPU's fp32 limit: a 4096^3 sgemm (MKL), GFLOP per wall-s and per CPU-s
  decode   one tile of `--frames` latent frames: stock / folded+frozen Snake (before) /
           + channels-last convs / + compiled fused Snake (ours, the default); max |diff| vs stock
  profile  where our decode's time goes per op type (ConvTranspose, conv k7 by dilation, conv 1x1,
           Snake, the rest) and the GFLOP/s each reaches
  tiles    decode cost per output frame vs tile size and overlap (one window per size, then
           cost / (chunk - 2 * overlap)), and the decoder's receptive field in frames
  encode   real-size encode of `--encode-s` seconds: stock vs ours
  int8     does INT8 pay for the VAE convs here? oneDNN/fbgemm quantized conv (x86 engine) vs
           our fp32 conv, at the 128-channel 48 kHz stage and a 512-channel stage; speed and SNR

Models are built as the loader builds them (meta init, random normal(0, 1/sqrt(fan_in)) weights,
frozen, then AudioVAE's constructor installs the speed-ups; stock is AudioVAE(fast=False)).

    python benchmarks/bench_vae.py --parts peak,decode,profile,tiles,encode,int8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import count_flops, real_vae_model  # noqa: E402


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _timed(fn) -> tuple[float, float]:
    """(wall s, process CPU s) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _median(rows: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)


def build(variant: str):
    """variant: stock | before (fold + frozen Snake) | layout (+ channels-last) | ours (+ fused)."""
    from engine.models.vae import AudioVAE
    from engine.models.vae_speed import prepare_for_inference

    model = real_vae_model(seed=0)
    if variant == "stock":
        return AudioVAE(model, fast=False)
    if variant == "ours":
        return AudioVAE(model)
    prepare_for_inference(model, channels_last=variant == "layout", fused_snake=False)
    return AudioVAE(model, fast=False)


# --- parts --------------------------------------------------------------------------------------

def part_peak(args, state) -> None:
    import torch

    n = 4096
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    wall, cpu = _median([_timed(lambda: a @ b) for _ in range(3)])
    flops = 2 * n**3
    threads = torch.get_num_threads()
    state["peak_cpu"] = flops / cpu  # FLOP per CPU-second (all threads together)
    print(f"peak: sgemm {n}^3 {flops / wall / 1e9:.0f} GFLOP/s wall, {flops / cpu / 1e9 * threads:.0f} GFLOP/s "
          f"if both cores were ours ({flops / cpu / 1e9:.0f} per CPU-s x {threads} threads)")


def part_decode(args, state) -> None:
    import torch

    variants = ("stock", "before", "layout", "ours")
    vaes = {v: build(v) for v in variants}
    z = torch.randn(1, args.frames, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        outs = {v: vae._decode_window(z) for v, vae in vaes.items()}  # also warms (compiles) the Snake
        ref64 = build("stock").model.double().decode(z.transpose(1, 2).double()).sample
    peak = ref64.abs().max()
    rows = {v: [] for v in variants}
    for _ in range(args.repeats):
        for v, vae in vaes.items():
            rows[v].append(_timed(lambda vae=vae: vae._decode_window(z)))
    flops = count_flops(lambda: vaes["ours"]._decode_window(z))
    s_wall, s_cpu = _median(rows["stock"])
    print(f"decode one tile of {args.frames} frames ({args.frames / 25:.1f} s), {flops / 1e9:.0f} GFLOP, "
          f"{args.repeats} interleaved runs, load {_load()}:")
    for v in variants:
        wall, cpu = _median(rows[v])
        err = float((outs[v].double() - ref64).abs().max() / peak)
        print(f"  {v:7s} wall {wall:6.2f} s ({wall / s_wall:.2f})  cpu {cpu:6.2f} s ({cpu / s_cpu:.2f})  "
              f"{flops / cpu / 1e9:5.1f} GFLOP/cpu-s  max|err| vs fp64 / peak {err:.1e}")
    state["vaes"] = vaes


def part_profile(args, state) -> None:
    import torch

    from engine.models.vae_layout import ChannelsLastConv1d
    from engine.models.vae_speed import FrozenSnake1d

    vae = state.get("vaes", {}).get("ours") or build("ours")
    z = torch.randn(1, 64, args.frames)
    stats = defaultdict(lambda: [0.0, 0.0, 0.0])  # group -> wall, cpu, flops

    def conv_group(mod, inp, out):
        w = mod.weight  # [O, I, k] or, transposed, [I, O, k]
        cin, cout, k = (w.shape[0], w.shape[1], w.shape[2]) if mod.transposed else (w.shape[1], w.shape[0], w.shape[2])
        frames = inp[0].shape[-1] if mod.transposed else out.shape[-1]
        name = "ConvTranspose" if mod.transposed else (f"conv k{k} d{mod.dilation}" if k > 1 else "conv 1x1")
        return name, 2 * cin * cout * k * frames

    def pre(mod, inp):
        mod._t = (time.perf_counter(), time.process_time())

    def post(mod, inp, out):
        wall, cpu = time.perf_counter() - mod._t[0], time.process_time() - mod._t[1]
        name, fl = conv_group(mod, inp, out) if isinstance(mod, ChannelsLastConv1d) else ("Snake", 0)
        stats[name][0] += wall
        stats[name][1] += cpu
        stats[name][2] += fl

    hooks = []
    for mod in vae.model.decoder.modules():
        if isinstance(mod, (ChannelsLastConv1d, FrozenSnake1d)):
            hooks += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    with torch.no_grad():
        vae.model.decode(z)  # warm
        stats.clear()
        wall, cpu = _timed(lambda: vae.model.decode(z))
    for h in hooks:
        h.remove()
    peak = state.get("peak_cpu")
    print(f"profile of our decode ({args.frames} frames): wall {wall:.2f} s, cpu {cpu:.2f} s, load {_load()}")
    for name, (_wall, c, fl) in sorted(stats.items(), key=lambda kv: -kv[1][1]):
        rate = f"{fl / c / 1e9:5.1f} GFLOP/cpu-s" + (f" ({fl / c / peak:.0%} of sgemm)" if peak else "") if fl else ""
        print(f"  {name:14s} cpu {c:6.2f} s {c / cpu:5.1%}  {fl / 1e9:6.1f} GFLOP  {rate}")
    rest_c = cpu - sum(v[1] for v in stats.values())
    print(f"  {'rest (adds)':14s} cpu {rest_c:6.2f} s {rest_c / cpu:5.1%}")


def receptive_field(vae, frames: int = 48) -> float:
    """Frames on each side of a latent frame that change the decoded audio (measured)."""
    import torch

    from engine.models.vae import HOP

    z = torch.randn(1, 64, frames, generator=torch.Generator().manual_seed(5))
    hit = frames // 2
    bumped = z.clone()
    bumped[:, :, hit] += 1.0
    with torch.no_grad():
        diff = (vae.model.decode(z).sample - vae.model.decode(bumped).sample).abs().amax(dim=(0, 1))
    changed = torch.nonzero(diff).flatten()
    return max(hit - changed.min().item() / HOP, (changed.max().item() + 1) / HOP - hit - 1)


def part_tiles(args, state) -> None:
    import torch

    vae = state.get("vaes", {}).get("ours") or build("ours")
    sizes = [int(s) for s in args.tile_sizes.split(",")]
    per_frame = {}
    with torch.no_grad():
        vae._decode_window(torch.zeros(1, 40, 64) + 0.1)  # warm: compiles the fused Snake if not yet
        for size in sizes:
            z = torch.randn(1, size, 64, generator=torch.Generator().manual_seed(6))
            wall, cpu = _timed(lambda z=z: vae._decode_window(z))
            per_frame[size] = cpu / size
            print(f"tiles: one {size:4d}-frame window wall {wall:6.2f} s cpu {cpu:6.2f} s = "
                  f"{cpu / size * 1000:5.1f} cpu-ms/frame (load {_load()})")
    rf = receptive_field(vae)
    print(f"tiles: receptive field of the decoder = {rf:.1f} latent frames each side (so any overlap "
          f">= {int(rf) + 1} decodes like one window, up to float rounding)")
    base = max(sizes)
    for chunk in (128, 256, 512, 1024):
        window = per_frame.get(chunk, per_frame[base])  # larger windows: the largest measured rate
        note = "" if chunk in per_frame else f" (per-frame rate of the {base}-frame window)"
        for overlap in (16, 64):
            if chunk - 2 * overlap <= 0:
                continue
            cost = window * chunk / (chunk - 2 * overlap)
            print(f"  tile {chunk:4d}/overlap {overlap:2d}: {cost * 1000:5.1f} cpu-ms per output frame, "
                  f"{(chunk - 2 * overlap) / chunk:.0%} useful{note}")


def part_encode(args, state) -> None:
    import torch

    stock, ours = build("stock"), state.get("vaes", {}).get("ours") or build("ours")
    audio = 0.3 * torch.randn(1, 2, int(args.encode_s * 48000), generator=torch.Generator().manual_seed(7))
    a, b = stock.encode(audio, sample=False), ours.encode(audio, sample=False)
    rows = {"stock": [], "ours": []}
    for _ in range(args.repeats):
        for name, vae in (("stock", stock), ("ours", ours)):
            rows[name].append(_timed(lambda vae=vae: vae.encode(audio, sample=False)))
    (sw, sc), (ow, oc) = _median(rows["stock"]), _median(rows["ours"])
    rel = float((a - b).abs().max() / a.abs().max())
    print(f"encode {args.encode_s:.0f} s real-size: stock wall {sw:.2f} s cpu {sc:.2f} s, ours wall {ow:.2f} s "
          f"cpu {oc:.2f} s, ratio wall {ow / sw:.2f} cpu {oc / sc:.2f}; max|diff|/peak {rel:.1e} (load {_load()})")


def part_int8(args, state) -> None:
    import torch
    import torch.nn.functional as F
    from torch.ao.nn.quantized import Conv2d as QuantizedConv2d

    torch.backends.quantized.engine = "x86"
    print("int8: torchao's int8 dynamic activation+weight quantization covers nn.Linear only (the VAE "
          "has none); this measures torch's x86 quantized conv (oneDNN/fbgemm) on the VAE's shapes")
    for channels, length in ((128, 96000), (512, 8000)):
        x = torch.randn(1, channels, 1, length).contiguous(memory_format=torch.channels_last)  # [B, C, 1, T]
        w = (torch.randn(channels, channels, 1, 7) * (7 * channels) ** -0.5).contiguous(
            memory_format=torch.channels_last)
        bias = torch.randn(channels) * 0.02
        ref = F.conv2d(x, w, bias, padding=(0, 9), dilation=(1, 3))
        conv = QuantizedConv2d(channels, channels, (1, 7), padding=(0, 9), dilation=(1, 3))
        w_scale = (w.abs().amax(dim=(1, 2, 3)) / 127).double()
        conv.set_weight_bias(torch.quantize_per_channel(w.contiguous(), w_scale, torch.zeros(channels, dtype=torch.long),
                                                        0, torch.qint8), bias)
        conv.scale, conv.zero_point = float(ref.abs().max()) / 127, 128

        def int8(x=x, conv=conv):  # dynamic: quantize the activation per call, dequantize the output
            xq = torch.quantize_per_tensor(x, float(x.abs().max()) / 127, 128, torch.quint8)
            return conv(xq).dequantize()

        def fp32(x=x, w=w, bias=bias):
            return F.conv2d(x, w, bias, padding=(0, 9), dilation=(1, 3))

        err = int8() - ref
        snr = float(10 * torch.log10(ref.pow(2).sum() / err.pow(2).sum()))
        rows = {"fp32": [], "int8": []}
        for _ in range(3):
            for name, fn in (("fp32", fp32), ("int8", int8)):
                rows[name].append(_timed(fn))
        (_, fc), (_, qc) = _median(rows["fp32"]), _median(rows["int8"])
        print(f"  conv k7 {channels}ch x {length}: fp32 cpu {fc * 1000:.0f} ms, int8 cpu {qc * 1000:.0f} ms "
              f"(ratio {qc / fc:.2f}); ONE layer's SNR {snr:.1f} dB (the decoder stacks ~70)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="peak,decode,profile,tiles,encode,int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--frames", type=int, default=125, help="decode tile, latent frames (125 = 5 s)")
    parser.add_argument("--tile-sizes", default="32,64,128,256", help="windows measured for the tile sweep")
    parser.add_argument("--encode-s", type=float, default=5.0)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"load average at start: {_load()} (2 cores, shared); {args.threads} threads")
    parts = {"peak": part_peak, "decode": part_decode, "profile": part_profile, "tiles": part_tiles,
             "encode": part_encode, "int8": part_int8}
    state: dict = {}
    for name in args.parts.split(","):
        parts[name.strip()](args, state)


if __name__ == "__main__":
    main()
