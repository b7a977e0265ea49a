"""Benchmark: a 30 s turbo text2music generation at REAL model size (random weights).

Builds the real-size DiT (2.4 B parameters, upstream_dit.md §1.2), text encoder (Qwen3 0.6 B,
§1.4) and Oobleck VAE (§1.3) with random weights in memory (no download), then runs the real
`GenerationPipeline` and reports time per stage (text encode, DiT diffusion, VAE decode) and
peak memory. The LM stage is not measured (thinking off). The tokenizer is the tiny
checkpoint's (token ids stay below the real vocab), so caption/lyric token counts differ
slightly from the real tokenizer's.

Modes:
  --mode full         the whole 8-step generation through GenerationPipeline.__call__
  --mode extrapolate  text encode + ONE DiT step + VAE decode, measured; the 8-step total is
                      extrapolated (for CPUs where a full run takes > 10 minutes)

Real size needs ~13 GB RAM in float32: on the shared dev machine run it under the lock:

    flock /tmp/legato-heavy.lock .venv/bin/python benchmarks/bench_generate.py --mode extrapolate

On CUDA (`--device cuda`, bf16 DiT/text encoder by default) the same script measures
torch.cuda.max_memory_allocated per stage.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

REAL_DIT_CONFIG = {  # upstream_dit.md §1.2 (2B turbo)
    "model_type": "acestep", "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 24,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6,
    "rope_theta": 1000000, "sliding_window": 128, "in_channels": 192, "audio_acoustic_hidden_dim": 64,
    "patch_size": 2, "text_hidden_dim": 1024, "timbre_hidden_dim": 64, "timbre_fix_frame": 750,
    "num_lyric_encoder_hidden_layers": 8, "num_timbre_encoder_hidden_layers": 4,
    "num_attention_pooler_hidden_layers": 2, "pool_window_size": 5, "fsq_dim": 2048,
    "fsq_input_levels": [8, 8, 8, 5, 5, 5], "fsq_input_num_quantizers": 1, "is_turbo": True,
    "layer_types": ["sliding_attention", "full_attention"] * 12,
}
REAL_VAE_CONFIG = {  # upstream_dit.md §1.3
    "audio_channels": 2, "channel_multiples": [1, 2, 4, 8, 16], "decoder_channels": 128,
    "decoder_input_channels": 64, "downsampling_ratios": [2, 4, 4, 6, 10], "encoder_hidden_size": 128,
    "sampling_rate": 48000,
}
REAL_TEXT_CONFIG = dict(hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                        head_dim=128, intermediate_size=3072, vocab_size=151669, rope_theta=1e6,
                        rms_norm_eps=1e-6, max_position_embeddings=32768)
CAPTION = "melancholic indie folk, fingerpicked acoustic guitar, soft female vocals, warm tape saturation"
LYRICS = "[Verse]\n" + "\n".join(["walking down the river where the willows bend"] * 8) + "\n[Chorus]\n" + \
    "\n".join(["hold on, hold on, the night is young"] * 4)


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def random_fill(module, dtype, device) -> None:
    """Give every meta parameter real storage, normal(0, 1/sqrt(fan_in)) (norm weights 1).

    Buffers (e.g. the FSQ level tables, RoPE frequencies) were built for real and are kept.
    """
    import torch

    with torch.no_grad():
        for mod_name, mod in module.named_modules():
            for name, param in list(mod.named_parameters(recurse=False)):
                full = f"{mod_name}.{name}"
                data = torch.empty(param.shape, dtype=dtype, device=device)
                if param.ndim == 1 and "norm" in full:
                    data.fill_(1.0)
                elif param.ndim == 1:
                    data.normal_(0.0, 0.02)
                else:
                    data.normal_(0.0, param[0].numel() ** -0.5)
                setattr(mod, name, torch.nn.Parameter(data, requires_grad=False))
    module.to(device)


def real_vae_model(dtype=None, device: str = "cpu", seed: int | None = None):
    """The real-size Oobleck VAE (REAL_VAE_CONFIG) built on meta, then random-filled and frozen
    as the loader leaves it (`seed`: torch.manual_seed before the fill). -> AutoencoderOobleck."""
    import torch
    from diffusers import AutoencoderOobleck

    from engine.models.empty_init import parameters_on_meta

    with parameters_on_meta():
        model = AutoencoderOobleck(**REAL_VAE_CONFIG)
    if seed is not None:
        torch.manual_seed(seed)
    random_fill(model, dtype or torch.float32, device)
    return model.eval()


def count_flops(fn) -> float:
    """FLOPs torch's FlopCounterMode counts while `fn()` runs."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def build_models(device: str, dtype, tokenizer_dir: Path):
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3Model

    from engine.models.acestep_config import AceStepConfig
    from engine.models.dit import AceStepDiT
    from engine.models.dit_loader import _build_modules
    from engine.models.empty_init import parameters_on_meta
    from engine.models.text_encoder import TextEncoder
    from engine.models.vae import AudioVAE
    from engine.tasks.components import GenerationModels

    config = AceStepConfig.from_dict(REAL_DIT_CONFIG, source="REAL_DIT_CONFIG")
    modules = _build_modules(config)  # parameters on meta: no 10 GB of random init
    for module in modules.values():
        random_fill(module, dtype, device)
    silence = torch.randn(1, 15000, 64, generator=torch.Generator().manual_seed(0)).to(device, dtype)
    dit = AceStepDiT(config, silence_latent=silence, **modules).eval()
    with parameters_on_meta():
        text_model = Qwen3Model(Qwen3Config(**REAL_TEXT_CONFIG))
    random_fill(text_model, dtype, device)
    text = TextEncoder(text_model.eval(), AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True))
    vae = AudioVAE(real_vae_model(torch.float32 if device == "cpu" else dtype, device))
    return GenerationModels(dit=dit, text=text, vae=vae, identities=(), device=torch.device(device), dtype=dtype)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("full", "extrapolate"), default="extrapolate")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="float32 | bfloat16 (default: fp32 on CPU, bf16 on CUDA)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import torch

    from engine.jobs.context import JobContext
    from engine.models.tiny import write_tiny_checkpoints
    from engine.tasks.pipeline import GenerationPipeline
    from engine.tasks.request import GenerationRequest

    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.float32 if args.device == "cpu" else torch.bfloat16)
    cuda = args.device.startswith("cuda")
    report: dict = {"device": args.device, "dtype": str(dtype).removeprefix("torch."), "mode": args.mode,
                    "seconds_of_audio": args.seconds, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        write_tiny_checkpoints(Path(tmp), seed=0)
        t0 = time.perf_counter()
        models = build_models(args.device, dtype, Path(tmp) / "Qwen3-Embedding-0.6B")
    report["build_s"] = round(time.perf_counter() - t0, 1)
    report["params_M"] = {
        "dit": round(sum(p.numel() for p in models.dit.parameters()) / 1e6, 1),
        "text_encoder": round(sum(p.numel() for p in models.text.model.parameters()) / 1e6, 1),
        "vae": round(sum(p.numel() for p in models.vae.model.parameters()) / 1e6, 1),
    }
    report["rss_after_build_GB"] = round(rss_gb(), 2)
    pipe = GenerationPipeline(models, "turbo")
    request = GenerationRequest(caption=CAPTION, lyrics=LYRICS, duration=args.seconds, seeds=(42,), bpm=92,
                                keyscale="D minor", timesignature="4", vocal_language="en")
    stage_peaks: dict[str, float] = {}

    def on_progress(p):
        if cuda:
            stage_peaks[p.stage] = max(stage_peaks.get(p.stage, 0.0), torch.cuda.max_memory_allocated() / 1024**3)
        print(f"  {p.stage} {p.step}/{p.total}  {p.elapsed_s:6.1f}s", file=sys.stderr, flush=True)

    if args.mode == "full":
        result = pipe(request, JobContext(on_progress=on_progress))
        timings = dict(result.timings_s)
        report["stage_s"] = {k: round(v, 2) for k, v in timings.items()}
        report["audio_shape"] = list(result.takes[0].audio.shape)
    else:
        from engine.tasks.conditioning import plan_task

        plan = plan_task(request, None)
        t0 = time.perf_counter()
        prompt = pipe.encode_prompt(plan, 1)
        text_s = time.perf_counter() - t0
        schedule = pipe.schedule_for(request)
        inputs, schedule = pipe.diffusion_inputs(plan, request, (42,), prompt, schedule)
        encoded = models.dit.encode_conditions(
            inputs.text.text_hidden_states, inputs.text.text_attention_mask, inputs.text.lyric_hidden_states,
            inputs.text.lyric_attention_mask, inputs.refer_latents_packed, inputs.refer_order)
        context = torch.cat([inputs.src_latents.to(args.device, dtype),
                             inputs.chunk_masks[..., None].expand(-1, -1, 64).to(args.device, dtype)], dim=-1)
        noise = pipe.prepare_latents(plan, (42,)).to(args.device, dtype)
        with torch.no_grad():
            t0 = time.perf_counter()
            v = models.dit.denoise(noise, 1.0, 1.0, context, encoded.encoder_hidden_states)
            if cuda:
                torch.cuda.synchronize()
            step_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            audio = models.vae.decode((noise - v).float())
            decode_s = time.perf_counter() - t0
        steps = len(schedule) - 1
        report["stage_s"] = {"text_encode": round(text_s, 2), "dit_one_step": round(step_s, 2),
                             "vae_decode": round(decode_s, 2)}
        report["extrapolated_total_s"] = round(text_s + steps * step_s + decode_s, 1)
        report["extrapolation"] = f"text_encode + {steps} x dit_one_step + vae_decode (turbo, no CFG)"
        report["audio_shape"] = list(audio.shape)
        report["condition_tokens"] = int(encoded.encoder_hidden_states.shape[1])
    report["peak_rss_GB"] = round(rss_gb(), 2)
    if cuda:
        report["cuda_peak_GB_by_stage"] = {k: round(v, 2) for k, v in stage_peaks.items()}
        report["cuda_peak_GB"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
