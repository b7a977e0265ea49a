"""Issue 17 item 4: a 10 s repaint inside a 4-minute song, bounded context vs a full-song render.

Bounded (engine.studio.regions, context="bounded", the default): the DiT denoises the window
± `--margin` s (10 s + 2 x 10 s = 750 frames instead of 6000), the source latents are the
take's own (no VAE encode), and the VAE decodes only the window + DECODE_MARGIN_FRAMES (+ the
splice crossfade) each side; the rest of the song is the untouched audio. The figure to beat:
bounded <= 30 % of a full-song render (DiT over the whole song + VAE decode of the whole song).

Parts (`--parts`, default all; each fits in a couple of minutes on the shared 2-core CPU):
  flops  exact FLOP counts of the REAL-SIZE turbo DiT decoder (24 layers, 2048 wide) forward at
         both lengths and of the real VAE decode, counted on the meta device (nothing is
         computed), and the expected render ratio for 8 steps
  dit    measured: real-WIDTH DiT decoder with `--layers` of the 24 (one sliding + one full
         attention layer per pair, as the real stack alternates), one forward at 6000 vs 750
         frames, interleaved, `--repeats` each; scaled x 24 / layers for the real depth
  vae    measured: real-size VAE decode of the bounded span vs one 512-frame CPU tile; the
         full-song decode is that tile's time x the frames the tiler decodes for 6000 frames
         (tiles are independent and cost the same per frame)
  tiny   measured end to end on the tiny checkpoints through the product path (studio
         repaint_region -> GenerationPipeline, 8 turbo steps, decode, splice), bounded vs full
         in one interleaved run, plus how the bounded result differs from the full-context
         result: relative latent error inside the window with the SAME noise (the context
         crop alone), the same for two seeds of bounded (the yardstick), log-spectral distance
         of the decoded window, and that outside the window the audio is bit-identical.
         The song is a tone mix with the stand-in encoder's latents as its take latents
         (tests/fast_encoder.py), so nothing spends minutes in the tiny VAE encoder.

    python benchmarks/bench_bounded_repaint.py --parts flops,dit,vae,tiny
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_generate import count_flops, real_vae_model  # noqa: E402

SR, HOP = 48_000, 1920
SONG_S, WINDOW_S = 240.0, 10.0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _frames(args) -> tuple[int, int, int]:
    """(full frames, bounded frames, bounded decode frames)."""
    from engine.tasks.regions import DECODE_MARGIN_FRAMES

    full = int(SONG_S * 25)
    bounded = int((WINDOW_S + 2 * args.margin) * 25)
    fade = 1  # balanced, strength 0.5: a 25 ms splice crossfade = 1 frame each side
    decoded = int(WINDOW_S * 25) + 2 * (DECODE_MARGIN_FRAMES + 1 + fade)
    return full, bounded, decoded


def _full_decode_frames(frames: int) -> int:
    """Latent frames the CPU tiler runs through the decoder for `frames` (overlaps included)."""
    from engine.models.vae import default_decode_tiling

    tiling = default_decode_tiling(__import__("torch").device("cpu")).normalised()
    if frames <= tiling.chunk:
        return frames
    stride, total = tiling.chunk - 2 * tiling.overlap, 0
    for core in range(0, frames, stride):
        end = min(core + stride, frames)
        total += min(frames, end + tiling.overlap) - max(0, core - tiling.overlap)
    return total


def _dit(layers: int, device: str = "cpu"):
    import torch
    from bench_generate import REAL_DIT_CONFIG, random_fill

    from engine.models.acestep_config import AceStepConfig
    from engine.models.dit import AceStepDiT
    from engine.models.dit_loader import _build_modules

    raw = dict(REAL_DIT_CONFIG, num_hidden_layers=layers, layer_types=REAL_DIT_CONFIG["layer_types"][:layers],
               num_lyric_encoder_hidden_layers=1, num_timbre_encoder_hidden_layers=1)
    config = AceStepConfig.from_dict(raw, source="bench")
    modules = _build_modules(config)  # parameters on meta
    if device != "meta":
        for module in modules.values():
            random_fill(module, torch.float32, device)
    silence = torch.zeros(1, 15000, 64, device=device)
    return AceStepDiT(config, silence_latent=silence, **modules).eval()


def _forward(dit, frames: int, cond_len: int, device: str = "cpu"):
    import torch

    g = torch.Generator().manual_seed(frames)
    x = torch.randn(1, frames, 64, generator=g).to(device)
    ctx = torch.randn(1, frames, 128, generator=g).to(device)
    enc = torch.randn(1, cond_len, 2048, generator=g).to(device)

    def run():
        with torch.no_grad():
            return dit.denoise(x, 0.5, 0.5, ctx, enc)

    return run


# --- flops --------------------------------------------------------------------------------------

def bench_flops(args) -> dict[str, float]:
    import torch
    from bench_generate import REAL_VAE_CONFIG
    from diffusers import AutoencoderOobleck

    from engine.models.empty_init import parameters_on_meta

    full, bounded, decoded = _frames(args)
    dit = _dit(24, "meta")
    f_full = count_flops(_forward(dit, full, args.cond, "meta"))
    f_bnd = count_flops(_forward(dit, bounded, args.cond, "meta"))
    with parameters_on_meta():
        vae = AutoencoderOobleck(**REAL_VAE_CONFIG).eval()
    with torch.no_grad():
        per_frame = count_flops(lambda: vae.decode(torch.zeros(1, 64, 100, device="meta"))) / 100
    v_full, v_bnd = per_frame * _full_decode_frames(full), per_frame * decoded
    steps = 8
    total_full, total_bnd = steps * f_full + v_full, steps * f_bnd + v_bnd
    print(f"FLOPs, real-size turbo DiT decoder forward (24 layers, {args.cond} condition rows): "
          f"{full} frames {f_full / 1e12:.2f} TFLOP, {bounded} frames {f_bnd / 1e12:.3f} TFLOP "
          f"(ratio {f_bnd / f_full:.3f})")
    print(f"FLOPs, real VAE decode: {per_frame / 1e9:.1f} GFLOP per frame; full song "
          f"{_full_decode_frames(full)} frames incl. tile overlaps {v_full / 1e12:.1f} TFLOP, bounded "
          f"{decoded} frames {v_bnd / 1e12:.2f} TFLOP (ratio {v_bnd / v_full:.3f})")
    print(f"FLOPs, 8-step render (DiT + VAE decode): full {total_full / 1e12:.1f} TFLOP, bounded "
          f"{total_bnd / 1e12:.2f} TFLOP -> expected ratio {total_bnd / total_full:.3f}")
    return {"dit_full": f_full, "dit_bounded": f_bnd, "vae_full": v_full, "vae_bounded": v_bnd}


# --- dit ----------------------------------------------------------------------------------------

def bench_dit(args) -> dict[str, float]:
    import torch

    full, bounded, _ = _frames(args)
    dit = _dit(args.layers)
    runs = {"full": _forward(dit, full, args.cond), "bounded": _forward(dit, bounded, args.cond)}
    runs["bounded"]()  # warm-up
    times = {"full": [], "bounded": []}
    for _ in range(args.repeats):
        for name in ("full", "bounded"):
            t = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t)
    a, b = statistics.median(times["full"]), statistics.median(times["bounded"])
    scale = 24 / args.layers
    print(f"DiT forward, real width, {args.layers} of 24 layers, {torch.get_num_threads()} threads, load {_load()}: "
          f"{full} frames {a:.2f} s, {bounded} frames {b:.2f} s, ratio {b / a:.3f} "
          f"(x{scale:g} for 24 layers: {a * scale:.1f} s vs {b * scale:.1f} s per step)")
    return {"full": a * scale, "bounded": b * scale}


# --- vae ----------------------------------------------------------------------------------------

def bench_vae(args) -> dict[str, float]:
    import torch

    from engine.models.vae import AudioVAE, default_decode_tiling

    full, _, decoded = _frames(args)
    vae = AudioVAE(real_vae_model(seed=0))
    tile = default_decode_tiling(torch.device("cpu")).normalised().chunk
    g = torch.Generator().manual_seed(2)
    z_tile, z_bnd = torch.randn(1, tile, 64, generator=g), torch.randn(1, decoded, 64, generator=g)
    times = {"tile": [], "bounded": []}
    for _ in range(args.vae_repeats):
        for name, z in (("tile", z_tile), ("bounded", z_bnd)):
            t = time.perf_counter()
            with torch.no_grad():
                vae._decode_window(z)
            times[name].append(time.perf_counter() - t)
    t_tile, t_bnd = statistics.median(times["tile"]), statistics.median(times["bounded"])
    frames_full = _full_decode_frames(full)
    t_full = t_tile * frames_full / tile
    print(f"VAE decode, real size, load {_load()}: one {tile}-frame tile {t_tile:.1f} s; bounded span {decoded} "
          f"frames {t_bnd:.1f} s (measured); full song {frames_full} frames incl. overlaps -> {t_full:.0f} s "
          f"(from the tile); ratio {t_bnd / t_full:.3f}")
    return {"full": t_full, "bounded": t_bnd}


# --- tiny ---------------------------------------------------------------------------------------

def _log_spectral_distance(a, b) -> float:
    """RMS difference of 20·log10 |STFT| (dB) between two [2, S] signals, n_fft 2048, hop 512."""
    import numpy as np
    import torch

    def spec(x):
        s = torch.stft(torch.from_numpy(np.array(x)), 2048, 512, window=torch.hann_window(2048), return_complex=True)
        return 20 * torch.log10(s.abs() + 1e-5)

    return float(((spec(a) - spec(b)) ** 2).mean().sqrt())


def bench_tiny(args) -> None:
    import numpy as np
    import torch

    from engine.jobs import JobContext
    from engine.models.tiny import write_tiny_checkpoints
    from engine.project import Project
    from engine.project.commands import AddClip, AddTrack
    from engine.studio import repaint_region
    from engine.studio.latent_store import default_store
    from engine.tasks.components import model_identity
    from engine.tasks.pipeline import GenerationPipeline
    from engine.tasks.source_latents import vae_identity
    from tests.fast_encoder import stand_in_latents

    root = Path(tempfile.mkdtemp(prefix="legato-bench-bounded-"))
    write_tiny_checkpoints(root)
    t = np.arange(int(SONG_S * SR)) / SR
    left = sum(0.15 * np.sin(2 * np.pi * f * t) * (1 + 0.5 * np.sin(2 * np.pi * t / p))
               for f, p in ((110, 7.0), (220, 11.0), (330, 5.0), (495, 13.0)))
    song = np.stack([left, np.roll(left, 30)]).astype(np.float32)
    project = Project("Bench")
    asset = project.assets.add(song, "song")
    project.history.push(AddTrack("Song", track_id="s"))
    project.history.push(AddClip("s", asset.id, 0, clip_id="c"))
    ident = model_identity(root / "vae")
    channels = json.loads((root / "vae" / "config.json").read_text())["decoder_input_channels"]
    latents = stand_in_latents(torch.from_numpy(song)[None], channels)[0].numpy()  # [6000, C]
    default_store().put(asset.id, latents, vae=vae_identity(ident.name, dict(ident.weight_sha256)))
    w0 = int(SONG_S / 2 * SR) // HOP * HOP  # a 10 s window in the middle
    w1 = w0 + int(WINDOW_S * SR)
    common = dict(checkpoints=root, device="cpu", caption="bench", seed=7)
    bounded = repaint_region(project, "c", w0, w1, context_s=args.margin, **common).job.request
    full = repaint_region(project, "c", w0, w1, context="full", **common).job.request
    lo = project_lo = w0 - int(args.margin * SR)
    pipe = GenerationPipeline.from_checkpoints(root, task="repaint", device="cpu")
    noise = torch.randn(1, int(SONG_S * 25), channels, generator=torch.Generator().manual_seed(7))  # [1, 6000, C]
    crop = noise[:, lo // HOP : lo // HOP + int((WINDOW_S + 2 * args.margin) * 25)]
    pipe(bounded, initial_noise=crop)  # warm-up (text encoder, caches)
    times: dict[str, list[float]] = {"full": [], "bounded": []}
    out = {}
    for _ in range(args.tiny_repeats):
        for name, req, n in (("full", full, noise), ("bounded", bounded, crop)):
            t0 = time.perf_counter()
            out[name] = pipe(req, JobContext.inline(), initial_noise=n).takes[0]
            times[name].append(time.perf_counter() - t0)
    a, b = statistics.median(times["full"]), statistics.median(times["bounded"])
    print(f"tiny end to end, {SONG_S:.0f} s song, {WINDOW_S:.0f} s window, margin {args.margin:g} s, 8 turbo steps, "
          f"load {_load()}: full {a:.1f} s, bounded {b:.1f} s, ratio {b / a:.3f}")
    for name in ("full", "bounded"):
        tm = dict(out[name].provenance.timings_s)
        print(f"  {name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(tm.items())) +
              f"; source latents {out[name].provenance.source_latents}")
    # How the result differs. Window frames in each sequence:
    fw0, fw1 = w0 // HOP, w1 // HOP
    bw0, bw1 = (w0 - lo) // HOP, (w1 - lo) // HOP
    lf, lb = out["full"].latents[fw0:fw1], out["bounded"].latents[bw0:bw1]
    rel = float(np.linalg.norm(lb - lf) / np.linalg.norm(lf))
    other = pipe(bounded.with_changes(seeds=(8,)), JobContext.inline()).takes[0]
    rel_seed = float(np.linalg.norm(other.latents[bw0:bw1] - lb) / np.linalg.norm(lb))
    af, ab = out["full"].audio[:, w0:w1], out["bounded"].audio[:, w0 - lo : w1 - lo]
    lsd, lsd_seed = _log_spectral_distance(ab, af), _log_spectral_distance(other.audio[:, w0 - lo : w1 - lo], ab)
    print(f"  inside the window, bounded vs full (same noise): relative latent error {rel:.4f}, "
          f"log-spectral distance {lsd:.2f} dB; yardstick, bounded seed 7 vs seed 8: {rel_seed:.4f}, {lsd_seed:.2f} dB")
    fade = int(0.025 * SR)
    src = song[:, lo : lo + out["bounded"].audio.shape[1]]
    outside_b = (np.array_equal(out["bounded"].audio[:, : w0 - lo - fade], src[:, : w0 - lo - fade])
                 and np.array_equal(out["bounded"].audio[:, w1 - lo + fade :], src[:, w1 - lo + fade :]))
    outside_f = (np.array_equal(out["full"].audio[:, : w0 - fade], song[:, : w0 - fade])
                 and np.array_equal(out["full"].audio[:, w1 + fade : song.shape[1]], song[:, w1 + fade :]))
    print(f"  outside the window +-25 ms: bounded output == the song bit for bit: {outside_b}; full output == the "
          f"song: {outside_f} (the rest of the song is never touched in bounded mode: the take holds the window)")
    del project_lo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="flops,dit,tiny", help="flops,dit,vae,tiny (vae: ~6 min under load)")
    parser.add_argument("--margin", type=float, default=10.0, help="bounded context each side (s)")
    parser.add_argument("--cond", type=int, default=300, help="condition rows (caption + lyrics + timbre)")
    parser.add_argument("--layers", type=int, default=2, help="DiT layers for the measured forward (of 24)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--vae-repeats", type=int, default=1)
    parser.add_argument("--tiny-repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    parts = set(args.parts.split(","))
    print(f"bounded-context repaint: {WINDOW_S:.0f} s window in a {SONG_S:.0f} s song, margin {args.margin:g} s; "
          f"load {_load()}")
    dit = vae = None
    if "flops" in parts:
        bench_flops(args)
    if "dit" in parts:
        dit = bench_dit(args)
    if "vae" in parts:
        vae = bench_vae(args)
    if dit and vae:
        steps = 8
        full, bnd = steps * dit["full"] + vae["full"], steps * dit["bounded"] + vae["bounded"]
        print(f"real size, 8-step turbo render (DiT per step x 8 + VAE decode; measured parts above): full song "
              f"{full:.0f} s, bounded {bnd:.0f} s -> ratio {bnd / full:.3f} (target <= 0.30)")
    if "tiny" in parts:
        bench_tiny(args)


if __name__ == "__main__":
    main()
