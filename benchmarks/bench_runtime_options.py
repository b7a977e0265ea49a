"""Benchmark: time and memory of each runtime option on this device (tiny checkpoints by default).

For each option set it loads a pipeline, applies the option, runs one warm-up and then one
measured generation, and prints the diffusion and total seconds, the weight bytes held, and the
peak memory above the weights (CUDA: max_memory_allocated; CPU: resident-set growth).

    .venv/bin/python benchmarks/bench_runtime_options.py [--checkpoints DIR] [--device cpu] [--seconds 10]

Options measured: fp32, bf16, INT8 weight-only DiT (torchao), torch.compile on the DiT,
the VAE on the CPU, and offload between stages (CUDA only; on the CPU there is nothing to move).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoints", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    import torch

    from engine.runtime import preflight as pf
    from engine.runtime.device import pick_device
    from engine.runtime.options import apply_int8_weight_only, measure_dtype
    from engine.tasks.pipeline import GenerationPipeline
    from engine.tasks.request import GenerationRequest

    root = args.checkpoints
    if root is None:
        from engine.models.tiny import write_tiny_checkpoints

        root = Path(tempfile.mkdtemp(prefix="bench-options-"))
        write_tiny_checkpoints(root, seed=0)
    device = pick_device(args.device)
    dtype, times = measure_dtype(device)
    print(f"device {device}; matmul 512x512 fp32 {times['float32'] * 1e3:.1f} ms, bf16 {times['bfloat16'] * 1e3:.1f} ms"
          f" -> measured choice {str(dtype).removeprefix('torch.')}")
    req = GenerationRequest(caption="benchmark", duration=args.seconds, seeds=(1,))
    variants = [("fp32", torch.float32, None), ("bf16", torch.bfloat16, None), ("int8 DiT", torch.float32, "int8"),
                ("compile DiT", torch.float32, "compile")]
    print(f"{'option':<14}{'diffusion s':>12}{'total s':>10}{'weights MB':>12}{'peak MB':>10}")
    for name, dt, extra in variants:
        try:
            pipe = GenerationPipeline.from_checkpoints(root, device=str(device), dtype=dt)
            if extra == "int8":
                apply_int8_weight_only(pipe.models.dit)
            elif extra == "compile":
                pipe.models.dit.transformer = torch.compile(pipe.models.dit.transformer)
            pipe(req)  # warm-up (and compilation)
            with pf._PeakMemory(pipe.models.device) as peak:
                t0 = time.perf_counter()
                result = pipe(req)
                total = time.perf_counter() - t0
            timings = dict(result.timings_s)
            weights = pf.weights_bytes(pipe) / 1e6
            print(f"{name:<14}{timings['diffusion']:>12.3f}{total:>10.3f}{weights:>12.1f}{peak.peak / 1e6:>10.0f}")
        except Exception as exc:  # noqa: BLE001 - report and go on to the next option
            print(f"{name:<14} failed: {type(exc).__name__}: {str(exc)[:120]}")
    print(f"load average {os.getloadavg()[0]:.1f} (2-core shared machine: wall times are noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
