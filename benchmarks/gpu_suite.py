"""The GPU suite (issue 17, "GPU-ready"): one table of the figures that matter on a CUDA machine.

    python benchmarks/gpu_suite.py                        # real weights from the checkpoints folder
    python benchmarks/gpu_suite.py --checkpoints DIR
    python benchmarks/gpu_suite.py --random-weights       # real-size random weights, no download
    python benchmarks/gpu_suite.py --cpu-smoke            # the same table logic on the tiny tree, CPU

Scenarios, in order (each with its seconds and torch.cuda.max_memory_allocated since the
scenario began):
  1. a 4-minute turbo song without the LM, end to end (text encode, 8 steps, VAE decode), cold:
     models loaded (or built) inside the timing, first CUDA kernels included
  2. the same request again, warm (models resident)
  3. the same song with thinking on the 1.7B planner LM (phase 1 metadata + 1200 codes), cold
     (the LM is loaded inside the timing)
  4. the same again, warm
  5. a 10 s repaint in the middle of the warm song in bounded mode, as the app's repaint does
     (engine.studio.regions.repaint_region, context="bounded"): the model gets the window ± 10 s
     cut on the song's latent grid, the warm take's own latents as the source (no VAE encode
     when the take recorded its VAE), and only the window + a margin is decoded
Targets on an H100/H200-class GPU (issue 17): row 2 <= 1.5 s, row 4 <= 6 s. The whole suite is
meant to finish in under 8 minutes there.

Without CUDA it says so and, with --cpu-smoke, runs the same scenarios on the tiny checkpoints on
the CPU with short durations (song 10 s, repaint 3 s) so the table logic is exercised; it never
reports CPU figures as GPU ones. Exit status 0 unless a scenario fails.

--random-weights builds the real-size DiT, text encoder and VAE (benchmarks/bench_generate.py)
and the 1.7B LM (benchmarks/bench_planner.py) with random weights, frozen as the loaders leave
them. A random LM never ends its caption, so its phase 1 is capped at 64 caption tokens there
(the table notes it); with real weights the caption cap is upstream's 512.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CAPTION = "uplifting synthpop, punchy drums, warm analog bass, bright female vocals"
LYRICS = "[Verse]\n" + "\n".join(["city lights are calling out my name"] * 6) + "\n[Chorus]\n" + \
    "\n".join(["we run, we run, into the morning sun"] * 4)
RANDOM_LM_CAPTION_CAP = 64


@dataclass(frozen=True)
class Sizes:
    """Durations of the scenarios (seconds of audio)."""

    song_s: float
    repaint_start_s: float
    repaint_end_s: float


GPU_SIZES = Sizes(song_s=240.0, repaint_start_s=115.0, repaint_end_s=125.0)
SMOKE_SIZES = Sizes(song_s=10.0, repaint_start_s=3.0, repaint_end_s=6.0)  # windows are >= 3 s


@dataclass
class Row:
    scenario: str
    seconds: float | None = None
    peak_vram_gb: float | None = None
    note: str = ""


class Meter:
    """Wall time (synchronised on CUDA) and the peak allocated VRAM of one scenario."""

    def __init__(self, cuda: bool):
        self.cuda = cuda

    def run(self, scenario: str, work: Callable[[], str | None]) -> Row:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        note = work() or ""
        if self.cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() / 1024**3 if self.cuda else None
        print(f"  done: {scenario}: {seconds:.2f} s", file=sys.stderr, flush=True)
        return Row(scenario, seconds, peak, note)


REPAINT_MARGIN_S = 10.0  # engine.studio.regions.DEFAULT_MARGIN_S: bounded repaint's context each side


def bounded_repaint_request(take, start_s: float, end_s: float, margin_s: float = REPAINT_MARGIN_S, **fields):
    """The GenerationRequest a bounded repaint of `take` sends (what repaint_region builds from a
    project): the source is the window ± `margin_s`, cut on the take's latent grid; its latents
    are the take's own slice when the take recorded its VAE (else the pipeline encodes the
    crop); only the window (+ the decode margin) is decoded. -> (request, note)."""
    from engine.tasks import constants as C
    from engine.tasks.request import GenerationRequest
    from engine.tasks.source_latents import SourceLatents, vae_identity

    sr, hop = C.SAMPLE_RATE, C.HOP
    total = take.latents.shape[0]  # [T, C] latent frames of the take
    f0 = max(0, int((start_s - margin_s) * sr) // hop)
    f1 = min(total, -(-int((end_s + margin_s) * sr) // hop))
    audio = take.audio[:, f0 * hop:f1 * hop]  # [2, (f1 - f0) * hop]
    models = take.provenance.models
    latents = None
    if len(models) >= 3:
        vae = vae_identity(models[2].name, dict(models[2].weight_sha256))
        latents = SourceLatents(take.latents[f0:f1].copy(), vae, key="gpu-suite warm take",
                                gain=float(take.latent_gain))
    req = GenerationRequest(task="repaint", source_audio=audio, repaint_start=start_s - f0 * hop / sr,
                            repaint_end=end_s - f0 * hop / sr, source_latents=latents,
                            decode_window_only=True, **fields)
    return req, f"window ± {margin_s:.0f} s ({(f1 - f0) * hop / sr:.0f} s to the model)"


class Suite:
    """Builds the pipeline and the planner on demand (inside the cold timings) and runs the rows."""

    def __init__(self, mode: str, device: str, dtype, checkpoints: Path, sizes: Sizes):
        self.mode, self.device, self.dtype, self.checkpoints, self.sizes = mode, device, dtype, checkpoints, sizes
        self.pipeline = None
        self.planner = None
        self.song_take = None

    # --- models ---------------------------------------------------------------------------------
    def load_pipeline(self):
        from engine.tasks.pipeline import GenerationPipeline

        if self.mode == "random":
            from benchmarks.bench_generate import build_models

            models = build_models(self.device, self.dtype, self.checkpoints / "Qwen3-Embedding-0.6B")
            self.pipeline = GenerationPipeline(models, "turbo", self.checkpoints,
                                               lm_caption_token_cap=RANDOM_LM_CAPTION_CAP)
        else:
            self.pipeline = GenerationPipeline.from_checkpoints(
                self.checkpoints, model="acestep-v15-turbo", device=self.device, dtype=self.dtype)
        return self.pipeline

    def load_planner(self):
        from engine.planner.lm import PlannerLM

        lm = PlannerLM.load(self.checkpoints, device=self.device, max_duration=600)
        if self.mode == "random":
            from benchmarks.bench_planner import real_size_lm

            lm = real_size_lm(lm, self.device, self.dtype, "1.7b")
        self.planner = lm
        return lm

    # --- requests -------------------------------------------------------------------------------
    def song_request(self, thinking: bool):
        from engine.tasks.request import GenerationRequest

        return GenerationRequest(caption=CAPTION, lyrics=LYRICS, duration=self.sizes.song_s, seeds=(42,),
                                 bpm=120, keyscale="A minor", timesignature="4", vocal_language="en",
                                 thinking=thinking)

    def song(self, cold: bool) -> str:
        if cold or self.pipeline is None:
            self.load_pipeline()
        take = self.pipeline(self.song_request(False)).takes[0]
        self.song_take = take
        return f"{take.audio.shape[1] / 48_000:.0f} s of audio"

    def thinking_song(self, cold: bool) -> str:
        if self.pipeline is None:
            self.load_pipeline()
        if cold or self.planner is None:
            self.load_planner()
        take = self.pipeline(self.song_request(True), planner=self.planner).takes[0]
        codes = len(dict(take.provenance.lm_metadata).get("audio_codes") or ())
        note = f"{codes} LM codes"
        if self.mode == "random":
            note += f", random LM: caption capped at {RANDOM_LM_CAPTION_CAP} tokens"
        return note

    def repaint(self) -> str:
        req, note = bounded_repaint_request(self.song_take, self.sizes.repaint_start_s, self.sizes.repaint_end_s,
                                            caption=CAPTION, lyrics=LYRICS, seeds=(7,))
        take = self.pipeline(req).takes[0]
        window = self.sizes.repaint_end_s - self.sizes.repaint_start_s
        return f"{window:.0f} s window, bounded context: {note}, source latents {take.provenance.source_latents}"

    def rows(self, meter: Meter) -> list[Row]:
        length = f"{self.sizes.song_s / 60:.0f}-min" if self.sizes.song_s >= 60 else f"{self.sizes.song_s:.0f} s"
        song = f"{length} turbo song, no LM"
        think = f"{length} turbo song, 1.7B thinking"
        window = self.sizes.repaint_end_s - self.sizes.repaint_start_s
        return [
            meter.run(f"{song}, cold", lambda: self.song(cold=True)),
            meter.run(f"{song}, warm", lambda: self.song(cold=False)),
            meter.run(f"{think}, cold", lambda: self.thinking_song(cold=True)),
            meter.run(f"{think}, warm", lambda: self.thinking_song(cold=False)),
            meter.run(f"{window:.0f} s repaint", self.repaint),
        ]


def format_table(rows: list[Row], header: str) -> str:
    """One plain-text table: scenario, seconds, peak VRAM, note."""
    lines = [header, f"{'scenario':<44} {'seconds':>8} {'peak VRAM GB':>12}  note"]
    for row in rows:
        secs = f"{row.seconds:8.2f}" if row.seconds is not None else f"{'-':>8}"
        vram = f"{row.peak_vram_gb:12.2f}" if row.peak_vram_gb is not None else f"{'n/a (CPU)':>12}"
        lines.append(f"{row.scenario:<44} {secs} {vram}  {row.note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=None, help="checkpoints folder (default: the resolver's)")
    parser.add_argument("--random-weights", action="store_true", help="real-size random weights (no download)")
    parser.add_argument("--cpu-smoke", action="store_true", help="without CUDA: the tiny tree on the CPU, short audio")
    parser.add_argument("--dtype", default="bfloat16", help="DiT / text encoder / LM dtype on CUDA (default bfloat16)")
    args = parser.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available()
    if not cuda:
        print("CUDA is not available on this machine: no GPU figures.")
        if not args.cpu_smoke:
            print("(run with --cpu-smoke to exercise the suite's table logic on the tiny checkpoints)")
            return 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if not cuda:  # --cpu-smoke: the tiny tree (--checkpoints: an existing one), CPU float32, short audio
            root = args.checkpoints
            if root is None:
                from engine.models.tiny import write_tiny_checkpoints

                root = Path(tmp) / "tiny"
                write_tiny_checkpoints(root, seed=0)
            suite = Suite("tiny", "cpu", torch.float32, root, SMOKE_SIZES)
            header = "CPU SMOKE RUN (tiny checkpoints, short audio): these are NOT GPU figures"
        elif args.random_weights:
            from engine.models.tiny import write_tiny_checkpoints

            root = Path(tmp) / "tiny"  # only its tokenizers are used
            write_tiny_checkpoints(root, seed=0)
            suite = Suite("random", "cuda", getattr(torch, args.dtype), root, GPU_SIZES)
            header = f"{torch.cuda.get_device_name()}: real-size RANDOM weights, {args.dtype}"
        else:
            from engine.models.locations import checkpoints_dir

            root = checkpoints_dir(args.checkpoints)
            suite = Suite("real", "cuda", getattr(torch, args.dtype), root, GPU_SIZES)
            header = f"{torch.cuda.get_device_name()}: weights from {root}, {args.dtype}"
        rows = suite.rows(Meter(cuda))
    print(format_table(rows, header))
    print(f"suite total: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
