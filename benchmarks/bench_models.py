"""Benchmark at the REAL model size on this machine: one DiT forward and one VAE decode of 30 s.

Weights are random (from the real config values, upstream_dit.md §1.2/§1.3); only speed and memory
are measured. Each (part, dtype) runs in its own subprocess so the peak RSS is its own.

Real size needs ~7 GB (fp32 DiT decoder) of RAM; on the shared dev machine run it under the lock:

    flock /tmp/legato-heavy.lock .venv/bin/python benchmarks/bench_models.py

Options: --parts dit,vae[,dit_xl]  --dtypes fp32,bf16  --seconds 30  --threads N
(dit_xl: the real-size XL 4B decoder shape, ~14 GB in fp32; `--shapes` prints the parameter
counts of both shapes without building them.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

REAL_DIT_CONFIG = {  # upstream_dit.md §1.2 (2B class: turbo/base/sft)
    "model_type": "acestep",
    "hidden_size": 2048,
    "intermediate_size": 6144,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000,
    "sliding_window": 128,
    "in_channels": 192,
    "audio_acoustic_hidden_dim": 64,
    "patch_size": 2,
    "text_hidden_dim": 1024,
    "timbre_hidden_dim": 64,
    "timbre_fix_frame": 750,
    "num_lyric_encoder_hidden_layers": 8,
    "num_timbre_encoder_hidden_layers": 4,
    "num_attention_pooler_hidden_layers": 2,
    "pool_window_size": 5,
    "fsq_dim": 2048,
    "fsq_input_levels": [8, 8, 8, 5, 5, 5],
    "fsq_input_num_quantizers": 1,
    "is_turbo": True,
    "layer_types": ["sliding_attention", "full_attention"] * 12,
}
# XL (4B class, upstream_dit.md §1.2): a wider decoder; the condition encoder, tokenizer and
# detokenizer stay 2048 wide (`encoder_*`), so fsq_dim and the condition states are 2048.
REAL_XL_DIT_CONFIG = REAL_DIT_CONFIG | {
    "hidden_size": 2560,
    "intermediate_size": 9728,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "encoder_hidden_size": 2048,
    "encoder_intermediate_size": 6144,
    "encoder_num_attention_heads": 16,
    "encoder_num_key_value_heads": 8,
    "layer_types": ["sliding_attention", "full_attention"] * 16,
    "model_version": "xl_turbo",
}
REAL_VAE_CONFIG = {  # upstream_dit.md §1.3
    "audio_channels": 2,
    "channel_multiples": [1, 2, 4, 8, 16],
    "decoder_channels": 128,
    "decoder_input_channels": 64,
    "downsampling_ratios": [2, 4, 4, 6, 10],
    "encoder_hidden_size": 128,
    "sampling_rate": 48000,
}
CONDITION_TOKENS = 200  # ~100 lyric tokens + 1 timbre + ~100 caption tokens


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def _random_fill(module, dtype) -> None:
    """Materialise meta parameters cheaply: empty storage, then normal_(0, 1/sqrt(fan_in)) in place."""
    import torch

    module.to(dtype)  # still on meta: nothing allocated, so the peak RSS is the target dtype's
    module.to_empty(device="cpu")
    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.ndim == 1 and "norm" in name:
                param.fill_(1.0)
            elif param.ndim == 1:
                param.normal_(0.0, 0.02)
            else:
                fan_in = param[0].numel() if param.ndim > 1 else param.shape[-1]
                param.normal_(0.0, fan_in**-0.5)


def bench_dit(dtype_name: str, seconds: float, xl: bool = False) -> dict:
    import torch
    from diffusers import AceStepTransformer1DModel

    from engine.models.acestep_config import AceStepConfig
    from engine.models.empty_init import parameters_on_meta
    from engine.runtime.device import parse_dtype

    dtype = parse_dtype(dtype_name)
    raw = REAL_XL_DIT_CONFIG if xl else REAL_DIT_CONFIG
    config = AceStepConfig.from_dict(raw, source="REAL_XL_DIT_CONFIG" if xl else "REAL_DIT_CONFIG")
    t0 = time.perf_counter()
    with parameters_on_meta():
        decoder = AceStepTransformer1DModel(**config.transformer_kwargs())
    _random_fill(decoder, dtype)
    decoder.eval()
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in decoder.parameters())
    frames = int(seconds * 25)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, frames, 64, generator=g).to(dtype)
    ctx = torch.randn(1, frames, 128, generator=g).to(dtype)
    enc = torch.randn(1, CONDITION_TOKENS, config.encoder_hidden_size, generator=g).to(dtype)
    t = torch.tensor([0.5], dtype=dtype)
    with torch.no_grad():
        t1 = time.perf_counter()
        out = decoder(
            hidden_states=x,
            timestep=t,
            timestep_r=t,
            encoder_hidden_states=enc,
            context_latents=ctx,
            return_dict=False,
        )[0]
        forward_s = time.perf_counter() - t1
    assert out.shape == (1, frames, 64) and torch.isfinite(out.float()).all()
    return {
        "part": "dit_xl_forward" if xl else "dit_forward",
        "dtype": dtype_name,
        "frames": frames,
        "params_M": round(params / 1e6, 1),
        "build_s": round(build_s, 2),
        "seconds": round(forward_s, 2),
        "peak_rss_GB": round(_peak_rss_gb(), 2),
    }


def decoder_shape(raw: dict) -> dict:
    """Parameter counts (millions) of the real-size decoder and condition encoder, built on the
    meta device (no memory), and the widths that matter."""
    from diffusers import AceStepTransformer1DModel
    from diffusers.pipelines.ace_step.modeling_ace_step import AceStepConditionEncoder

    from engine.models.acestep_config import AceStepConfig
    from engine.models.empty_init import parameters_on_meta

    config = AceStepConfig.from_dict(raw, source="bench config")
    with parameters_on_meta():
        decoder = AceStepTransformer1DModel(**config.transformer_kwargs())
        encoder = AceStepConditionEncoder(**config.condition_encoder_kwargs())
    return {
        "decoder_params_M": round(sum(p.numel() for p in decoder.parameters()) / 1e6, 1),
        "condition_encoder_params_M": round(sum(p.numel() for p in encoder.parameters()) / 1e6, 1),
        "hidden_size": config.hidden_size,
        "encoder_hidden_size": config.encoder_hidden_size,
        "layers": raw["num_hidden_layers"],
    }


def bench_vae(dtype_name: str, seconds: float) -> dict:
    import torch
    from diffusers import AutoencoderOobleck

    from engine.models.vae import AudioVAE
    from engine.runtime.device import parse_dtype

    dtype = parse_dtype(dtype_name)
    t0 = time.perf_counter()
    model = AutoencoderOobleck(**REAL_VAE_CONFIG).to(dtype).eval()
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    vae = AudioVAE(model)
    frames = int(seconds * 25)
    z = torch.randn(1, frames, 64, generator=torch.Generator().manual_seed(0))
    t1 = time.perf_counter()
    audio = vae.decode(z)  # upstream tiling: 512-frame chunks, 64-frame overlap
    decode_s = time.perf_counter() - t1
    assert audio.shape == (1, 2, frames * 1920)
    return {
        "part": "vae_decode",
        "dtype": dtype_name,
        "frames": frames,
        "params_M": round(params / 1e6, 1),
        "build_s": round(build_s, 2),
        "seconds": round(decode_s, 2),
        "peak_rss_GB": round(_peak_rss_gb(), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="dit,vae")
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--shapes", action="store_true", help="print the 2B and XL decoder sizes and exit")
    args = parser.parse_args()
    if args.shapes:
        for name, raw in (("2B", REAL_DIT_CONFIG), ("XL", REAL_XL_DIT_CONFIG)):
            print(json.dumps({"model": name, **decoder_shape(raw)}))
        return 0

    if args.child:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        part, dtype = args.child.split(":")
        if part == "dit_xl":  # ~14 GB in fp32: the XL decoder (see REAL_XL_DIT_CONFIG)
            result = bench_dit(dtype, args.seconds, xl=True)
        else:
            result = (bench_dit if part == "dit" else bench_vae)(dtype, args.seconds)
        result["threads"] = torch.get_num_threads()
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    env = dict(os.environ, PYTHONPATH=str(REPO))
    for part in args.parts.split(","):
        for dtype in args.dtypes.split(","):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                f"{part}:{dtype}",
                "--seconds",
                str(args.seconds),
                "--threads",
                str(args.threads),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not lines:
                print(f"{part} {dtype}: FAILED (rc={proc.returncode})\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(lines[-1][7:])
            print(
                f"{r['part']:<12} {r['dtype']:<5} {args.seconds:.0f}s audio ({r['frames']} frames) "
                f"params={r['params_M']}M build={r['build_s']}s time={r['seconds']}s "
                f"peak_rss={r['peak_rss_GB']}GB threads={r['threads']}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
