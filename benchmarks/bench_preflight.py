"""Benchmark: how far the preflight's predictions are from what the pipeline really takes.

Per suite it measures a fresh calibration on this device, then runs several different requests
and prints, per request, predicted vs measured seconds and peak memory above the weights (CUDA:
max_memory_allocated; CPU: resident-set growth), each with its error in per cent. Target: within
+-25 %.

Suites:
  tiny   the tiny checkpoints (or --checkpoints): 6 requests, lengths 10-60 s, batch 1-3, and 4
         that think (the planner LM).
  real   (--real) the REAL-size turbo DiT (2.4 B, 24 layers), Qwen3 0.6 B text encoder and Oobleck
         VAE with random weights, built as the loaders build them (bench_generate.build_models:
         frozen weights, the loaders' speed-ups), about 13 GB in float32. 5 short requests (2
         or 4 diffusion steps, <= 12 s, batch 1-2) and a short calibration (6 s and 10 s, twice
         each), so the suite takes ~11 minutes, not hours, on a 2-core CPU.

Clocks. The dev machine is shared: other processes inflate wall time by a factor that changes
minute to minute. `--clock cpu` times everything (calibration and runs) with this process's CPU
time, which takes the other processes out and so tests the cost model itself; `--clock wall` is
what a user waits. Each row also prints the other clock's measurement and the 1-minute load.

    .venv/bin/python benchmarks/bench_preflight.py --clock cpu
    flock /tmp/legato-heavy.lock .venv/bin/python benchmarks/bench_preflight.py --clock cpu --real --skip-tiny
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (duration s, batch, diffusion steps or None for the family's default)
TINY_REQUESTS = [(10, 1, None), (30, 1, None), (20, 2, None), (60, 1, None), (15, 3, None), (45, 2, None)]
# Thinking (the planner LM writes the chain of thought once and codes per item): (duration, batch)
TINY_THINKING = [(10, 1, False), (8, 2, False), (10, 1, True), (8, 2, True)]  # True: bpm/key/time given
FULL_METADATA = {"bpm": 120, "keyscale": "C major", "timesignature": "4"}
REAL_REQUESTS = [(8, 1, 2), (6, 2, 2), (12, 1, 2), (8, 1, 4), (10, 2, 2)]
REAL_CALIBRATION = {"lengths": (6.0, 10.0), "repeats": 2}  # >= 128 frames each, new shapes then warm


def _schedule(steps: int) -> tuple[float, ...]:
    return tuple(1.0 - i / steps for i in range(steps))  # `steps` positive times: that many steps


def run_suite(name: str, pipe, requests, clock: str, calib_kwargs=None, repeats: int = 1,
              thinking=()) -> list[tuple[float, float]]:
    import statistics

    import torch

    from engine.runtime import preflight as pf
    from engine.tasks.request import GenerationRequest

    measure = time.process_time if clock == "cpu" else time.perf_counter
    other = time.perf_counter if clock == "cpu" else time.process_time
    t0, c0 = time.perf_counter(), time.process_time()
    calib = pf.calibrate(pipe, **(calib_kwargs or {}))
    print(f"\n[{name}] calibration: {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU; "
          f"weights {calib.weights_bytes / 1e6:.0f} MB; {torch.get_num_threads()} threads; clock {clock}")
    print(f"measured: the first run of each request (new shapes, as a user's new request); "
          f"'again' = median of {repeats - 1} more run(s) at the same length (warm shapes)")
    print(f"{'request':<16}{'pred s':>8}{'meas s':>8}{'err':>6}{'again s':>8}{'other-clock s':>15}"
          f"{'pred MB':>9}{'meas MB':>9}{'err':>6}{'load':>6}")
    errors = []
    lm = None
    if thinking:
        from engine.runtime.preflight_lm import calibrate_lm

        lm = calibrate_lm(pipe)
        print(f"[{name}] planner LM: load {lm.load_s:.2f} s, per call {lm.call_s:.3f} s, per token "
              f"{lm.per_token_s * 1000:.1f} ms, chain of thought {lm.phase1_tokens} tokens, weights "
              f"{lm.weights_bytes / 1e6:.0f} MB")
    cases = [(d, b, s, False, False) for d, b, s in requests] + [(d, b, None, True, m) for d, b, m in thinking]
    for duration, batch, steps, thinks, metadata in cases:
        extra = {"timesteps": _schedule(steps)} if steps else {}
        extra.update(FULL_METADATA if metadata else {})
        req = GenerationRequest(caption="benchmark", duration=float(duration), batch_size=batch,
                                seeds=tuple(range(batch)), thinking=thinks, **extra)
        # The shapes this process already ran (the calibration's, earlier rows') are warm.
        predicted = pf.predict(req, calib, pipe.family, lm=lm, lm_loaded=True, seen=pf.seen_shapes(pipe))
        runs, runs_other, peaks = [], [], []
        forwards, first_forwards = [0], 0
        hook = (pipe._planner.model.register_forward_pre_hook(lambda *_, f=forwards: f.__setitem__(0, f[0] + 1))
                if thinks else None)
        for _ in range(repeats):  # the first run meets new shapes (as a user's new request does)
            with pf._PeakMemory(pipe.models.device) as peak:
                start, start_other = measure(), other()
                pipe(req)
                runs.append(measure() - start)
                runs_other.append(other() - start_other)
            peaks.append(peak.peak)
            first_forwards = first_forwards if runs[1:] else forwards[0]
        if hook is not None:
            hook.remove()
        measured, measured_other = runs[0], runs_other[0]
        warm = statistics.median(runs[1:]) if len(runs) > 1 else float("nan")
        error = (predicted.seconds - measured) / measured * 100
        # Above the weights already resident when the run starts: the DiT/text/VAE weights, and
        # for a thinking row the planner LM's as well (lm_loaded=True: it was loaded above, so the
        # resident-set growth the run measures never contains it).
        resident = calib.weights_bytes + (lm.weights_bytes if thinks else 0)
        pred_mb = (predicted.peak_bytes - resident) / 1e6
        meas_mb = max(peaks) / 1e6
        mem_error = (pred_mb - meas_mb) / max(meas_mb, 1e-9) * 100
        errors.append((abs(error), abs(mem_error)))
        label = f"{duration:>3} s x{batch}" + (f" {steps} st" if steps else "") + (
            (" think+meta" if metadata else " think") if thinks else "")
        print(f"{label:<16}{predicted.seconds:>8.2f}{measured:>8.2f}{error:>5.0f}%{warm:>8.2f}{measured_other:>15.2f}"
              f"{pred_mb:>9.0f}{meas_mb:>9.0f}{mem_error:>5.0f}%{os.getloadavg()[0]:>6.1f}")
        if thinks:  # a decode step is one forward; each generate call adds its prompt's
            calls = (0 if metadata else 1) + batch
            print(f"{'':<16}planner tokens: predicted {predicted.lm_tokens}, decoded "
                  f"{first_forwards - calls} (first run)")
    secs, mems = [e[0] for e in errors], [e[1] for e in errors]
    print(f"[{name}] seconds: mean |error| {sum(secs) / len(secs):.0f} %, worst {max(secs):.0f} %, "
          f"within 25 %: {sum(e <= 25 for e in secs)}/{len(secs)}; memory: mean {sum(mems) / len(mems):.0f} %, "
          f"worst {max(mems):.0f} %, within 25 %: {sum(e <= 25 for e in mems)}/{len(mems)}")
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--real", action="store_true", help="add the real-size random-weight suite (~13 GB)")
    parser.add_argument("--skip-tiny", action="store_true")
    parser.add_argument("--thinking-only", action="store_true", help="tiny suite: only the planner rows")
    parser.add_argument("--repeats", type=int, default=1, help="runs per request; the median counts")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (calibration and runs alike); 1 takes the idle-spinning of a "
                             "second thread waiting for a descheduled one out of the CPU clock")
    args = parser.parse_args()
    if args.clock == "cpu":  # the pipeline's own stage timings (used by the calibration) too
        import types

        import engine.runtime.preflight as _pf
        import engine.runtime.preflight_lm as _pl
        import engine.tasks.pipeline as _pipe

        shim = types.SimpleNamespace(perf_counter=time.process_time, time=time.time)
        _pipe.time = shim
        _pf.time = shim
        _pl.time = shim  # the LM calibration too (it once ran on the wall clock: 7x "over-prediction")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from engine.models.tiny import write_tiny_checkpoints
    from engine.runtime.device import default_dtypes, pick_device
    from engine.tasks.pipeline import GenerationPipeline

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    device = pick_device(args.device)
    errors = []
    tiny_root = Path(tempfile.mkdtemp(prefix="bench-preflight-"))
    write_tiny_checkpoints(tiny_root, seed=0)
    if not args.skip_tiny:
        root = args.checkpoints or tiny_root
        pipe = GenerationPipeline.from_checkpoints(root, device=str(device), dtype=default_dtypes(device).dit)
        errors += run_suite("tiny", pipe, [] if args.thinking_only else TINY_REQUESTS, args.clock,
                            repeats=args.repeats, thinking=TINY_THINKING)
        del pipe
    if args.real:
        import torch

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_generate import build_models

        dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
        models = build_models(str(device), dtype, tiny_root / "Qwen3-Embedding-0.6B")
        pipe = GenerationPipeline(models, "turbo", checkpoints=tiny_root)
        errors += run_suite("real", pipe, REAL_REQUESTS, args.clock, REAL_CALIBRATION, repeats=args.repeats)
    secs, mems = [e[0] for e in errors], [e[1] for e in errors]
    print(f"\nall: seconds within 25 %: {sum(e <= 25 for e in secs)}/{len(secs)}, "
          f"memory within 25 %: {sum(e <= 25 for e in mems)}/{len(mems)}; "
          f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
