"""Preflight: will THIS request fit on THIS device, and about how long will it take?

    calib = load_or_calibrate(pipeline)         # measured once per (device, dtype, models), stored
    result = predict(request, calib, pipeline.family)
    print(result.line)                          # "fits · about 42 s" / "needs 11 GB, you have 8 GB: ..."

Cost model. A calibration runs the real pipeline on this machine (two short lengths, two step
counts, batch 1) and measures, per stage, seconds and the peak memory above the loaded weights.
Each stage is fitted as `fixed + per_unit * work`, where `work` is what that stage really scales
with, so a per-call overhead (Python, kernel launches, thread wake-ups: most of a tiny model's
time) is never multiplied by the batch:

- text encode: the caption is encoded ONCE and its rows repeated per item (encode_prompt), so it
  is one constant, independent of length and batch.
- diffusion: per step `fixed + (per_unit + per_row * (rows - 1)) * attention_frames(frames)`;
  rows = batch (x2 with classifier-free guidance on base/SFT); `per_row` is measured by one
  batch-2 run (a tiny DiT's second row is almost free, a real one's costs like the first);
  `attention_frames` weights each frame by the FLOPs of one
  DiT token at that length (linear layers + full attention growing with the length + sliding
  attention up to its window, from the DiT config), so the quadratic part of full attention is in
  the model instead of being extrapolated linearly. Plus a once-per-run part (condition encoding,
  sampler set-up) `fixed + per_unit * rows * frames`.
- VAE decode: items one at a time, each in the VAE's own decode tiles (512 latent frames with a
  64-frame overlap by default): seconds are summed tile by tile (`fixed + per_frame * tile`), and
  memory is that of the LARGEST tile plus the decoded audio that accumulates (the tiles bound the
  activations; extrapolating one window's growth to a 4-minute song over-predicted by 2x).
- the rest of the call (source/reference set-up, noise, codes of the result): `fixed + per_unit *
  batch * frames`.

A shape met for the first time in a process costs extra once, in seconds and in peak memory (see
CALIBRATION_REPEATS); the DiT and VAE record what they ran, and `predict(...,
seen=seen_shapes(pipeline))` charges that extra only for shapes not run yet (a fresh process: all
new). The app's line, on a thread without a pipeline, reads what the worker's jobs published
(`published_seen_shapes`).

Peak memory = weights + the largest stage peak. Stored in
`engine.settings.data_dir()/preflight_calibration.json`, keyed by device, dtype, torch version and
the identities of the loaded models, so a new model or device re-measures. Calibrating on a busy
machine makes every prediction slow by the same factor: each length runs `CALIBRATION_REPEATS`
times or more (within CALIBRATION_BUDGET_S) and the fastest run counts.

Peak memory is measured with `torch.cuda.max_memory_allocated` on CUDA and by sampling the
process's resident set (/proc/self/statm) every 2 ms on the CPU; without /proc (macOS, Windows)
the CPU peak is not measured and the prediction says so. The planner LM (thinking) has its own
calibration (engine.runtime.preflight_lm); without one its time is reported as unknown.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import threading
import time
import weakref
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from engine.errors import ValidationError

CALIBRATION_FILE = "preflight_calibration.json"
FRAMES_PER_SECOND = 25  # VAE latent rate
CALIBRATION_SECONDS = (5.0, 20.0)  # two lengths far enough apart -> fixed + per-frame
# Each length runs this often: the first run meets tensor shapes this process has not seen, the
# others the same shapes again. A new shape costs extra once (oneDNN builds its conv and matmul
# primitives per shape, the allocator maps new blocks: on the tiny model the first 30 s run took
# 3.5 CPU s, the next ones at 30 s 1.5 s, at 31 s again 2.3 s), so the calibration keeps the warm
# cost (the fastest repeat) and the new-shape extra (first minus warm) apart: a request pays the
# extra once per distinct shape (its first decode tile of each length, its DiT batch x length),
# and the warm cost for every tile and item. Calibrating on repeats alone under-predicted new
# lengths by ~33 %; charging every tile the cold cost over-predicted batches by 50-100 %.
CALIBRATION_REPEATS = 2
# ... at least; while one length's warm repeats have taken less than CALIBRATION_BUDGET_S it runs
# more, up to CALIBRATION_MAX_REPEATS in all. With one warm sample a length's cost was whatever
# that one run met: on the shared 2-core machine 1 calibration in 3 came out 30-40 % slow and
# over-predicted every request by as much. A tiny model's runs take 0.3-0.7 s, so it gets 5 warm
# samples (the fastest counts; calibration 4 -> 8 s); a real-size model's take minutes: 2 runs.
CALIBRATION_BUDGET_S = 3.0
CALIBRATION_MAX_REPEATS = 6
# A custom 4-step schedule (any family accepts timesteps). Each step is timed on its own from the
# sampler's per-step progress; the median of the steps after the first is the cost of a step (the
# first also fills the cross-attention K/V cache), the rest of diffusion is its once-per-run part
# (condition encoding, set-up). The earlier design, the difference of a 2-step and a 4-step run,
# was the difference of two noisy totals: on the loaded 2-core machine it came out <= 0 for the
# tiny model, so every step was predicted free (8-step runs under-predicted by 30-50 %).
CALIBRATION_TIMES = (1.0, 0.75, 0.5, 0.25)
DEFAULT_DURATION_S = 30.0
GB = 1024**3
STAGES = ("text_encode", "diffusion_run", "diffusion_step", "vae_decode", "other", "vae_new_shape",
          "diffusion_new_shape", "diffusion_row")
# One more calibration run, at the longer length with this batch, is stopped after diffusion: the
# cost of a step's extra rows is measured, not assumed. A tiny DiT on the CPU is bound by per-op
# overhead, so a second item cost ~0 (20 s x2: 0.22 s of diffusion vs 0.24 s x1) while the model
# charged it in full; a real-size one is bound by its matmuls and a row costs about as much as
# the first.
CALIBRATION_BATCH = 2
# One latent frame decodes to 1920 stereo float32 samples (48 kHz / 25 Hz): the audio a decode
# accumulates beyond its tiles' activations.
AUDIO_BYTES_PER_FRAME = 1920 * 2 * 4


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
    vae_decode: StageCost  # per decode tile: `per_frame` times the tile's frames
    measured_at: float
    other: StageCost = StageCost(0.0, 0.0, 0.0, 0.0)  # rest of the call, per batch x frames
    # Seconds a shape not seen before adds, once: per decode tile length, per DiT run.
    vae_new_shape: StageCost = StageCost(0.0, 0.0, 0.0, 0.0)
    diffusion_new_shape: StageCost = StageCost(0.0, 0.0, 0.0, 0.0)
    # Attention FLOPs per token per attended token, relative to one token's linear-layer FLOPs
    # (from the DiT config; 0 = purely linear), and the DiT's patch size (frames per token).
    attention_per_token: float = 0.0
    patch_size: int = 2
    vae_chunk: int = 512  # the VAE's decode tiling at calibration time (latent frames)
    vae_overlap: int = 64
    # Per step, each DiT row beyond the first: `per_frame` seconds and bytes per attention-
    # weighted frame (CALIBRATION_BATCH). `rows_measured` False (a hand-made or older
    # calibration): every row is charged as the first.
    diffusion_row: StageCost = StageCost(0.0, 0.0, 0.0, 0.0)
    rows_measured: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        stages = {name: StageCost(**data[name]) for name in STAGES}  # KeyError: an older build's
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
    lm_tokens: int = 0  # tokens the planner LM is expected to decode (0: no planner or unknown)


@dataclass(frozen=True)
class SeenShapes:
    """Shapes this process has already run, so a request repeating them pays no new-shape extra
    (a second take of the same length is cheaper than the first: the tiny VAE's first decode of a
    length costs ~2x its warm decode). Empty = every shape is new, as in a fresh process."""

    dit: frozenset[tuple[int, int]] = frozenset()  # (rows, latent frames) the DiT denoised
    vae: frozenset[int] = frozenset()  # latent frames of each window the VAE decoded


def seen_shapes(pipeline) -> SeenShapes:
    """What `pipeline`'s loaded DiT and VAE have run in this process (their own records)."""
    models = pipeline.models
    return SeenShapes(dit=frozenset(getattr(models.dit, "shapes_seen", ())),
                      vae=frozenset(getattr(models.vae, "window_lengths_seen", ())))


# What the worker's loaded pipelines have run, for the app's preflight line on the UI thread (it
# has no pipeline of its own and would charge every shape as new: a second take of the same
# length was over-predicted by its new-shape extra). A job publishes an immutable snapshot when it
# ends; a weak reference to its pipeline retires the snapshot once the model cache drops it.
_published_lock = threading.Lock()
_published: dict[str, tuple[weakref.ref, SeenShapes]] = {}


def publish_seen_shapes(pipeline) -> None:
    """Record what `pipeline` has run so far (call on the thread that runs it, after a job)."""
    alias = pipeline_alias(pipeline)
    if alias is None:
        return
    snapshot = seen_shapes(pipeline)
    with _published_lock:
        _published[alias[0]] = (weakref.ref(pipeline), snapshot)


def published_seen_shapes(dit_folder: str | Path, device_type: str) -> SeenShapes:
    """The latest snapshot for this DiT folder and device kind, from any thread; empty when no
    job has run it or its pipeline is gone."""
    with _published_lock:
        entry = _published.get(model_alias(dit_folder, device_type))
    if entry is None or entry[0]() is None:
        return SeenShapes()
    return entry[1]


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


class _StopRun(Exception):  # noqa: N818 - not an error: a calibration run ends early on purpose
    """Raised from a calibration run's progress to skip the stages it does not measure."""


class _StageContext:
    """A JobContext stand-in for calibration runs: forwards cancel/progress to the real context
    (if any) and tells the memory sampler which stage is running."""

    def __init__(self, ctx, peak: _PeakMemory, stop_at: str | None = None) -> None:
        self._ctx = ctx
        self._peak = peak
        self._stop_at = stop_at  # a stage name: the run ends (_StopRun) when it begins
        self.step_marks: list[float] = []  # clock at each diffusion progress (before each step, at the end)

    def check_cancelled(self) -> None:
        if self._ctx is not None:
            self._ctx.check_cancelled()

    def progress(self, stage: str, step: int, total: int, *args, **kwargs) -> None:
        if stage == self._stop_at:
            raise _StopRun(stage)
        if stage == "diffusion":
            self.step_marks.append(time.perf_counter())
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
    # The thread count changes a CPU run's speed (2 threads are not 2x one): measured per count.
    threads = f"|{torch.get_num_threads()} threads" if models.device.type == "cpu" else ""
    return (f"{models.device}|{str(models.dtype).replace('torch.', '')}|torch {torch.__version__}|{ids}{options}"
            f"{threads}")


def calibrate(pipeline, ctx=None, *, lengths: tuple[float, float] | None = None,
              repeats: int | None = None, budget_s: float | None = None) -> Calibration:
    """Measure this pipeline's per-stage costs on its device (short real runs at two lengths).

    Each length runs at least `repeats` times, and more (up to CALIBRATION_MAX_REPEATS) while its
    warm repeats have taken less than `budget_s` seconds."""
    lengths = lengths or CALIBRATION_SECONDS
    repeats = max(1, repeats or CALIBRATION_REPEATS)
    budget_s = CALIBRATION_BUDGET_S if budget_s is None else budget_s
    from engine.tasks.request import GenerationRequest

    guidance = 1.0 if pipeline.is_turbo else 7.0
    attention, patch = attention_profile(pipeline.dit)
    tiling = _vae_tiling(pipeline)
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in STAGES}
    measured = True
    warm = GenerationRequest(caption="calibration", duration=max(1.0, lengths[0] / 2), timesteps=CALIBRATION_TIMES,
                             guidance_scale=guidance, seeds=(0,))
    pipeline(warm, ctx)  # the process's one-off costs (first kernels, imports): not measured
    # The VAE's large-tensor path (the fused Snake, compiled once per process) may only begin
    # above the warm run's length: one window a little longer than the calibration's longest
    # takes that one-off out of the longer length's new-shape cost (on the tiny VAE it had
    # doubled it, and every request's first decode of a length was over-predicted by ~2x).
    _warm_decode(pipeline, request_frames(warm.with_changes(duration=lengths[-1])) + 3)
    for seconds in lengths:
        req = warm.with_changes(duration=seconds)
        frames = request_frames(req)  # what the runs really generate
        best = {"text": math.inf, "vae": math.inf, "other": math.inf, "run": math.inf}
        first: dict[str, float] = {}
        step_times: list[float] = []
        peaks = {"text": 0}
        warm_peaks: dict[str, list[float]] = {"diffusion": [], "vae": []}
        warm_spent = 0.0
        repeat = 0
        while repeat < repeats or (warm_spent < budget_s and repeat < CALIBRATION_MAX_REPEATS):
            started = time.perf_counter()
            with _PeakMemory(pipeline.models.device) as text_peak:
                t0 = time.perf_counter()
                _encode_once(pipeline, req)
                best["text"] = min(best["text"], time.perf_counter() - t0)
            with _PeakMemory(pipeline.models.device) as peak:
                stage_ctx = _StageContext(ctx, peak)
                result = pipeline(req, stage_ctx)
            timings = dict(result.timings_s)
            marks = stage_ctx.step_marks  # before step 0 .. before the last step, then the end
            steps = [b - a for a, b in zip(marks, marks[1:], strict=False)]
            later = steps[1:] or steps
            step_times += later
            run = timings["diffusion"] - len(steps) * statistics.median(later) if later else timings["diffusion"]
            stage = peak.stage_peaks
            # Each heavy stage is charged its own peak (the sampler knew which stage ran);
            # without stage data (no progress seen) the whole run's peak bounds both.
            run_peaks = {"diffusion": stage.get("diffusion", peak.peak), "vae": stage.get("vae decode", peak.peak)}
            # New shapes are kept apart from the warm repeats (when there are any), in seconds and
            # in memory: memory too is higher the first time a shape runs (oneDNN builds and caches
            # its primitives and reordered weights: the tiny VAE's first 500-frame decode peaked
            # at 265 MB, the next ones at 133 MB).
            if repeat == 0:
                first = {"run": max(0.0, run), "vae": timings["vae_decode"],
                         "diffusion_peak": run_peaks["diffusion"], "vae_peak": run_peaks["vae"]}
            if repeat > 0 or repeats == 1:
                best["run"] = min(best["run"], max(0.0, run))
                best["vae"] = min(best["vae"], timings["vae_decode"])
                for name in ("diffusion", "vae"):
                    warm_peaks[name].append(run_peaks[name])
            rest = timings["total"] - timings["text_encode"] - timings["diffusion"] - timings["vae_decode"]
            best["other"] = min(best["other"], max(0.0, rest))
            peaks["text"] = max(peaks["text"], text_peak.peak)
            measured = measured and peak.measured
            if repeat > 0:
                warm_spent += time.perf_counter() - started
            repeat += 1
        # The resident set's peak wobbles from run to run (the allocator's timing): the median
        # of the warm runs (their maximum could only grow with the number of repeats).
        peaks.update({name: statistics.median(values) for name, values in warm_peaks.items()})
        per_step = statistics.median(step_times) if step_times else 0.0
        # Text encoding depends on the caption and lyrics, not on the length: one constant.
        samples["text_encode"].append((frames, best["text"], peaks["text"]))
        samples["diffusion_run"].append((frames, best["run"], 0.0))
        # A step's cost is fitted against attention-weighted frames (see attention_frames).
        samples["diffusion_step"].append((attention_frames(frames, attention, patch), per_step, peaks["diffusion"]))
        # Calibration lengths stay within one decode tile, so this fits one tile's cost.
        samples["vae_decode"].append((frames, best["vae"], peaks["vae"]))
        samples["other"].append((frames, best["other"], 0.0))
        samples["vae_new_shape"].append((frames, max(0.0, first["vae"] - best["vae"]),
                                         max(0.0, first["vae_peak"] - peaks["vae"])))
        samples["diffusion_new_shape"].append((frames, max(0.0, first["run"] - best["run"]),
                                               max(0.0, first["diffusion_peak"] - peaks["diffusion"])))
    fitted = {name: _fit(points) for name, points in samples.items() if name != "diffusion_row"}
    # The batch-2 run meets a new shape: compared with the longer length's own first peak.
    row = _measure_extra_rows(pipeline, ctx, warm.with_changes(duration=lengths[-1]),
                              attention_frames(frames, attention, patch), per_step, first["diffusion_peak"])
    fitted["diffusion_row"] = row or StageCost(0.0, 0.0, 0.0, 0.0)
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
        attention_per_token=attention,
        patch_size=patch,
        vae_chunk=tiling[0],
        vae_overlap=tiling[1],
        rows_measured=row is not None,
        **fitted,
    )


def _warm_decode(pipeline, frames: int) -> None:
    import torch

    vae = pipeline.models.vae
    z = torch.randn(1, frames, vae.latent_channels, generator=torch.Generator().manual_seed(0))  # [1, T, C]
    vae.decode(z)


def _measure_extra_rows(pipeline, ctx, req, work: float, one_row_step_s: float, one_row_peak: float
                        ) -> StageCost | None:
    """Per step, what each DiT row beyond the first costs: one run of `req` with
    CALIBRATION_BATCH items, stopped when diffusion ends (its decode is items one at a time, which
    the per-tile cost already covers), against the same length's one-row step seconds and first
    peak; `work` is its attention-weighted frames. None when the sampler reported too few steps."""
    batch = CALIBRATION_BATCH
    with _PeakMemory(pipeline.models.device) as peak:
        stage_ctx = _StageContext(ctx, peak, stop_at="vae decode")
        try:
            pipeline(req.with_changes(batch_size=batch, seeds=tuple(range(batch))), stage_ctx)
        except _StopRun:
            pass
    marks = stage_ctx.step_marks
    steps = [b - a for a, b in zip(marks, marks[1:], strict=False)][1:]  # the first meets new shapes
    if not steps:
        return None
    extra = (batch - 1) * work  # extra rows x work
    seconds = max(0.0, statistics.median(steps) - one_row_step_s) / extra
    grown = max(0.0, peak.stage_peaks.get("diffusion", peak.peak) - one_row_peak) / extra
    return StageCost(0.0, seconds, 0.0, grown)


def attention_profile(dit) -> tuple[float, int]:
    """(attention FLOPs per token per attended token / linear FLOPs per token, patch size).

    Per DiT layer and latent token: self-attention projections (q, o: H*hd x d; k, v: KV*hd x d),
    cross-attention q and o (its K/V are computed once per run: dit_cross_cache), and the gated
    MLP (3 x d x I), 2 FLOPs per multiply-add; attention itself is 4*H*hd FLOPs per token pair
    (QK^T and AV). Sliding-window layers count as dense: their window is a mask on a full
    attention (diffusers' dense mask), which costs the same T^2 except with flash-attention.
    A DiT without a readable config is treated as purely linear.
    """
    cfg = getattr(dit, "config", None)
    try:
        d, heads, kv = int(cfg.hidden_size), int(cfg.num_attention_heads), int(cfg.num_key_value_heads)
        hd, inner, patch = int(cfg.head_dim), int(cfg.intermediate_size), int(cfg.patch_size)
    except (AttributeError, TypeError, ValueError):
        return 0.0, 2
    linear = 2 * (2 * d * heads * hd + 2 * d * kv * hd) + 2 * (2 * d * heads * hd) + 2 * 3 * d * inner
    return (4 * heads * hd) / linear, max(1, patch)


def attention_frames(frames: float, attention_per_token: float, patch: int) -> float:
    """Frames weighted by what one DiT step costs per frame at this length: a token's linear
    work plus attention over all `frames / patch` tokens (the quadratic part)."""
    tokens = math.ceil(frames / max(1, patch))
    return frames * (1.0 + attention_per_token * tokens)


def decode_tiles(frames: int, chunk: int, overlap: int) -> list[int]:
    """Frames of each window the VAE decodes for one item (mirrors AudioVAE._decode_tiled:
    stride chunk - 2*overlap, each core widened by the overlap on both sides)."""
    if frames <= chunk or chunk - 2 * overlap <= 0:
        return [frames]
    stride = chunk - 2 * overlap
    return [min(frames, min(core + stride, frames) + overlap) - max(0, core - overlap)
            for core in range(0, frames, stride)]


def _vae_tiling(pipeline) -> tuple[int, int]:
    from engine.models.vae import default_decode_tiling

    tiling = default_decode_tiling(pipeline.models.device).normalised()
    return tiling.chunk, tiling.overlap


def _encode_once(pipeline, req) -> None:
    from engine.tasks.conditioning import plan_task

    pipeline.encode_prompt(plan_task(req, None), 1)


def _fit(points: list[tuple[float, float, float]]) -> StageCost:
    """The line through the shorter and the longer length's (seconds, bytes), its fixed part
    clamped at >= 0 (slope kept): between the lengths that over-predicts a cost that starts late,
    which is the safe side for memory. The new-shape extra is one (the tiny VAE's first decode
    peaked 0.5 MB above its warm ones at 128 frames, 126 MB at 500); its line through both points,
    floored at 0, under-predicted a first 30 s request by 22 % while the clamped one over-predicts
    a 10 s one by 27-74 %: a refused job is recoverable, an out-of-memory one is not."""
    (f1, s1, b1), (f2, s2, b2) = points[0], points[-1]
    if f2 <= f1:  # both lengths ran the same frames (each is at least MIN_FRAMES): no slope to fit
        return StageCost(min(s1, s2), 0.0, max(b1, b2), 0.0)
    span = f2 - f1
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
    """Latent frames the request will generate (duration or codes; 30 s when neither is given),
    as plan_task counts them: whole frames of the samples, never fewer than MIN_FRAMES (5.12 s)."""
    from engine.tasks import constants as C

    if req.audio_codes:
        return max(C.MIN_FRAMES, 5 * len(req.audio_codes))
    duration = req.duration
    if duration is None and isinstance(req.source_audio, str | Path) and req.source_audio:
        try:
            import soundfile

            duration = soundfile.info(str(req.source_audio)).duration
        except (RuntimeError, OSError):
            duration = None
    return max(C.MIN_FRAMES, int((duration or DEFAULT_DURATION_S) * C.SAMPLE_RATE) // C.HOP)


def _steps(req, family: str) -> int:
    if req.timesteps:
        return max(1, len([t for t in req.timesteps if t > 0]))
    return 8 if family == "turbo" else (req.steps or 32)


def _needs(req, calib: Calibration, family: str, frames: int, batch: int,
           seen: SeenShapes = SeenShapes()) -> tuple[float, dict[str, float]]:
    cfg = family != "turbo" and req.guidance_scale > 1.0
    dit_rows = batch * (2 if cfg else 1)  # guidance runs cond + uncond rows in one forward
    # Rows through the DiT relative to the calibration's (which ran with guidance on base/SFT).
    rows = dit_rows / (2 if calib.cfg_calibrated else 1)
    steps = _steps(req, family)
    run, step, vae = calib.diffusion_run, calib.diffusion_step, calib.vae_decode
    # Rows beyond the calibration's: their measured cost, or (not measured) each as the first.
    row = calib.diffusion_row if calib.rows_measured else replace(step, fixed_s=0.0, fixed_bytes=0.0)
    first_rows, extra_rows = min(rows, 1.0), max(0.0, rows - 1.0)
    work = attention_frames(frames, calib.attention_per_token, calib.patch_size)
    tiles = decode_tiles(frames, calib.vae_chunk, calib.vae_overlap)
    new_tiles = set(tiles) - seen.vae
    new_dit = (dit_rows, frames) not in seen.dit
    stages = {
        "text encode": calib.text_encode.fixed_s,  # once per call, rows repeated per item
        # A DiT shape (rows x frames) this process has not run costs its new-shape extra once.
        "diffusion": run.fixed_s + run.per_frame_s * rows * frames
        + (calib.diffusion_new_shape.seconds(frames) if new_dit else 0.0)
        + steps * (step.fixed_s + (step.per_frame_s * first_rows + row.per_frame_s * extra_rows) * work),
        # One item at a time, tile by tile; each tile length not decoded yet is new once.
        "vae decode": batch * sum(vae.seconds(t) for t in tiles)
        + sum(calib.vae_new_shape.seconds(t) for t in new_tiles),
        "other": calib.other.fixed_s + calib.other.per_frame_s * batch * frames,
    }
    largest = max(tiles)
    # Decode: one tile's activations at a time, plus the audio: this item's pieces and their
    # concatenation beyond the tile (2 copies), and the finished items' audio kept for the takes;
    # the first decode of a tile length peaks higher (its new-shape extra).
    vae_peak = vae.bytes(largest) + AUDIO_BYTES_PER_FRAME * (2 * (frames - largest) + (batch - 1) * frames) \
        + max((calib.vae_new_shape.bytes(t) for t in new_tiles), default=0.0)
    step_peak = step.fixed_bytes + (step.per_frame_bytes * first_rows + row.per_frame_bytes * extra_rows) * work \
        + (calib.diffusion_new_shape.bytes(frames) if new_dit else 0.0)
    peak = calib.weights_bytes + max(calib.text_encode.fixed_bytes, step_peak, vae_peak)
    return peak, stages


def _needs_all(req, calib: Calibration, family: str, frames: int, batch: int, lm=None,
               lm_loaded: bool = False, seen: SeenShapes = SeenShapes()) -> tuple[float, dict[str, float], int]:
    """(peak bytes, seconds per stage, LM tokens) of the whole request, the planner included."""
    if not getattr(req, "effective_thinking", False):
        peak, stages = _needs(req, calib, family, frames, batch, seen)
        return peak, stages, 0
    # Thinking: the DiT renders each planned item on its own (batch 1, _generate_with_planner),
    # text encode included: the first item meets new shapes, the others the same shapes warm.
    peak, first = _needs(req, calib, family, frames, 1, seen)
    none = StageCost(0.0, 0.0, 0.0, 0.0)
    _, again = _needs(req, replace(calib, vae_new_shape=none, diffusion_new_shape=none), family, frames, 1)
    stages = {name: first[name] + (batch - 1) * again[name] for name in first}
    if lm is None:
        return peak, stages, 0
    from engine.runtime.preflight_lm import lm_needs

    need = lm_needs(req, lm, frames, batch, loaded=lm_loaded)
    lm_stages = {"planner LM load": need.load_s} if need.load_s else {}
    lm_stages["planner LM"] = need.seconds - need.load_s
    # The LM stays loaded while the DiT renders (no offload between them on the CPU): both sets
    # of weights are resident, plus whichever stage peaks higher above them.
    dit_stage, lm_stage = peak - calib.weights_bytes, need.peak_bytes - lm.weights_bytes
    peak = calib.weights_bytes + lm.weights_bytes + max(dit_stage, lm_stage)
    return peak, {**lm_stages, **stages}, need.tokens


def predict(req, calib: Calibration, family: str, available: int | None = None, *,
            offload_possible: bool | None = None, lm=None, lm_loaded: bool = False,
            seen: SeenShapes | None = None) -> PreflightResult:
    """Peak memory and seconds for `req` from a calibration (no model is run).

    `lm`: the planner's LMCalibration (engine.runtime.preflight_lm) for a request that thinks;
    without one the LM's time is reported as unknown. `lm_loaded`: the LM is already in memory
    (no load time). `seen`: shapes the loaded models already ran in this process (seen_shapes);
    None = all new."""
    seen = seen or SeenShapes()
    if family not in ("turbo", "base", "sft"):
        raise ValidationError(f"family must be turbo, base or sft, got {family!r}")
    if available is None:
        available = available_bytes(calib.device)
    frames = request_frames(req)
    batch = max(1, req.batch_size)
    peak, stages, lm_tokens = _needs_all(req, calib, family, frames, batch, lm, lm_loaded, seen)
    seconds = sum(stages.values())
    fits = peak <= available
    thinking = bool(getattr(req, "effective_thinking", False))
    lm_unknown = thinking and lm is None
    suggestions: list[str] = []
    if not fits:
        for b in range(batch - 1, 0, -1):
            if _needs_all(req, calib, family, frames, b, lm, lm_loaded)[0] <= available:
                suggestions.append(f"batch {b}")
                break
        for secs in (240, 180, 120, 60, 30, 10):  # each suggestion is an alternative on its own
            f = secs * FRAMES_PER_SECOND
            if f < frames and _needs_all(req, calib, family, f, batch, lm, lm_loaded)[0] <= available:
                suggestions.append(f"{secs} s")
                break
        if offload_possible if offload_possible is not None else calib.device.startswith("cuda"):
            suggestions.append("offload")
        elif not suggestions and calib.weights_bytes > available:
            # The weights alone do not fit: no batch or length can help, only other weights.
            suggestions.append("a smaller model")
    if fits:
        line = f"fits · about {_human_seconds(seconds)}" + (" + planner LM" if lm_unknown else "")
        if thinking and not lm_unknown:
            planner = sum(v for k, v in stages.items() if k.startswith("planner LM"))
            line += f" (planner LM {_human_seconds(planner)}, ~{lm_tokens} tokens)"
    else:
        line = f"needs {_gb(peak)}, you have {_gb(available)}"
        if suggestions:
            line += ": try " + " / ".join(suggestions)
    if not calib.memory_measured:
        line += " (memory not measured on this system)"
    return PreflightResult(
        fits=fits, peak_bytes=int(peak), available_bytes=int(available), seconds=seconds,
        stage_seconds=tuple(stages.items()), suggestions=tuple(suggestions), lm_unknown=lm_unknown,
        memory_measured=calib.memory_measured, line=line, lm_tokens=lm_tokens,
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
    """`predict` with this pipeline's stored (or freshly measured) calibrations, the planner
    LM's too when the request thinks."""
    lm, loaded = None, False
    if getattr(req, "effective_thinking", False):
        from engine.runtime.preflight_lm import load_or_calibrate_lm

        lm = load_or_calibrate_lm(pipeline, req.lm_model, ctx)
        loaded = getattr(pipeline, "_planner", None) is not None and pipeline._planner_name == req.lm_model
    calib = load_or_calibrate(pipeline, ctx)
    return predict(req, calib, pipeline.family, available, lm=lm, lm_loaded=loaded, seen=seen_shapes(pipeline))
