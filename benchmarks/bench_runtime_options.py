"""Benchmark: time and memory of each runtime option, through the real loading path.

Every row builds its pipeline with `GenerationPipeline.from_checkpoints(..., runtime=opts)`
(what GenerateJob does), so the numbers are those of the wired options, not of a hand-patched
model. Per row: the first call (for compile this includes compilation) and the best of
`--repeats` measured calls, in wall seconds and in this process's CPU seconds (the machine is
shared: CPU time is what other processes cannot inflate), the weight bytes held and the peak
memory above the weights (CUDA: max_memory_allocated; CPU: resident-set growth).

    .venv/bin/python benchmarks/bench_runtime_options.py [--checkpoints DIR] [--device cpu] [--seconds 10]
    flock /tmp/legato-heavy.lock .venv/bin/python benchmarks/bench_runtime_options.py --real   # + real-size DiT row

Why the old compile row was not believable: it measured one call after one warm-up on a loaded
2-core machine, where a single wall-clock sample moves by 10x (the same eager tiny run took 0.47 s
and 7.3 s minutes apart), and it printed no sign of whether dynamo had compiled anything. The rows
now report the best of several calls, CPU time beside wall time, the compile warm-up separately,
and the number of graphs dynamo compiled and recompiled during the measured calls.

`--real`: one real-size 2B DiT decoder (random weights, upstream_dit.md §1.2) forward of
`--real-seconds` of audio, eager fp32 vs INT8 weight-only (and compiled with --real-compile),
since the tiny decoder is too small for INT8 or compile to matter.
Offload is measured on CUDA only: on the CPU there is nothing to move, and the row says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _dynamo_counts() -> tuple[int, int]:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"]), int(counters["frames"]["ok"])


def tiny_rows(root: Path, device, seconds: float, repeats: int) -> None:
    from engine.runtime import preflight as pf
    from engine.runtime.options import RuntimeChoices, resolve_options
    from engine.tasks.pipeline import GenerationPipeline
    from engine.tasks.request import GenerationRequest

    req = GenerationRequest(caption="benchmark", duration=seconds, seeds=(1,))
    rows = [("fp32", RuntimeChoices(dtype="float32", quantization="none", compile="off", offload="off")),
            ("bf16", RuntimeChoices(dtype="bfloat16", quantization="none", compile="off", offload="off")),
            ("int8 weights", RuntimeChoices(dtype="float32", quantization="int8", compile="off", offload="off")),
            ("compile", RuntimeChoices(dtype="float32", quantization="none", compile="on", offload="off")),
            ("CPU VAE", RuntimeChoices(dtype="float32", quantization="none", compile="off", offload="off",
                                       vae_device="cpu")),
            ("offload", RuntimeChoices(dtype="float32", quantization="none", compile="off", offload="on"))]
    print(f"{'option':<14}{'first s':>9}{'diff s':>9}{'total s':>9}{'cpu s':>8}{'weights MB':>12}{'peak MB':>9}"
          f"{'graphs':>8}{'load':>6}")
    for name, choices in rows:
        if name == "offload" and device.type == "cpu":
            print(f"{name:<14} n/a on the CPU (the models already live in RAM; measured on CUDA)")
            continue
        try:
            opts = resolve_options(device, choices)
            pipe = GenerationPipeline.from_checkpoints(root, device=str(device), runtime=opts)
            graphs_before, _ = _dynamo_counts()
            t0 = time.perf_counter()
            pipe(req)  # first call: allocator, kernels, and for compile the compilation
            first = time.perf_counter() - t0
            graphs_warm, _ = _dynamo_counts()
            best = None
            for _ in range(repeats):
                with pf._PeakMemory(pipe.models.device) as peak:
                    c0, t0 = time.process_time(), time.perf_counter()
                    result = pipe(req)
                    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                timings = dict(result.timings_s)
                if best is None or wall < best[1]:
                    best = (timings["diffusion"], wall, cpu, peak.peak)
            graphs_after, _ = _dynamo_counts()
            recompiled = graphs_after - graphs_warm
            graphs = f"{graphs_warm - graphs_before}+{recompiled}" if opts.compile else "-"
            weights = pf.weights_bytes(pipe) / 1e6
            print(f"{name:<14}{first:>9.2f}{best[0]:>9.3f}{best[1]:>9.3f}{best[2]:>8.2f}{weights:>12.1f}"
                  f"{best[3] / 1e6:>9.0f}{graphs:>8}{os.getloadavg()[0]:>6.1f}")
            del pipe
        except Exception as exc:  # noqa: BLE001 - report and go on to the next option
            print(f"{name:<14} failed: {type(exc).__name__}: {str(exc)[:120]}")
    print("graphs: dynamo graphs compiled in the first call + during the measured calls (0 = no recompiles)")


def real_rows(seconds: float, repeats: int, with_compile: bool) -> None:
    """The real-size decoder alone: one forward at `seconds` of audio per call."""
    import torch

    from benchmarks.bench_generate import REAL_DIT_CONFIG, random_fill
    from engine.models.acestep_config import AceStepConfig
    from engine.models.dit_loader import _build_modules
    from engine.runtime import preflight as pf
    from engine.runtime.options import apply_quantization, maybe_compile

    config = AceStepConfig.from_dict(REAL_DIT_CONFIG, source="REAL_DIT_CONFIG")
    frames = round(seconds * 25)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, frames, 64, generator=gen)  # [1, T, 64]
    ctx = torch.randn(1, frames, 128, generator=gen)  # [1, T, 128]
    enc = torch.randn(1, 200, 2048, generator=gen)  # [1, L, He]
    t = torch.tensor([0.5])
    variants = [("fp32", None, False), ("int8 weights", "int8", False)] + ([("compile", None, True)] if with_compile else [])
    print(f"real-size 2B decoder, one forward of {seconds:g} s ({frames} frames), CPU fp32")
    print(f"{'option':<14}{'first s':>9}{'best s':>9}{'cpu s':>8}{'weights MB':>12}{'peak MB':>9}{'load':>6}")
    for name, quant, comp in variants:
        decoder = _build_modules(config)["transformer"]
        random_fill(decoder, torch.float32, "cpu")
        decoder.eval()
        if quant:
            apply_quantization(decoder, quant)
        maybe_compile(decoder, comp)

        def forward(decoder=decoder):
            with torch.no_grad():
                decoder(hidden_states=x, timestep=t, timestep_r=t, encoder_hidden_states=enc,
                        context_latents=ctx, return_dict=False)

        t0 = time.perf_counter()
        forward()
        first = time.perf_counter() - t0
        best = None
        for _ in range(repeats):
            with pf._PeakMemory(torch.device("cpu")) as peak:
                c0, t0 = time.process_time(), time.perf_counter()
                forward()
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if best is None or wall < best[0]:
                best = (wall, cpu, peak.peak)
        weights = sum(pf.tensor_bytes(p) for p in list(decoder.parameters()) + list(decoder.buffers())) / 1e6
        print(f"{name:<14}{first:>9.2f}{best[0]:>9.2f}{best[1]:>8.2f}{weights:>12.0f}{best[2] / 1e6:>9.0f}"
              f"{os.getloadavg()[0]:>6.1f}")
        del decoder, forward


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoints", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--real", action="store_true", help="add the real-size decoder rows")
    parser.add_argument("--real-seconds", type=float, default=5.0)
    parser.add_argument("--real-compile", action="store_true", help="also compile the real-size decoder (slow)")
    parser.add_argument("--skip-tiny", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from engine.runtime.device import pick_device
    from engine.runtime.options import measure_dtype

    device = pick_device(args.device)
    dtype, times = measure_dtype(device)
    print(f"device {device}; matmul 512x512 fp32 {times['float32'] * 1e3:.1f} ms, bf16 {times['bfloat16'] * 1e3:.1f} ms"
          f" -> measured choice {str(dtype).removeprefix('torch.')}")
    if not args.skip_tiny:
        root = args.checkpoints
        if root is None:
            from engine.models.tiny import write_tiny_checkpoints

            root = Path(tempfile.mkdtemp(prefix="bench-options-"))
            write_tiny_checkpoints(root, seed=0)
        tiny_rows(root, device, args.seconds, args.repeats)
    if args.real:
        real_rows(args.real_seconds, max(1, args.repeats - 1), args.real_compile)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2-core shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
