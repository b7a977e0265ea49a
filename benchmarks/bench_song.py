"""Issue 17's headline figure: a whole 30 s turbo song (text encode + 8-step diffusion + VAE
decode, no LM) at REAL model size on this CPU, through the real `GenerationPipeline`, three ways,
INTERLEAVED in one run (the machine is shared: read the ratios of neighbours):

  before   what Legato did before issue 17, which the issue measured at parity with upstream
           (0.975 of upstream's diffusion, 0.97 of its same-tile VAE decode): cross-attention K/V
           recomputed every step, diffusers' channel-major residual stream, the stock diffusers
           VAE decode (weight norm recomputed, eager Snake) in upstream's CPU tiling of 256 latent
           frames with a 64-frame overlap. This row stands in for upstream on this machine.
  exact    Legato now, default settings: K/V reused, token-major stream, folded/channels-last VAE
           with the fused Snake in 512-frame tiles with a 16-frame overlap.
  fast     `exact` with the opt-in "int8-dynamic" DiT decoder (engine/runtime/int8_dynamic.py).

Quality per row, against `exact` (same seed, same inputs): the decoded audio's relative waveform
error and log-STFT magnitude distance (bench_dit_fast.log_stft_distance). `before` must match
`exact` to float rounding (the exact path changes no maths); `fast` shows what INT8 costs.

All three share one set of weights: the fast DiT's decoder is a second transformer whose tensors
ARE the exact one's (load_state_dict(assign=True)) with its Linears swapped for int8 copies, so the
run needs about 16 GB, not 26 GB.

    .venv/bin/python benchmarks/bench_song.py --repeats 2
    .venv/bin/python benchmarks/bench_song.py --layers 2 --seconds 10 --repeats 1   # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dit_fast import log_stft_distance  # noqa: E402
from bench_generate import CAPTION, LYRICS, REAL_DIT_CONFIG, build_models, real_vae_model  # noqa: E402

UPSTREAM_CPU_TILING = (256, 64)  # latent frames per decode tile, overlap (issue 17's measurement)
VARIANTS = ("before", "exact", "fast")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _fast_dit(dit):
    """A second AceStepDiT whose decoder shares `dit`'s tensors, its Linears int8-dynamic."""
    import torch

    from engine.models.dit import AceStepDiT
    from engine.models.dit_loader import _build_modules
    from engine.tasks.runtime_setup import quantize_dit

    transformer = _build_modules(dit.config)["transformer"]  # on meta: no second fp32 copy
    transformer.load_state_dict(dit.transformer.state_dict(), assign=True)
    for name, buffer in dit.transformer.named_buffers():  # non-persistent ones are not in the state dict
        owner, _, leaf = name.rpartition(".")
        transformer.get_submodule(owner).register_buffer(leaf, buffer, persistent=False)
    fast = AceStepDiT(dit.config, transformer, dit.condition_encoder, dit.audio_tokenizer,
                      dit.audio_token_detokenizer, silence_latent=dit.silence_latent).eval()
    quantize_dit(fast, "int8-dynamic")
    assert not any(t.is_meta for t in list(fast.parameters()) + list(fast.buffers()))
    return fast.to(torch.float32)


def _stock_vae(tiling):
    """The stock diffusers decode (AudioVAE(fast=False)) forced to `tiling` (chunk, overlap)."""
    from engine.models.vae import AudioVAE, Tiling

    class UpstreamTiledVAE(AudioVAE):
        def decode(self, latents, tiling_=None, on_tile=None):  # the pipeline passes no tiling
            return super().decode(latents, Tiling(*tiling), on_tile)

    return UpstreamTiledVAE(real_vae_model(seed=1), fast=False)


def _use_before_dit(dit, before: bool) -> None:
    """Toggle `dit` between the issue-17 'before' loop and today's (same weights)."""
    from engine.models.dit_layout import install_token_major_stream

    dit.token_major_hook.remove()
    if before:
        # engine/tasks/diffusion.py enters `dit.cross_attention_scope` when there is one: without
        # it every step recomputes the cross-attention K/V, as before issue 17.
        object.__setattr__(dit, "cross_attention_scope", None)
    else:
        dit.__dict__.pop("cross_attention_scope", None)
        dit.token_major_hook = install_token_major_stream(dit.transformer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--layers", type=int, default=24, help="DiT decoder layers (24 = real size)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()

    import bench_generate
    import torch

    from engine.models.tiny import write_tiny_checkpoints
    from engine.models.vae import AudioVAE
    from engine.tasks.pipeline import GenerationPipeline
    from engine.tasks.request import GenerationRequest

    torch.set_num_threads(args.threads)
    variants = [v.strip() for v in args.variants.split(",")]
    bench_generate.REAL_DIT_CONFIG = dict(REAL_DIT_CONFIG, num_hidden_layers=args.layers,
                                          layer_types=REAL_DIT_CONFIG["layer_types"][: args.layers])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_tiny_checkpoints(Path(tmp), seed=0)  # its tokenizer only (token ids < the real vocab)
        torch.manual_seed(0)
        exact_models = build_models("cpu", torch.float32, Path(tmp) / "Qwen3-Embedding-0.6B")
    # Both VAEs from the same seeded fill (the same weight_g / weight_v): ours folds them at
    # construction, the stock one recomputes the weight norm at every call.
    exact_models = dataclasses.replace(exact_models, vae=AudioVAE(real_vae_model(seed=1)))
    dit = exact_models.dit
    models = {"exact": exact_models}
    if "before" in variants:
        models["before"] = dataclasses.replace(exact_models, vae=_stock_vae(UPSTREAM_CPU_TILING))
    if "fast" in variants:
        models["fast"] = dataclasses.replace(exact_models, dit=_fast_dit(dit))
    print(f"built in {time.perf_counter() - t0:.0f} s: DiT {args.layers} layers, "
          f"{sum(p.numel() for p in dit.parameters()) / 1e9:.2f} B params; {args.seconds:.0f} s song, "
          f"{args.threads} threads, load {_load()}")
    request = GenerationRequest(caption=CAPTION, lyrics=LYRICS, duration=args.seconds, seeds=(42,), bpm=92,
                                keyscale="D minor", timesignature="4", vocal_language="en")
    rows = {v: [] for v in variants}
    audio = {}
    for repeat in range(args.repeats):
        for name in variants:
            _use_before_dit(dit, name == "before")
            pipe = GenerationPipeline(models[name], "turbo")
            t = time.perf_counter()
            result = pipe(request)
            total = time.perf_counter() - t
            timings = dict(result.timings_s)
            rows[name].append({"total": total, **{k: timings.get(k, 0.0) for k in
                                                   ("text_encode", "diffusion", "vae_decode")}})
            audio[name] = result.takes[0].audio
            print(f"  run {repeat + 1} {name:6s} total {total:6.1f} s  (text {timings.get('text_encode', 0):.1f}, "
                  f"diffusion {timings.get('diffusion', 0):.1f}, decode {timings.get('vae_decode', 0):.1f})  "
                  f"load {_load()}", flush=True)
    _use_before_dit(dit, False)
    ref = torch.from_numpy(audio["exact"].copy())
    quality = {}
    for name in variants:
        out = torch.from_numpy(audio[name].copy())
        quality[name] = (float((out - ref).norm() / ref.norm()), log_stft_distance(out[None], ref[None]))
    # Run 1 of each variant meets this process's new shapes (oneDNN primitives, the fused Snake's
    # first compile); later runs are what a second take of the same length costs.
    _table(f"first run of each (new shapes), {args.seconds:.0f} s turbo song, DiT {args.layers} layers",
           {v: r[:1] for v, r in rows.items()}, quality)
    if args.repeats > 1:
        _table(f"median of runs 2..{args.repeats} (warm shapes)", {v: r[1:] for v, r in rows.items()}, quality)
    print(f"load average at end: {_load()}")
    return 0


def _table(title: str, rows: dict[str, list[dict]], quality: dict[str, tuple[float, float]]) -> None:
    """One table: per variant the median total and stage seconds, their ratios to `before` (the
    stand-in for upstream), and the audio's distance from `exact`."""
    print(f"\n{title}; ratios against `before` (= upstream's speed on this CPU):")
    print(f"{'variant':<8}{'total s':>9}{'diffusion s':>13}{'decode s':>10}{'song':>7}{'diff.':>7}{'dec.':>7}"
          f"{'wave err':>10}{'log-STFT':>10}")
    med = {v: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for v, runs in rows.items()}
    base = med.get("before")
    for name, m in med.items():
        def ratio(k: str, m=m) -> str:
            return f"{m[k] / base[k]:>7.2f}" if base else f"{'-':>7}"

        err, lsd = quality[name]
        print(f"{name:<8}{m['total']:>9.1f}{m['diffusion']:>13.1f}{m['vae_decode']:>10.1f}"
              f"{ratio('total')}{ratio('diffusion')}{ratio('vae_decode')}{err * 100:>9.2f}%{lsd:>10.3f}")


if __name__ == "__main__":
    sys.exit(main())
