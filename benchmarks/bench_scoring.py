"""Benchmark: judging one take at REAL model size (random weights): what "Score takes" costs.

Two phases, one after the other so they never share memory:
  1. DiT side: the real-size 2B decoder + Qwen3-0.6B text encoder (bench_generate's builders;
     only the decoder's first 7 layers are built unless --full-decoder: the pass never runs more);
     `decoder_inputs` (text encode + condition encoder) and `judge_alignment` (the batch-2
     pass with cross-attention capture and early exit after layer 6 of 24, both alignment
     scores, consensus + DTW + LRC). With --vae, also the VAE encode a take without kept
     latents needs (a reopened project, a sidecar on disk).
  2. LM side: a random planner LM of the real shape (0.6B by default on the CPU, --lm 1.7b for
     the default planner) and `judge_quality` (teacher forcing: one pass per metadata field,
     two per caption / lyrics).

    .venv/bin/python benchmarks/bench_scoring.py                       # 5 s take, 0.6B LM (~2 min here)
    .venv/bin/python benchmarks/bench_scoring.py --seconds 30 --lm 1.7b --device cuda

Token ids come from the tiny tokenizers (same special-token layout), so prompt lengths differ a
little from the real tokenizer's; the cost per token does not.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

LM_SHAPES = {  # Qwen3 shapes of the 5 Hz planners (upstream_lm_tools.md §1.1), vocab with the codes
    "0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128),
    "1.7b": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128),
}


def random_lm(tiny, shape: str, device: str, dtype):
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from engine.planner.lm import PlannerLM

    config = Qwen3Config(vocab_size=217204, max_position_embeddings=40960, rope_theta=1_000_000.0,
                         rms_norm_eps=1e-6, tie_word_embeddings=True, pad_token_id=tiny.vocab.pad_id,
                         eos_token_id=tiny.vocab.eos_id, **LM_SHAPES[shape])
    with torch.device("meta"):
        model = Qwen3ForCausalLM(config)
    model = model.to_empty(device=device).to(dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.fill_(1.0) if name.endswith("norm.weight") else param.normal_(0.0, 0.02, generator=gen)
    model.tie_weights()
    return PlannerLM.from_components(model.eval(), tiny.tokenizer, max_duration=600)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="take length (default 5 s, the shortest)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lm", choices=tuple(LM_SHAPES), default="0.6b")
    parser.add_argument("--vae", action="store_true", help="also time the VAE encode of the take's audio")
    parser.add_argument("--full-decoder", action="store_true",
                        help="build all 24 decoder layers (default: the 7 the early-exit pass runs)")
    parser.add_argument("--part", choices=("dit", "lm", "both"), default="both",
                        help="measure only one side (each builds its own real-size model)")
    args = parser.parse_args()

    import torch
    from bench_generate import CAPTION, LYRICS, rss_gb

    from engine.models.tiny import write_tiny_checkpoints
    from engine.tasks.request import GenerationRequest

    dtype = torch.float32 if args.device == "cpu" else torch.bfloat16
    request = GenerationRequest(caption=CAPTION, lyrics=LYRICS, duration=args.seconds, seeds=(42,), bpm=92,
                                keyscale="D minor", timesignature="4", vocal_language="en")
    report: dict = {"device": args.device, "dtype": str(dtype).removeprefix("torch."), "seconds": args.seconds,
                    "threads": torch.get_num_threads()}
    stage: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_tiny_checkpoints(Path(tmp), seed=0)
        if args.part in ("dit", "both"):
            _dit_side(args, report, stage, Path(tmp), dtype, request)
        if args.part in ("lm", "both"):
            _lm_side(args, report, stage, Path(tmp), dtype, request)
    report["stage_s"] = {k: round(v, 2) for k, v in stage.items()}
    report["total_s"] = round(sum(stage.values()), 2)
    report["peak_rss_GB"] = round(rss_gb(), 2)
    print(json.dumps(report, indent=2))
    return 0


def _dit_side(args, report, stage, tmp, dtype, request) -> None:
    import bench_generate
    import numpy as np
    import torch
    from bench_generate import build_models, rss_gb

    from engine.scoring.dit_judge import decoder_inputs, judge_alignment
    from engine.tasks.pipeline import GenerationPipeline

    if not args.full_decoder:
        # The capture pass exits after layer 6 (upstream's deepest alignment head), so layers
        # 7-23 never run: building only 0-6 keeps the measured pass identical at 1/3 of the build.
        config = bench_generate.REAL_DIT_CONFIG
        config["num_hidden_layers"] = 7
        config["layer_types"] = config["layer_types"][:7]
        report["decoder_layers_built"] = 7
    t0 = time.perf_counter()
    models = build_models(args.device, dtype, tmp / "Qwen3-Embedding-0.6B")
    report["dit_build_s"] = round(time.perf_counter() - t0, 1)
    print(f"built the real-size DiT + text encoder + VAE in {report['dit_build_s']} s", file=sys.stderr, flush=True)
    pipe = GenerationPipeline(models, "turbo")
    frames = int(round(args.seconds * 25))
    latents = np.random.default_rng(0).standard_normal((frames, 64)).astype(np.float32)
    if args.vae:
        audio = torch.from_numpy(np.random.default_rng(1).uniform(-0.5, 0.5, (1, 2, frames * 1920))
                                 .astype(np.float32))
        t0 = time.perf_counter()
        models.vae.encode(audio, sample=False)
        stage["vae_encode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    inputs = decoder_inputs(pipe, request, 42, latents, steps=8)
    stage["conditions"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    judged = judge_alignment(pipe, inputs)
    stage["alignment_pass_and_lrc"] = time.perf_counter() - t0
    report["lyric_tokens"] = len(inputs.lyric_ids)
    report["lrc_lines"] = len(judged.lines)
    report["heads"] = judged.heads
    report["rss_dit_GB"] = round(rss_gb(), 2)
    print(f"DiT side: {json.dumps({k: round(v, 2) for k, v in stage.items()})}", file=sys.stderr, flush=True)
    del pipe, models, inputs
    gc.collect()


def _lm_side(args, report, stage, tmp, dtype, request) -> None:
    import numpy as np

    from engine.planner.lm import PlannerLM
    from engine.scoring.lm_judge import judge_quality
    from engine.tasks.request import request_to_dict

    frames = int(round(args.seconds * 25))
    tiny = PlannerLM.load(tmp, device="cpu")
    t0 = time.perf_counter()
    lm = random_lm(tiny, args.lm, args.device, dtype)
    report["lm_build_s"] = round(time.perf_counter() - t0, 1)
    meta = {"request": request_to_dict(request), "codes": [int(c) for c in
                                                          np.random.default_rng(2).integers(0, 64000, frames // 5)]}
    t0 = time.perf_counter()
    from engine.jobs.context import JobContext

    def show(p) -> None:
        print(f"  {p.stage} {p.step}/{p.total}  {p.elapsed_s:6.1f}s", file=sys.stderr, flush=True)

    quality = judge_quality(lm, meta, ctx=JobContext(on_progress=show))
    stage["lm_quality"] = time.perf_counter() - t0
    report["lm_shape"] = args.lm
    report["lm_fields_scored"] = sorted(quality.fields)


if __name__ == "__main__":
    sys.exit(main())
