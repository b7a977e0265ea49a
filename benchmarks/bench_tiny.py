"""How fast the tiny checkpoints are, as a new user meets them (issue 17, "Fast tiny models").

    .venv/bin/python benchmarks/bench_tiny.py                       # writes a fresh tiny tree
    .venv/bin/python benchmarks/bench_tiny.py --checkpoints DIR     # an existing tree (e.g. an
                                                                    # older factory's, for "before")

Each stage runs in its own child process (so each peak RSS is that stage's alone) and reports
the seconds of the work itself, after the imports (import time is printed apart: it is the same
for tiny and real models):
  vae-encode   AudioVAE.encode of a 20 s stereo clip (posterior sample, the pipeline's call)
  vae-decode   AudioVAE.decode of the 20 s of latents
  cover        a 20 s cover through GenerationPipeline (text + VAE encode + 8 turbo steps + decode)
  repaint      a 5 s repaint window in the same 20 s source
  plan-format  `legato plan format` (planner LM load + one constrained pass), default caps
  plan-think   phase 1 + 10 s of codes (`legato plan think --duration 10`)
The machine load (`os.getloadavg`) is printed beside the table: on the shared 2-core box a load
above ~2 makes every figure proportionally slower.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SR = 48_000
CLIP_S = 20.0
STAGES = ("vae-encode", "vae-decode", "cover", "repaint", "plan-format", "plan-think")


def _clip():
    """A deterministic 20 s stereo test signal [2, S] float32 (decaying tones, not silence)."""
    import numpy as np

    t = np.arange(int(CLIP_S * SR), dtype=np.float64) / SR
    left = 0.3 * np.sin(2 * np.pi * 220 * t) * np.exp(-(t % 1.0) * 2)
    right = 0.25 * np.sin(2 * np.pi * 330 * t) * np.exp(-((t + 0.5) % 1.0) * 2)
    return np.stack([left, right]).astype(np.float32)


def _run_stage(stage: str, root: Path) -> dict:
    """Runs in the child: import, then time the stage's work only."""
    t0 = time.perf_counter()
    import torch

    from engine.models.vae import AudioVAE

    imports = time.perf_counter() - t0
    result: dict = {"imports_s": imports}
    if stage in ("vae-encode", "vae-decode"):
        vae = AudioVAE.load(root / "vae")
        audio = torch.from_numpy(_clip())[None]  # [1, 2, S]
        t = time.perf_counter()
        z = vae.encode(audio, sample=True, generator=torch.Generator().manual_seed(0))  # [1, T, C]
        result["vae-encode"] = time.perf_counter() - t
        t = time.perf_counter()
        vae.decode(z)
        result["vae-decode"] = time.perf_counter() - t
        result["latent"] = list(z.shape)
    elif stage in ("cover", "repaint"):
        from engine.tasks.pipeline import GenerationPipeline
        from engine.tasks.request import GenerationRequest

        t = time.perf_counter()
        pipe = GenerationPipeline.from_checkpoints(root, task="text2music")
        result["load_s"] = time.perf_counter() - t
        extra = {"repaint_start": 5.0, "repaint_end": 10.0} if stage == "repaint" else {}
        req = GenerationRequest(task=stage, caption="warm piano", lyrics="[Instrumental]",
                                source_audio=_clip(), seeds=(1,), **extra)
        t = time.perf_counter()
        out = pipe(req)
        result[stage] = time.perf_counter() - t
        result["timings"] = {k: round(v, 2) for k, v in out.timings_s}
    else:
        from engine.planner.assist import format_sample
        from engine.planner.lm import PlannerLM
        from engine.planner.metadata import Metadata
        from engine.planner.think import ThinkRequest, think

        t = time.perf_counter()
        lm = PlannerLM.load(root, max_duration=600)
        result["load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        if stage == "plan-format":
            out = format_sample(lm, "calm piano ballad", "[verse]\nla la la")
            result["tokens"] = len(out.caption) + len(out.lyrics)  # characters, as a size hint
        else:
            plan = think(lm, ThinkRequest(caption="calm piano ballad", lyrics="[verse]\nla la la",
                                          metadata=Metadata(duration=10)))
            result["codes"] = len(plan.items[0].codes)
        result[stage] = time.perf_counter() - t
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=None, help="an existing tiny tree (default: write one)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma list of {', '.join(STAGES)}")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(_run_stage(args.child, args.checkpoints)))
        return 0

    stages = [s for s in args.stages.split(",") if s]
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stages: {sorted(unknown)}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.checkpoints
        if root is None:
            root = Path(tmp) / "tiny"
            t = time.perf_counter()
            from engine.models.tiny import write_tiny_checkpoints

            write_tiny_checkpoints(root, seed=0)
            print(f"write_tiny_checkpoints: {time.perf_counter() - t:.1f} s")
        rows = []
        done: dict[str, dict] = {}
        for stage in stages:
            key = "vae-encode" if stage == "vae-decode" else stage  # one child measures both
            if key not in done:
                t = time.perf_counter()
                proc = subprocess.run([sys.executable, __file__, "--checkpoints", str(root), "--child", key],
                                      capture_output=True, text=True, cwd=REPO)
                line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
                if proc.returncode or line is None:
                    print(f"{stage}: FAILED\n{proc.stderr[-2000:]}")
                    return 1
                done[key] = json.loads(line[len("RESULT "):]) | {"wall_s": time.perf_counter() - t}
            r = done[key]
            notes = {k: v for k, v in r.items() if k in ("latent", "codes", "tokens", "timings", "load_s")}
            rows.append((stage, r[stage], r["imports_s"], r["wall_s"], r["rss_mb"], notes))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(f"\n{'stage':<12} {'work s':>7} {'imports s':>9} {'process s':>9} {'peak RSS MB':>11}  notes")
    for stage, work, imports, wall, rss, notes in rows:
        print(f"{stage:<12} {work:>7.2f} {imports:>9.1f} {wall:>9.1f} {rss:>11.0f}  {json.dumps(notes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
