"""`legato generate`: make takes from the command line (every generation parameter).

Runs through the engine's job queue (one worker thread that keeps the models loaded), shows a
progress bar on stderr, writes each take as audio + a JSON sidecar and prints their paths on
stdout. Ctrl-C cancels cleanly: the worker stops at the next diffusion step.
Heavy imports (torch, the model code) happen only when a generation actually runs.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from engine.cli.common import add_checkpoints_argument
from engine.errors import ValidationError

TRACKS = ("vocals", "backing_vocals", "drums", "bass", "guitar", "keyboard", "percussion", "strings",
          "synth", "fx", "brass", "woodwinds")

EPILOG = """examples:
  legato generate --caption "lofi hip hop, mellow piano" --lyrics "[Instrumental]" --duration 30
  legato generate --task repaint --src song.wav --repaint 30:45 --caption "guitar solo"
  legato generate --task lego --src mix.wav --track drums          (picks a base model)
  legato generate --task complete --src vocals.wav --track drums --track bass
  legato generate --task cover --src song.wav --caption "jazz trio" --cover-strength 0.5
  legato generate --batch 4 --seeds 1,2,3,4 --format mp3 --out takes/
  legato generate --from-sidecar takes/3f2a....json               (reproduce a take)
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate music: text2music, cover, repaint, lego, extract, complete",
        description="Generate takes with ACE-Step 1.5 and write audio files plus JSON sidecars.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_argument_group("what to make")
    what.add_argument("--task", default="text2music",
                      choices=("text2music", "cover", "cover-nofsq", "repaint", "lego", "extract", "complete"),
                      help="the task (default text2music)")
    what.add_argument("--caption", default="", help="style description, e.g. 'dreamy synthpop, female vocals'")
    what.add_argument("--lyrics", default="", help="lyrics text, or @FILE to read them from a file")
    what.add_argument("--instrumental", action="store_true", help="no vocals (lyrics become [Instrumental])")
    what.add_argument("--bpm", type=int, help="tempo in beats per minute (30-300)")
    what.add_argument("--key", dest="keyscale", default="", help="key and scale, e.g. 'C major'")
    what.add_argument("--time-signature", dest="timesignature", default="",
                      help="beats per bar: 2, 3, 4 or 6")
    what.add_argument("--language", dest="vocal_language", default="unknown",
                      help="vocal language code (en, zh, ja, ...; default unknown)")
    what.add_argument("--duration", type=float, help="length in seconds (text2music; default 30)")

    audio = p.add_argument_group("audio inputs")
    audio.add_argument("--src", dest="source_audio", help="source audio file (cover/repaint/lego/extract/complete)")
    audio.add_argument("--ref", dest="reference_audio", help="reference audio file for timbre")
    audio.add_argument("--codes", help="5 Hz audio codes: comma-separated integers, or @FILE")
    audio.add_argument("--repaint", metavar="START:END",
                       help="window in seconds, e.g. 30:45; '30:' = to the end; a negative start adds "
                            "an intro, an end past the source extends it (repaint and lego)")
    audio.add_argument("--repaint-mode", default="balanced", choices=("aggressive", "balanced", "conservative"))
    audio.add_argument("--repaint-strength", type=float, default=0.5, help="0-1, balanced mode (default 0.5)")
    audio.add_argument("--retake-seed", type=int, default=None,
                       help="retake: seed of the second noise blended into the take's own")
    audio.add_argument("--retake-variance", type=float, default=0.0,
                       help="retake: 0 = the take itself .. 1 = the retake seed's take (default 0)")
    audio.add_argument("--cover-strength", dest="audio_cover_strength", type=float, default=1.0,
                       help="0-1: share of steps that follow the source's structure (cover; default 1)")
    audio.add_argument("--cover-noise", dest="cover_noise_strength", type=float, default=0.0,
                       help="0-1: start from the noised source instead of pure noise (cover)")
    audio.add_argument("--track", dest="tracks", action="append", choices=TRACKS, default=[],
                       help="track name for lego/extract; repeat for complete")

    sampling = p.add_argument_group("sampling")
    sampling.add_argument("--steps", type=int, help="diffusion steps (turbo: 8; base/SFT default 32)")
    sampling.add_argument("--guidance", dest="guidance_scale", type=float, default=7.0,
                          help="guidance scale for base/SFT (ignored by turbo; default 7)")
    sampling.add_argument("--shift", type=float, default=3.0, help="timestep shift 1-5 (turbo: 1, 2 or 3; default 3)")
    sampling.add_argument("--method", dest="infer_method", default="ode", choices=("ode", "sde"))
    sampling.add_argument("--timesteps", help="custom schedule, comma-separated times from 1 towards 0")
    sampling.add_argument("--cfg-interval", default="0:1", metavar="START:END",
                          help="guidance only while START <= t <= END (default 0:1)")
    sampling.add_argument("--guidance-method", default="apg", choices=("apg", "adg", "cfg"),
                          help="apg (default), adg (angle-based) or plain cfg")
    sampling.add_argument("--sampler-mode", default="euler", choices=("euler", "heun"),
                          help="euler (default) or heun: a corrector step (ODE only, twice the model calls)")
    dcw = sampling.add_mutually_exclusive_group()
    dcw.add_argument("--dcw", dest="dcw", action="store_true", default=None,
                     help="force the DCW wavelet corrector on (default: on for turbo, off for base/SFT)")
    dcw.add_argument("--no-dcw", dest="dcw", action="store_false", help="turn the DCW corrector off")
    sampling.add_argument("--dcw-mode", default="double", choices=("low", "high", "double"))
    sampling.add_argument("--dcw-scaler", type=float, default=0.05)
    sampling.add_argument("--dcw-high-scaler", type=float, default=0.02)
    sampling.add_argument("--batch", dest="batch_size", type=int, default=1, help="takes to make (1-8)")
    sampling.add_argument("--seeds", help="comma-separated seeds, one per take; -1 or missing = random")

    lm = p.add_argument_group("planner LM")
    lm.add_argument("--thinking", action="store_true", help="let the planner LM write metadata and codes")
    lm.add_argument("--lm-temperature", type=float, default=0.85)
    lm.add_argument("--lm-cfg-scale", type=float, default=2.0)
    lm.add_argument("--lm-top-k", type=int, default=0)
    lm.add_argument("--lm-top-p", type=float, default=0.9)
    lm.add_argument("--lm-negative-prompt", default="NO USER INPUT")

    run = p.add_argument_group("models, device and output")
    add_checkpoints_argument(run)
    run.add_argument("--lora", dest="loras", action="append", default=[], metavar="PATH[:SCALE]",
                     help="a LoRA adapter (PEFT folder or .safetensors) and its scale 0-2 (default 1); repeatable")
    run.add_argument("--model", help="DiT folder name, e.g. acestep-v15-base (default: turbo; "
                                     "lego/extract/complete pick an installed base model)")
    run.add_argument("--out", default="outputs", help="output folder (default ./outputs)")
    run.add_argument("--format", dest="output_format", choices=("wav", "flac", "mp3"),
                     help="audio file format (default flac)")
    run.add_argument("--no-normalize", action="store_true", help="keep the raw level (no -1 dB peak normalise)")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    run.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                     help="model dtype (default: bfloat16 on CUDA, float32 on CPU)")
    run.add_argument("--from-sidecar", metavar="JSON", help="re-run the take a sidecar describes")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--dry-run", action="store_true",
                     help="only predict memory and time for this request on this device (measures the "
                          "device once, then uses the stored calibration); generates nothing")
    run.add_argument("--force", action="store_true", help="run even if the preflight says it will not fit")
    # Runtime options (engine.runtime.options); unset = the saved Settings' choice ("auto" by default).
    run.add_argument("--offload", choices=("auto", "on", "off"), help="models leave the accelerator between stages")
    run.add_argument("--quantization", choices=("auto", "none", "int8", "int8-dynamic"),
                     help="DiT and LM: int8 = torchao weights only; int8-dynamic = weights and activations "
                          "(faster on the CPU, ~2 %% latent error)")
    run.add_argument("--compile", choices=("auto", "on", "off"), help="torch.compile the DiT decoder")
    run.add_argument("--vae-device", choices=("auto", "cpu"), help="cpu: decode (and encode) on the CPU")
    p.set_defaults(func=run_generate)


# --- parsing helpers ---------------------------------------------------------------------------


def _read_maybe_file(value: str, param: str) -> str:
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise ValidationError(f"{param}: file not found: {path}")
        return path.read_text(encoding="utf-8")
    return value


def parse_window(text: str, param: str) -> tuple[float, float]:
    """'30:45' -> (30, 45); '30:' -> (30, -1); '-5:10' -> (-5, 10)."""
    if ":" not in text:
        raise ValidationError(f"{param}: expected START:END in seconds, got {text!r}")
    start, end = text.split(":", 1)
    try:
        return float(start or 0), (float(end) if end.strip() else -1.0)
    except ValueError:
        raise ValidationError(f"{param}: expected numbers in START:END, got {text!r}") from None


def _int_list(text: str, param: str) -> tuple[int, ...]:
    from engine.tasks.text_fields import int_list

    return int_list(text, param)


def _float_list(text: str, param: str) -> tuple[float, ...]:
    from engine.tasks.text_fields import float_list

    return float_list(text, param)


def request_from_args(args: argparse.Namespace):
    """Build the frozen GenerationRequest from parsed arguments."""
    from engine.lora.spec import parse_lora_arg
    from engine.tasks.request import GenerationRequest

    repaint_start, repaint_end = parse_window(args.repaint, "--repaint") if args.repaint else (0.0, -1.0)
    cfg_start, cfg_end = parse_window(args.cfg_interval, "--cfg-interval")
    codes = _int_list(_read_maybe_file(args.codes, "--codes"), "--codes") if args.codes else None
    return GenerationRequest(
        task=args.task,
        caption=args.caption,
        lyrics=_read_maybe_file(args.lyrics, "--lyrics"),
        instrumental=args.instrumental,
        bpm=args.bpm,
        keyscale=args.keyscale,
        timesignature=args.timesignature,
        vocal_language=args.vocal_language,
        duration=args.duration,
        reference_audio=args.reference_audio,
        source_audio=args.source_audio,
        audio_codes=codes,
        repaint_start=repaint_start,
        repaint_end=repaint_end,
        repaint_mode=args.repaint_mode,
        repaint_strength=args.repaint_strength,
        audio_cover_strength=args.audio_cover_strength,
        cover_noise_strength=args.cover_noise_strength,
        retake_seed=args.retake_seed,
        retake_variance=args.retake_variance,
        tracks=tuple(args.tracks),
        steps=args.steps,
        guidance_scale=args.guidance_scale,
        shift=args.shift,
        infer_method=args.infer_method,
        sampler_mode=args.sampler_mode,
        timesteps=_float_list(args.timesteps, "--timesteps") if args.timesteps else None,
        cfg_interval_start=cfg_start,
        cfg_interval_end=cfg_end if cfg_end >= 0 else 1.0,
        guidance_method=args.guidance_method,
        dcw_enabled=args.dcw,
        dcw_mode=args.dcw_mode,
        dcw_scaler=args.dcw_scaler,
        dcw_high_scaler=args.dcw_high_scaler,
        batch_size=args.batch_size,
        seeds=_int_list(args.seeds, "--seeds") if args.seeds else None,
        thinking=args.thinking,
        lm_temperature=args.lm_temperature,
        lm_cfg_scale=args.lm_cfg_scale,
        lm_top_k=args.lm_top_k,
        lm_top_p=args.lm_top_p,
        lm_negative_prompt=args.lm_negative_prompt,
        output_format=args.output_format or "flac",
        normalize=not args.no_normalize,
        loras=tuple(parse_lora_arg(text) for text in getattr(args, "loras", []) or ()),
    )


# --- progress ------------------------------------------------------------------------------------


class ProgressBar:
    """One updating line on stderr: stage, bar, step/total, time left."""

    def __init__(self, stream=None, enabled: bool = True, width: int = 28):
        self.stream = stream or sys.stderr  # looked up now, not when the module was imported
        self.enabled = enabled
        self.width = width
        self._stage = ""

    def update(self, stage: str, step: int, total: int, eta_s: float | None) -> None:
        if not self.enabled:
            return
        if stage != self._stage and self._stage:
            self.stream.write("\n")
        self._stage = stage
        frac = step / total if total else 0.0
        filled = int(round(frac * self.width))
        eta = f" {eta_s:5.1f}s left" if eta_s is not None and step < total else ""
        self.stream.write(f"\r{stage:<12} [{'#' * filled}{'.' * (self.width - filled)}] {step}/{total}{eta}   ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._stage:
            self.stream.write("\n")
            self.stream.flush()


# --- running --------------------------------------------------------------------------------------


def run_generate(args: argparse.Namespace) -> int:
    from engine.jobs.events import JobCancelled, JobFailed, JobFinished, JobProgress
    from engine.jobs.generation import GenerateJob
    from engine.jobs.queue import JobQueue

    item_index = None
    model = args.model
    device, dtype = args.device, args.dtype
    if args.from_sidecar:
        from engine.tasks.outputs import read_sidecar

        sidecar = read_sidecar(args.from_sidecar)
        request, item_index = sidecar.request, sidecar.item_index
        model = model or sidecar.model_name
        if args.checkpoints is None and sidecar.model_path and Path(sidecar.model_path).is_dir():
            # Re-run with the very folder the take was made with, not whatever is default now.
            args.checkpoints = str(Path(sidecar.model_path).parent)
            model = args.model or sidecar.model_path
        dtype = dtype or sidecar.dtype
        if device == "auto":
            device = sidecar.device
        if args.output_format:
            request = request.with_changes(output_format=args.output_format)
    else:
        request = request_from_args(args)
    from engine.tasks.request import validate_request

    validate_request(request)  # fail fast, before any model loads
    if request.output_format == "mp3":
        from engine.tasks.outputs import check_format_available

        check_format_available("mp3")

    if args.dry_run:
        return _dry_run(request, args.checkpoints, model, device, dtype, _runtime_choices(args))

    bar = ProgressBar(enabled=not args.quiet)
    done = threading.Event()
    final: dict = {}

    def sink(event) -> None:
        if isinstance(event, JobProgress):
            bar.update(event.stage, event.step, event.total, event.eta_s)
        elif isinstance(event, JobFinished | JobFailed | JobCancelled):
            final["event"] = event
            done.set()

    queue = JobQueue(sink=sink)
    from engine.models.locations import checkpoints_dir

    job = GenerateJob(request=request, checkpoints=checkpoints_dir(args.checkpoints), model=model, device=device,
                      dtype=dtype, force=args.force, runtime=_runtime_choices(args))
    job_id = queue.submit(job)
    try:
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        queue.cancel(job_id)
        print("\ncancelling (stops at the next step)...", file=sys.stderr)
        deadline = time.monotonic() + 60
        while not done.wait(0.1) and time.monotonic() < deadline:
            pass
        bar.close()
        queue.shutdown(timeout=5)
        print("cancelled", file=sys.stderr)
        return 130
    bar.close()
    queue.shutdown(timeout=5)
    event = final["event"]
    if isinstance(event, JobCancelled):
        print("cancelled", file=sys.stderr)
        return 130
    if isinstance(event, JobFailed):
        print(f"legato: error: {event.message}", file=sys.stderr)
        return 1
    from engine.tasks.outputs import write_take

    takes = event.result.takes
    if item_index is not None:
        takes = (takes[item_index],)
    for take in takes:
        written = write_take(take, args.out, request.output_format)
        print(f"{written.audio_path}\t{written.sidecar_path}\tseed={take.seed}")
    return 0


def _runtime_choices(args):
    """The saved Settings' runtime choices with this command's flags on top."""
    from engine.runtime.options import RuntimeChoices
    from engine.settings import load_settings

    return RuntimeChoices.from_settings(load_settings()).with_changes(
        offload=args.offload, quantization=args.quantization, compile=args.compile, vae_device=args.vae_device)


def _dry_run(request, checkpoints, model, device, dtype, choices=None) -> int:
    """Print the preflight for `request`: fits or not, peak memory, seconds per stage."""
    from engine.models.locations import checkpoints_dir
    from engine.runtime.device import pick_device
    from engine.runtime.options import RuntimeChoices, resolve_options
    from engine.runtime.preflight import (
        calibration_key,
        calibration_path,
        load_or_calibrate,
        predict,
        seen_shapes,
        stored_calibration,
    )
    from engine.tasks.components import resolve_model
    from engine.tasks.pipeline import GenerationPipeline

    root = checkpoints_dir(checkpoints)
    folder = resolve_model(root, model, request.task)
    picked = pick_device(device)
    options = resolve_options(picked, (choices or RuntimeChoices()).with_changes(dtype=dtype))
    pipe = GenerationPipeline.from_checkpoints(root, model=str(folder.resolve()), task=request.task,
                                               device=str(picked), runtime=options)
    if stored_calibration(calibration_key(pipe)) is None:
        print(f"measuring {picked} once for {folder.name} (stored in {calibration_path()})...", file=sys.stderr)
    lm = None
    if request.effective_thinking:  # the planner LM stage: its own calibration (measured once)
        from engine.runtime.preflight_lm import load_or_calibrate_lm, stored_lm_for

        if stored_lm_for(pipe, request.lm_model) is None:
            print("measuring the planner LM once (stored with the calibration)...", file=sys.stderr)
        lm = load_or_calibrate_lm(pipe, request.lm_model)
    calib = load_or_calibrate(pipe)  # a calibration just measured leaves its own shapes warm
    result = predict(request, calib, pipe.family, lm=lm, seen=seen_shapes(pipe))
    print(result.line)
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.stage_seconds)
    print(f"  peak {result.peak_bytes / 1024**3:.2f} GB of {result.available_bytes / 1024**3:.1f} GB; {stages}")
    return 0 if result.fits else 1
