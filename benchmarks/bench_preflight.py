"""Benchmark: how far the preflight's predictions are from what the pipeline really takes.

Builds the tiny checkpoints (or uses --checkpoints), measures a fresh calibration on this device,
then runs several different requests and prints predicted vs measured wall seconds (and peak
memory on CUDA, or RSS growth on the CPU) with the error in per cent. Target: within +-25 %.

On the shared 2-core dev machine other processes make wall time noisy; the load average is
printed next to each row so a bad row can be told from a bad model.

    .venv/bin/python benchmarks/bench_preflight.py [--checkpoints DIR] [--device cpu]

Real-size random-weight runs are not included: one real 2B DiT forward of 30 s takes minutes on
this CPU (see bench_models.py), which is too long for a calibration plus five requests here.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REQUESTS = [  # (duration s, batch, task model)
    (10, 1), (30, 1), (20, 2), (60, 1), (15, 3), (45, 2),
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoints", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: time with the process's CPU time everywhere (calibration and runs), "
                             "which takes other processes' load out and so tests the cost model itself")
    args = parser.parse_args()
    if args.clock == "cpu":
        import types

        import engine.runtime.preflight as _pf
        import engine.tasks.pipeline as _pipe

        shim = types.SimpleNamespace(perf_counter=time.process_time, time=time.time)
        _pipe.time = shim
        _pf.time = shim
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from engine.runtime import preflight as pf
    from engine.runtime.device import default_dtypes, pick_device
    from engine.tasks.pipeline import GenerationPipeline
    from engine.tasks.request import GenerationRequest

    root = args.checkpoints
    if root is None:
        from engine.models.tiny import write_tiny_checkpoints

        root = Path(tempfile.mkdtemp(prefix="bench-preflight-"))
        write_tiny_checkpoints(root, seed=0)
    device = pick_device(args.device)
    pipe = GenerationPipeline.from_checkpoints(root, device=str(device), dtype=default_dtypes(device).dit)
    t0 = time.perf_counter()
    calib = pf.calibrate(pipe)
    print(f"clock: {args.clock}")
    print(f"calibration on {device}: {time.perf_counter() - t0:.1f} s; weights {calib.weights_bytes / 1e6:.1f} MB")
    print(f"{'request':<18}{'predicted s':>12}{'measured s':>12}{'error':>9}{'pred MB':>10}{'meas MB':>10}{'load':>7}")
    errors = []
    for duration, batch in REQUESTS:
        req = GenerationRequest(caption="benchmark", duration=float(duration), batch_size=batch,
                                seeds=tuple(range(batch)))
        predicted = pf.predict(req, calib, pipe.family)
        with pf._PeakMemory(pipe.models.device) as peak:
            start = clock()
            pipe(req)
            measured = clock() - start
        error = (predicted.seconds - measured) / measured * 100
        errors.append(abs(error))
        pred_mb = (predicted.peak_bytes - calib.weights_bytes) / 1e6
        print(f"{f'{duration:>3} s x{batch}':<18}{predicted.seconds:>12.2f}{measured:>12.2f}{error:>8.0f}%"
              f"{pred_mb:>10.0f}{peak.peak / 1e6:>10.0f}{os.getloadavg()[0]:>7.1f}")
    print(f"mean |error| {sum(errors) / len(errors):.0f} %, worst {max(errors):.0f} %"
          f" (target 25 %); within 25 %: {sum(e <= 25 for e in errors)}/{len(errors)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
