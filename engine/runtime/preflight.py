"""Preflight: will THIS request fit on THIS device, and about how long will it take?

    calib = load_or_calibrate(pipeline)         # measured once per (device, dtype, models), stored
    result = predict(request, calib, pipeline.family)
    print(result.line)                          # "fits · about 42 s" / "needs 11 GB, you have 8 GB: ..."

Cost model. A calibration runs the real pipeline twice on this machine (two short lengths, two
diffusion steps, batch 1) and measures, per stage, seconds and the peak memory above the loaded
weights. Each stage is fitted as `fixed + per_frame * frames` (latent frames, 25 per second).
A prediction scales those by the request: diffusion by steps x batch (x2 for classifier-free
guidance on base/SFT), the VAE decode by batch (items are decoded one at a time, so its memory
does not scale with batch), the text encoder by batch. Peak memory = weights + the largest stage
peak. Stored in `engine.settings.data_dir()/preflight_calibration.json`, keyed by device, dtype,
torch version and the identities of the loaded models, so a new model or device re-measures.

Peak memory is measured with `torch.cuda.max_memory_allocated` on CUDA and by sampling the
process's resident set (/proc/self/statm) every 2 ms on the CPU; without /proc (macOS, Windows)
the CPU peak is not measured and the prediction says so. The planner LM (thinking) is not part of
the model: its time is reported as unknown rather than guessed.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.errors import ValidationError

CALIBRATION_FILE = "preflight_calibration.json"
FRAMES_PER_SECOND = 25  # VAE latent rate
CALIBRATION_SECONDS = (5.0, 20.0)  # two lengths far enough apart -> fixed + per-frame
CALIBRATION_REPEATS = 2  # each length runs this often; the fastest run counts (load spikes)
# Two custom schedules (any family accepts timesteps) of 2 and 4 steps: their difference is the
# cost of a step, the rest is the once-per-run part of diffusion (condition encoding, setup).
CALIBRATION_TIMES = ((1.0, 0.5), (1.0, 0.75, 0.5, 0.25))
DEFAULT_DURATION_S = 30.0
GB = 1024**3
STAGES = ("text_encode", "diffusion_run", "diffusion_step", "vae_decode")


@dataclass(frozen=True)
class StageCost:
    """`fixed + per_frame * frames` for seconds and for peak bytes above the weights."""

    fixed_s: float
    per_frame_s: float
    fixed_bytes: float
    per_frame_bytes: float

    def seconds(self, frames: int) -> float:
        return max(0.0, self.fixed_s + self.per_frame_s * frames)

    def bytes(self, frames: int) -> float:
        return max(0.0, self.fixed_bytes + self.per_frame_bytes * frames)


@dataclass(frozen=True)
class Calibration:
    key: str
    device: str
    weights_bytes: int
    cfg_calibrated: bool  # the diffusion cost was measured with guidance (batch doubled)
    memory_measured: bool
    text_encode: StageCost
    diffusion_run: StageCost  # once per run: condition encoding and sampler set-up
    diffusion_step: StageCost
    vae_decode: StageCost
    measured_at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        stages = {name: StageCost(**data[name]) for name in STAGES}
        rest = {k: v for k, v in data.items() if k not in STAGES}
        return cls(**rest, **stages)


@dataclass(frozen=True)
class PreflightResult:
    """What the request will need. `seconds` excludes the planner LM (see `lm_unknown`)."""

    fits: bool
    peak_bytes: int
    available_bytes: int
    seconds: float
    stage_seconds: tuple[tuple[str, float], ...]
    suggestions: tuple[str, ...]
    lm_unknown: bool
    memory_measured: bool
    line: str


# -- measuring ----------------------------------------------------------------------------


class _PeakMemory:
    """Peak memory while the block runs, above what was in use when it started.

    `stage_peaks`: the same peak per pipeline stage, when the run's progress is fed to
    `set_stage` (see `_StageContext`), so each stage is charged its own memory, not the run's.
    """

    def __init__(self, device) -> None:
        self.device = device
        self.peak = 0
        self.measured = True
        self.stage = ""
        self.stage_peaks: dict[str, int] = {}

    def set_stage(self, stage: str) -> None:
        if stage == self.stage:
            return
        if self.device.type == "cuda":
            import torch

            self._close_cuda_stage(torch)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.stage = stage

    def _close_cuda_stage(self, torch) -> None:
        if self.stage:
            used = torch.cuda.max_memory_allocated(self.device) - self._base
            self.stage_peaks[self.stage] = max(self.stage_peaks.get(self.stage, 0), used)
            self._cuda_high = max(self._cuda_high, used)

    def __enter__(self) -> _PeakMemory:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            self._cuda_high = 0
            return self
        _release_cached_heap()
        self._base = _rss_bytes()
        if self._base is None:
            self.measured = False
            return self
        self._stop = threading.Event()
        self._high = self._base
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            value = _rss_bytes() or 0
            if value > self._high:
                self._high = value
            stage = self.stage
            if stage and value - self._base > self.stage_peaks.get(stage, 0):
                self.stage_peaks[stage] = value - self._base

    def __exit__(self, *exc) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._close_cuda_stage(torch)
            self.peak = max(self._cuda_high, torch.cuda.max_memory_allocated(self.device) - self._base)
        elif self.measured:
            self._stop.set()
            self._thread.join()
            self._high = max(self._high, _rss_bytes() or 0)
            self.peak = self._high - self._base


class _StageContext:
    """A JobContext stand-in for calibration runs: forwards cancel/progress to the real context
    (if any) and tells the memory sampler which stage is running."""

    def __init__(self, ctx, peak: _PeakMemory) -> None:
        self._ctx = ctx
        self._peak = peak

    def check_cancelled(self) -> None:
        if self._ctx is not None:
            self._ctx.check_cancelled()

    def progress(self, stage: str, step: int, total: int, *args, **kwargs) -> None:
        self._peak.set_stage(stage)
        if self._ctx is not None:
            self._ctx.progress(stage, step, total, *args, **kwargs)


def _release_cached_heap() -> None:
    """Hand freed heap back to the OS (glibc), so the resident set starts from what is in use.

    Without it the allocator keeps earlier peaks mapped and a later, smaller run shows no growth.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def weights_bytes(pipeline) -> int:
    """Bytes of every parameter and buffer of the loaded DiT, text encoder and VAE."""
    total = 0
    for part in (pipeline.models.dit, pipeline.models.text.model, pipeline.models.vae.model):
        for tensor in list(part.parameters()) + list(part.buffers()):
            total += tensor_bytes(tensor)
    return total


def tensor_bytes(tensor) -> int:
    """Bytes a tensor really holds; a quantised wrapper (torchao Int8Tensor) counts its inner data."""
    from torch.utils._python_dispatch import is_traceable_wrapper_subclass

    if is_traceable_wrapper_subclass(tensor):
        names, _ = tensor.__tensor_flatten__()
        return sum(tensor_bytes(getattr(tensor, name)) for name in names)
    return tensor.numel() * tensor.element_size()


def calibration_key(pipeline) -> str:
    import torch

    models = pipeline.models
    ids = ",".join(f"{i.name}:" + "+".join(d[:12] for _, d in i.weight_sha256) for i in models.identities)
    # Options that change speed or memory are part of the key; plain options (no quantisation,
    # eager, no offload, VAE on the device) measure the same as a pipeline built without any.
    runtime = getattr(pipeline, "runtime", None)
    plain = runtime is None or not (runtime.quantization != "none" or runtime.compile or runtime.offload
                                    or runtime.vae_on_cpu)
    options = "" if plain else "|" + ",".join(runtime.variant())
    return f"{models.device}|{str(models.dtype).replace('torch.', '')}|torch {torch.__version__}|{ids}{options}"


def calibrate(pipeline, ctx=None, *, lengths: tuple[float, float] | None = None,
              repeats: int | None = None) -> Calibration:
    """Measure this pipeline's per-stage costs on its device (short real runs at two lengths)."""
    lengths = lengths or CALIBRATION_SECONDS
    repeats = repeats or CALIBRATION_REPEATS
    from engine.tasks.request import GenerationRequest

    guidance = 1.0 if pipeline.is_turbo else 7.0
    samples: dict[str, list[tuple[int, float, float]]] = {name: [] for name in STAGES}
    measured = True
    warm = GenerationRequest(caption="calibration", duration=lengths[0], timesteps=CALIBRATION_TIMES[0],
                             guidance_scale=guidance, seeds=(0,))
    pipeline(warm, ctx)  # first call pays one-off costs (allocator, kernels); not measured
    for seconds in lengths:
        frames = round(seconds * FRAMES_PER_SECOND)
        best = {"text": math.inf, "vae": math.inf}
        diffusion = {}
        peaks = {"text": 0, "diffusion": 0, "vae": 0}
        for times in CALIBRATION_TIMES:
            req = warm.with_changes(duration=seconds, timesteps=times)
            steps = len(pipeline.schedule_for(req)) - 1
            diffusion[steps] = math.inf
            for _ in range(max(1, repeats)):
                with _PeakMemory(pipeline.models.device) as text_peak:
                    t0 = time.perf_counter()
                    _encode_once(pipeline, req)
                    best["text"] = min(best["text"], time.perf_counter() - t0)
                with _PeakMemory(pipeline.models.device) as peak:
                    result = pipeline(req, _StageContext(ctx, peak))
                timings = dict(result.timings_s)
                diffusion[steps] = min(diffusion[steps], timings["diffusion"])
                best["vae"] = min(best["vae"], timings["vae_decode"])
                stage = peak.stage_peaks
                # Each heavy stage is charged its own peak (the sampler knew which stage ran);
                # without stage data (no progress seen) the whole run's peak bounds both.
                peaks = {"text": max(peaks["text"], text_peak.peak),
                         "diffusion": max(peaks["diffusion"], stage.get("diffusion", peak.peak)),
                         "vae": max(peaks["vae"], stage.get("vae decode", peak.peak))}
                measured = measured and peak.measured
        (few, d_few), (many, d_many) = sorted(diffusion.items())
        per_step = max(0.0, (d_many - d_few) / (many - few))
        # Text encoding depends on the caption and lyrics, not on the length: one constant.
        samples["text_encode"].append((frames, best["text"], peaks["text"]))
        samples["diffusion_run"].append((frames, max(0.0, d_few - few * per_step), 0.0))
        samples["diffusion_step"].append((frames, per_step, peaks["diffusion"]))
        samples["vae_decode"].append((frames, best["vae"], peaks["vae"]))
    fitted = {name: _fit(points) for name, points in samples.items()}
    text = samples["text_encode"]
    fitted["text_encode"] = StageCost(sum(p[1] for p in text) / len(text), 0.0,
                                      max(p[2] for p in text), 0.0)
    return Calibration(
        key=calibration_key(pipeline),
        device=str(pipeline.models.device),
        weights_bytes=weights_bytes(pipeline),
        cfg_calibrated=guidance > 1.0,
        memory_measured=measured,
        measured_at=time.time(),
        **fitted,
    )


def _encode_once(pipeline, req) -> None:
    from engine.tasks.conditioning import plan_task

    pipeline.encode_prompt(plan_task(req, None), 1)


def _fit(points: list[tuple[int, float, float]]) -> StageCost:
    (f1, s1, b1), (f2, s2, b2) = points[0], points[-1]
    span = max(f2 - f1, 1)
    per_s = max(0.0, (s2 - s1) / span)
    per_b = max(0.0, (b2 - b1) / span)
    return StageCost(max(0.0, s1 - per_s * f1), per_s, max(0.0, b1 - per_b * f1), per_b)


# -- storing --------------------------------------------------------------------------------


def calibration_path() -> Path:
    from engine.settings import data_dir

    return data_dir() / CALIBRATION_FILE


def _read_store(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def stored_calibration(key: str, path: Path | None = None) -> Calibration | None:
    raw = _read_store(path or calibration_path()).get(key)
    if not isinstance(raw, dict):
        return None
    try:
        return Calibration.from_json(raw)
    except (TypeError, KeyError):
        return None  # written by another version: measure again


MODEL_INDEX = "_by_model"  # store section: "<DiT folder>|<device type>" -> the latest key + family


def model_alias(dit_folder: str | Path, device_type: str) -> str:
    return f"{Path(dit_folder).resolve()}|{device_type}"


def pipeline_alias(pipeline) -> tuple[str, str] | None:
    """(alias, family) of a pipeline built from a checkpoints folder, for the torch-free lookup."""
    ids = pipeline.models.identities
    if not ids:
        return None
    return model_alias(ids[0].path, pipeline.models.device.type), pipeline.family


def calibration_for_model(dit_folder: str | Path, device_type: str, path: Path | None = None
                          ) -> tuple[Calibration, str] | None:
    """The latest calibration measured for this DiT folder on this kind of device, and the
    model's family, without loading anything (the app's preflight line runs on the UI thread).
    Runtime options or the weights may have changed since; the next measurement replaces it."""
    store = _read_store(path or calibration_path())
    entry = (store.get(MODEL_INDEX) or {}).get(model_alias(dit_folder, device_type))
    if not isinstance(entry, dict) or not isinstance(store.get(entry.get("key")), dict):
        return None
    try:
        return Calibration.from_json(store[entry["key"]]), str(entry.get("family", "turbo"))
    except (TypeError, KeyError):
        return None


def save_calibration(calib: Calibration, path: Path | None = None, alias: tuple[str, str] | None = None) -> Path:
    path = path or calibration_path()
    store = _read_store(path)
    store[calib.key] = calib.to_json()
    if alias is not None:
        index = store.get(MODEL_INDEX) if isinstance(store.get(MODEL_INDEX), dict) else {}
        index[alias[0]] = {"key": calib.key, "family": alias[1]}
        store[MODEL_INDEX] = index
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(store, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_or_calibrate(pipeline, ctx=None, path: Path | None = None) -> Calibration:
    """The stored calibration for this pipeline, measuring (and storing) it on first use."""
    found = stored_calibration(calibration_key(pipeline), path)
    if found is not None:
        alias = pipeline_alias(pipeline)
        if alias is not None and calibration_for_model(alias[0].rsplit("|", 1)[0], alias[0].rsplit("|", 1)[1], path) is None:
            save_calibration(found, path, alias=alias)  # stored by an older version: index it
        return found
    calib = calibrate(pipeline, ctx)
    save_calibration(calib, path, alias=pipeline_alias(pipeline))
    return calib


# -- predicting -----------------------------------------------------------------------------


def available_bytes(device) -> int:
    """Memory a job may use: the accelerator's total, or the RAM the OS says is available
    (plus what this process already holds, since the loaded weights are in it)."""
    if str(device).startswith("cuda"):  # torch is loaded whenever a CUDA calibration exists
        import torch

        device = torch.device(device)
        return int(torch.cuda.get_device_properties(device.index or 0).total_memory)
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in handle}
        return info["MemAvailable"] + (_rss_bytes() or 0)
    except (OSError, KeyError, ValueError, IndexError):
        from engine.runtime.memory_tier import system_ram_gb

        ram = system_ram_gb()
        return int((ram or 8.0) * GB)


def request_frames(req) -> int:
    """Latent frames the request will generate (duration or codes; 30 s when neither is given)."""
    if req.audio_codes:
        return 5 * len(req.audio_codes)
    duration = req.duration
    if duration is None and isinstance(req.source_audio, str | Path) and req.source_audio:
        try:
            import soundfile

            duration = soundfile.info(str(req.source_audio)).duration
        except (RuntimeError, OSError):
            duration = None
    return max(1, math.ceil((duration or DEFAULT_DURATION_S) * FRAMES_PER_SECOND))


def _steps(req, family: str) -> int:
    if req.timesteps:
        return max(1, len([t for t in req.timesteps if t > 0]))
    return 8 if family == "turbo" else (req.steps or 32)


def _needs(req, calib: Calibration, family: str, frames: int, batch: int) -> tuple[float, dict[str, float]]:
    cfg = family != "turbo" and req.guidance_scale > 1.0
    width = batch * (2 if cfg else 1) / (2 if calib.cfg_calibrated else 1)
    steps = _steps(req, family)
    stages = {
        "text encode": calib.text_encode.seconds(frames) * batch,
        "diffusion": (calib.diffusion_run.seconds(frames) + calib.diffusion_step.seconds(frames) * steps) * width,
        "vae decode": calib.vae_decode.seconds(frames) * batch,
    }
    peak = calib.weights_bytes + max(
        calib.text_encode.bytes(frames) * batch,
        calib.diffusion_step.bytes(frames) * width,
        calib.vae_decode.bytes(frames),  # one item at a time
    )
    return peak, stages


def predict(req, calib: Calibration, family: str, available: int | None = None, *,
            offload_possible: bool | None = None) -> PreflightResult:
    """Peak memory and seconds for `req` from a calibration (no model is run)."""
    if family not in ("turbo", "base", "sft"):
        raise ValidationError(f"family must be turbo, base or sft, got {family!r}")
    if available is None:
        available = available_bytes(calib.device)
    frames = request_frames(req)
    batch = max(1, req.batch_size)
    peak, stages = _needs(req, calib, family, frames, batch)
    seconds = sum(stages.values())
    fits = peak <= available
    lm = bool(getattr(req, "effective_thinking", False))
    suggestions: list[str] = []
    if not fits:
        for b in range(batch - 1, 0, -1):
            if _needs(req, calib, family, frames, b)[0] <= available:
                suggestions.append(f"batch {b}")
                break
        for secs in (240, 180, 120, 60, 30, 10):  # each suggestion is an alternative on its own
            f = secs * FRAMES_PER_SECOND
            if f < frames and _needs(req, calib, family, f, batch)[0] <= available:
                suggestions.append(f"{secs} s")
                break
        if offload_possible if offload_possible is not None else calib.device.startswith("cuda"):
            suggestions.append("offload")
    if fits:
        line = f"fits · about {_human_seconds(seconds)}" + (" + planner LM" if lm else "")
    else:
        line = f"needs {_gb(peak)}, you have {_gb(available)}"
        if suggestions:
            line += ": try " + " / ".join(suggestions)
    if not calib.memory_measured:
        line += " (memory not measured on this system)"
    return PreflightResult(
        fits=fits, peak_bytes=int(peak), available_bytes=int(available), seconds=seconds,
        stage_seconds=tuple(stages.items()), suggestions=tuple(suggestions), lm_unknown=lm,
        memory_measured=calib.memory_measured, line=line,
    )


def _gb(n: float) -> str:
    gb = n / GB
    return f"{gb:.0f} GB" if gb >= 10 else f"{gb:.1f} GB" if gb >= 0.1 else f"{n / 1024**2:.0f} MB"


def _human_seconds(s: float) -> str:
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    return f"{s / 60:.0f} min"


def preflight(req, pipeline, ctx=None, available: int | None = None) -> PreflightResult:
    """`predict` with this pipeline's stored (or freshly measured) calibration."""
    return predict(req, load_or_calibrate(pipeline, ctx), pipeline.family, available)
