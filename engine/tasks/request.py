"""The generation request: one frozen value holding every parameter of a generation.

Names and defaults follow upstream's GenerationParams / GenerationConfig (upstream_lm_tools.md
§8.1) where they exist; the product defaults differ only where the reference recommends it
(shift 3.0, the UI default). `validate_request` checks everything that does not need the model;
the pipeline checks model-dependent rules (base-family tasks, turbo step limits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ValidationError
from engine.lora.spec import LoraSpec, validate_loras
from engine.tasks import constants as C
from engine.tasks.source_latents import SourceLatents

AudioInput = str | Path | np.ndarray | None  # a file path, or float32 [channels, frames] at 48 kHz
_SAMPLE_RATE_RANGE = (1_000, 1_536_000)  # what engine.audio.files accepts for a file


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """Every parameter of one generation (one batch of takes).

    Attributes mirror upstream names; see the CLI's --help for user-facing descriptions.
    Audio arrays are compared by identity (never by value) and must be [channels, frames].
    """

    task: str = "text2music"
    caption: str = ""
    lyrics: str = ""
    instrumental: bool = False  # True: lyrics become "[Instrumental]"
    bpm: int | None = None
    keyscale: str = ""
    timesignature: str = ""
    vocal_language: str = "unknown"
    duration: float | None = None  # seconds; None = from the source audio / codes, else 30 s

    reference_audio: AudioInput = field(default=None, compare=False)
    source_audio: AudioInput = field(default=None, compare=False)
    source_sample_rate: int = C.SAMPLE_RATE  # only for array sources
    reference_sample_rate: int = C.SAMPLE_RATE
    audio_codes: tuple[int, ...] | None = None  # 5 Hz FSQ codes (e.g. from the planner LM)

    repaint_start: float = 0.0  # seconds; < 0 adds an intro
    repaint_end: float = -1.0  # seconds; -1 = end of the source; past the end extends
    repaint_mode: str = "balanced"  # aggressive | balanced | conservative
    repaint_strength: float = 0.5
    audio_cover_strength: float = 1.0
    cover_noise_strength: float = 0.0
    tracks: tuple[str, ...] = ()  # lego/extract: one name; complete: one or more
    # Bounded-context editing (engine.studio.regions): the source's latents when they are known
    # (a generated take's own; no VAE encode then), and decoding only the window plus a margin,
    # spliced into the source audio (repaint/lego; the rest of the output IS the source).
    source_latents: SourceLatents | None = field(default=None, compare=False)
    decode_window_only: bool = False

    steps: int | None = None  # None: 8 for turbo, 32 for base/SFT
    guidance_scale: float = 7.0  # ignored (forced to 1) for turbo
    shift: float = 3.0
    infer_method: str = "ode"
    sampler_mode: str = "euler"  # euler | heun (upstream's Heun corrector; ODE only, 2x model calls)
    timesteps: tuple[float, ...] | None = None
    cfg_interval_start: float = 0.0
    cfg_interval_end: float = 1.0
    guidance_method: str = "apg"  # apg (default) | adg | cfg
    # DCW wavelet corrector. None = upstream's newest default for the loaded model: on for turbo
    # (double, 0.05 / 0.02, haar), off for base/SFT; True/False force it. The pipeline records
    # the resolved value in the take's provenance, so a re-run from the sidecar is identical.
    dcw_enabled: bool | None = None
    dcw_mode: str = "double"
    dcw_scaler: float = 0.05
    dcw_high_scaler: float = 0.02
    dcw_wavelet: str = "haar"  # the only wavelet upstream uses (and the only one we implement)
    # Chunk mask (a documented choice, ARCHITECTURE.md "Differences from upstream"): windows
    # (repaint, lego with a region) are always explicit 0/1; whole-song tasks send this value.
    # 1.0 = what most deployed upstream sent for its "auto" mode (a bool bug); 2.0 = the fixed
    # "auto" sentinel ("the model decides"). Recorded in provenance with the request.
    chunk_mask_auto_value: float = 1.0

    batch_size: int = 1
    seeds: tuple[int, ...] | None = None  # per item; -1 or missing entries = random
    # Retake (upstream 2026-04): a nearby variation of a take. Item k's initial noise becomes
    # cos(v·π/2)·noise(seed_k) + sin(v·π/2)·noise(retake_seed + k), v = retake_variance
    # (0 = the take itself, 1 = retake_seed's take; the blend keeps unit variance).
    retake_seed: int | None = None
    retake_variance: float = 0.0

    thinking: bool = False
    lm_model: str | None = None
    lm_temperature: float = 0.85
    lm_cfg_scale: float = 2.0
    lm_top_k: int = 0
    lm_top_p: float = 0.9
    lm_negative_prompt: str = "NO USER INPUT"
    use_cot_metas: bool = True
    use_cot_caption: bool = True
    use_cot_language: bool = True
    constrained_decoding: bool = True

    # LoRA adapters on the DiT decoder (engine.lora.spec.LoraSpec), each with its scale. The
    # pipeline fills in name + sha256, so the provenance says which adapter bytes made the take.
    loras: tuple[LoraSpec, ...] = ()

    output_format: str = "flac"
    normalize: bool = True
    normalization_db: float = -1.0

    @property
    def effective_lyrics(self) -> str:
        """`[Instrumental]` when asked for; otherwise the lyrics as given, empty ones included
        (upstream passes empty lyrics through to the lyric prompt unchanged)."""
        return C.INSTRUMENTAL if self.instrumental else self.lyrics

    @property
    def effective_thinking(self) -> bool:
        """`thinking` is forced off for tasks that must follow the given audio (lego/extract/complete)
        and for tasks whose structure comes from the source (cover/repaint), as upstream skips the LM."""
        return self.thinking and self.task == "text2music" and self.audio_codes is None

    def with_changes(self, **changes: Any) -> GenerationRequest:
        return replace(self, **changes)


def _fail(param: str, message: str) -> None:
    raise ValidationError(f"{param}: {message}")


def _in_range(param: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        _fail(param, f"must be a number, got {value!r}")
    if not low <= value <= high:
        _fail(param, f"must be between {low:g} and {high:g}, got {value:g}")


def validate_request(req: GenerationRequest) -> None:
    """Raise ValidationError naming the first bad parameter. Model-independent checks only."""
    _validate_sampler_overlays(req)
    validate_loras(req.loras)
    if req.task not in C.TASKS:
        _fail("task", f"must be one of {', '.join(C.TASKS)}, got {req.task!r}")
    if req.bpm is not None:
        if isinstance(req.bpm, bool) or not isinstance(req.bpm, int):
            _fail("bpm", f"must be a whole number, got {req.bpm!r}")
        _in_range("bpm", req.bpm, *C.BPM_RANGE)
    if req.timesignature and req.timesignature not in C.TIME_SIGNATURES:
        _fail("timesignature", f"must be one of {', '.join(C.TIME_SIGNATURES)} (beats per bar), "
              f"got {req.timesignature!r}")
    if req.duration is not None:
        _in_range("duration", req.duration, *C.DURATION_RANGE)
    if req.task in C.TASKS_NEEDING_SOURCE and _is_missing(req.source_audio):
        _fail("source_audio", f"task {req.task!r} needs source audio")
    if req.task == "cover" and _is_missing(req.source_audio) and not req.audio_codes:
        _fail("source_audio", "task 'cover' needs source audio or audio codes")
    for name, audio in (("source_audio", req.source_audio), ("reference_audio", req.reference_audio)):
        if isinstance(audio, np.ndarray) and (audio.ndim not in (1, 2) or audio.size == 0):
            _fail(name, f"an array must be [channels, frames] and non-empty, got shape {audio.shape}")
    for name in ("source_sample_rate", "reference_sample_rate"):
        rate = getattr(req, name)
        if not _is_whole(rate) or not _SAMPLE_RATE_RANGE[0] <= rate <= _SAMPLE_RATE_RANGE[1]:
            _fail(name, f"must be a whole number of Hz in {_SAMPLE_RATE_RANGE[0]}–{_SAMPLE_RATE_RANGE[1]}, "
                  f"got {rate!r}")
    if req.audio_codes is not None:
        if len(req.audio_codes) == 0:
            _fail("audio_codes", "is empty")
        not_whole = [c for c in req.audio_codes if not _is_whole(c)]
        if not_whole:
            _fail("audio_codes", f"codes must be whole numbers, got {not_whole[:3]!r}")
        bad = [c for c in req.audio_codes if not 0 <= int(c) < 64000]
        if bad:
            _fail("audio_codes", f"codes must be in [0, 64000), got {bad[:3]}")
    # Bounded before anything is sized from them: repaint_start=1e6 tried to allocate 358 GiB.
    _in_range("repaint_start", req.repaint_start, -C.DURATION_RANGE[1], C.DURATION_RANGE[1])
    if req.repaint_end is not None and req.repaint_end != -1:
        _in_range("repaint_end", req.repaint_end, -C.DURATION_RANGE[1], C.DURATION_RANGE[1])
    if req.task == "repaint":
        end = req.repaint_end
        if end != -1 and end is not None:
            if end <= req.repaint_start:
                _fail("repaint_end", f"must be after repaint_start ({req.repaint_start:g} s), got {end:g} s")
            length = end - req.repaint_start
            if not C.REPAINT_WINDOW_RANGE[0] <= length <= C.REPAINT_WINDOW_RANGE[1]:
                _fail("repaint_end", f"the repaint window must be {C.REPAINT_WINDOW_RANGE[0]:g}–"
                      f"{C.REPAINT_WINDOW_RANGE[1]:g} s long, got {length:g} s")
    if req.source_latents is not None:
        if not isinstance(req.source_latents, SourceLatents):
            _fail("source_latents", f"must be a SourceLatents, got {type(req.source_latents).__name__}")
        if _is_missing(req.source_audio):
            _fail("source_latents", "need the source audio they stand for (source_audio)")
    if not isinstance(req.decode_window_only, bool):
        _fail("decode_window_only", f"must be true or false, got {req.decode_window_only!r}")
    if req.decode_window_only and req.task not in ("repaint", "lego"):
        _fail("decode_window_only", f"only repaint and lego have a window, not {req.task!r}")
    if req.repaint_mode not in ("aggressive", "balanced", "conservative"):
        _fail("repaint_mode", f"must be aggressive, balanced or conservative, got {req.repaint_mode!r}")
    _in_range("repaint_strength", req.repaint_strength, 0.0, 1.0)
    _in_range("audio_cover_strength", req.audio_cover_strength, 0.0, 1.0)
    _in_range("cover_noise_strength", req.cover_noise_strength, 0.0, 1.0)
    for track in req.tracks:
        if track not in C.TRACK_NAMES:
            _fail("tracks", f"unknown track {track!r}; choose from {', '.join(C.TRACK_NAMES)}")
    if req.task in ("lego", "extract") and len(req.tracks) > 1:
        _fail("tracks", f"task {req.task!r} takes one track name, got {len(req.tracks)}")
    if req.steps is not None:
        if isinstance(req.steps, bool) or not isinstance(req.steps, int):
            _fail("steps", f"must be a whole number, got {req.steps!r}")
        _in_range("steps", req.steps, *C.STEPS_RANGE)
    _in_range("guidance_scale", req.guidance_scale, *C.GUIDANCE_RANGE)
    _in_range("shift", req.shift, *C.SHIFT_RANGE)
    if req.infer_method not in ("ode", "sde"):
        _fail("infer_method", f"must be 'ode' or 'sde', got {req.infer_method!r}")
    if req.timesteps is not None:
        if not req.timesteps or any(not 0.0 <= t <= 1.0 for t in req.timesteps):
            _fail("timesteps", "must be a non-empty list of times in [0, 1]")
        if any(a < b for a, b in zip(req.timesteps, req.timesteps[1:], strict=False)):
            _fail("timesteps", "must be decreasing (from noise at 1 towards 0)")
    _in_range("cfg_interval_start", req.cfg_interval_start, 0.0, 1.0)
    _in_range("cfg_interval_end", req.cfg_interval_end, 0.0, 1.0)
    if req.cfg_interval_start > req.cfg_interval_end:
        _fail("cfg_interval_start", "must not be after cfg_interval_end")
    if req.guidance_method not in ("apg", "adg", "cfg"):
        _fail("guidance_method", f"must be apg, adg or cfg, got {req.guidance_method!r}")
    if req.dcw_mode not in ("low", "high", "double"):
        _fail("dcw_mode", f"must be low, high or double, got {req.dcw_mode!r}")
    _in_range("dcw_scaler", req.dcw_scaler, 0.0, 1.0)
    _in_range("dcw_high_scaler", req.dcw_high_scaler, 0.0, 1.0)
    if isinstance(req.batch_size, bool) or not isinstance(req.batch_size, int):
        _fail("batch_size", f"must be a whole number, got {req.batch_size!r}")
    _in_range("batch_size", req.batch_size, *C.BATCH_RANGE)
    if req.seeds is not None:
        if len(req.seeds) > req.batch_size:
            _fail("seeds", f"{len(req.seeds)} seeds given for batch_size {req.batch_size}")
        for s in req.seeds:
            if not _is_whole(s):
                _fail("seeds", f"each seed must be a whole number, got {s!r}")
            if s != -1 and not C.SEED_RANGE[0] <= s <= C.SEED_RANGE[1]:
                _fail("seeds", f"each seed must be -1 (random) or in [0, 2^32-1], got {s}")
    _in_range("lm_temperature", req.lm_temperature, 0.0, 2.0)
    _in_range("lm_top_p", req.lm_top_p, 0.0, 1.0)
    if req.output_format not in C.OUTPUT_FORMATS:
        _fail("output_format", f"must be one of {', '.join(C.OUTPUT_FORMATS)}, got {req.output_format!r}")
    _in_range("normalization_db", req.normalization_db, -60.0, 0.0)


def _validate_sampler_overlays(req: GenerationRequest) -> None:
    """Checks of the DCW / chunk-mask / retake fields (kept apart from validate_request's body)."""
    if req.dcw_enabled is not None and not isinstance(req.dcw_enabled, bool):
        _fail("dcw_enabled", f"must be true, false or null (the model's default), got {req.dcw_enabled!r}")
    if req.dcw_wavelet != "haar":
        _fail("dcw_wavelet", f"only 'haar' is supported (as upstream), got {req.dcw_wavelet!r}")
    _in_range("chunk_mask_auto_value", req.chunk_mask_auto_value, 0.0, 2.0)
    if req.sampler_mode not in ("euler", "heun"):
        _fail("sampler_mode", f"must be euler or heun, got {req.sampler_mode!r}")
    if req.sampler_mode == "heun" and req.infer_method != "ode":
        _fail("sampler_mode", "heun is an ODE corrector; use infer_method 'ode'")
    _in_range("retake_variance", req.retake_variance, 0.0, 1.0)
    if req.retake_seed is not None:
        if isinstance(req.retake_seed, bool) or not isinstance(req.retake_seed, int):
            _fail("retake_seed", f"must be a whole number, got {req.retake_seed!r}")
        _in_range("retake_seed", req.retake_seed, *C.SEED_RANGE)
    elif req.retake_variance > 0:
        _fail("retake_seed", "is needed when retake_variance > 0")


def check_repaint_window(req: GenerationRequest, source_seconds: float) -> None:
    """Repaint/lego rules that need the source's length (known once it is loaded).

    Why: a window far past the source end (100–110 s on a 10 s source) passed validation, then
    padded the source with 100 s of silence and sat in VAE encode for minutes. The window must
    start inside the source (or before it, for an intro), and source + intro + extension must
    fit the longest generation.
    """
    if req.task not in ("repaint", "lego"):
        return
    start = req.repaint_start
    end = source_seconds if req.repaint_end is None or req.repaint_end < 0 else req.repaint_end
    if start >= source_seconds:
        _fail("repaint_start", f"{start:g} s is past the end of the source audio ({source_seconds:g} s)")
    total = max(end, source_seconds) + max(0.0, -start)
    if total > C.DURATION_RANGE[1]:
        _fail("repaint_end", f"source plus intro/extension would be {total:g} s; at most "
              f"{C.DURATION_RANGE[1]:g} s")
    if req.task == "repaint" and (req.repaint_end is None or req.repaint_end < 0):
        length = source_seconds - start
        low, high = C.REPAINT_WINDOW_RANGE
        if not low <= length <= high:
            _fail("repaint_start", f"the window to the end of the source is {length:g} s; "
                  f"it must be {low:g}–{high:g} s long")


def _is_whole(value: Any) -> bool:
    """An int (or numpy integer), never a bool, float or string."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_missing(audio: AudioInput) -> bool:
    return audio is None or (isinstance(audio, str) and not audio)


def resolve_seeds(req: GenerationRequest, rng: np.random.Generator | None = None) -> tuple[int, ...]:
    """One seed per batch item: given seeds in order; -1 and missing entries become random."""
    rng = rng or np.random.default_rng()
    given = list(req.seeds or ())
    given += [-1] * (req.batch_size - len(given))
    return tuple(int(rng.integers(0, 2**32)) if s == -1 else int(s) for s in given)


def request_to_dict(req: GenerationRequest) -> dict[str, Any]:
    """JSON-ready parameters (audio arrays become a description; paths become strings)."""
    out: dict[str, Any] = {}
    for f in fields(req):
        value = getattr(req, f.name)
        if isinstance(value, np.ndarray):
            value = {"array": list(value.shape)}
        elif isinstance(value, Path):
            value = str(value)
        elif f.name == "loras":
            value = [spec.to_dict() for spec in value]
        elif isinstance(value, SourceLatents):
            value = value.to_dict()
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def request_from_dict(data: dict[str, Any]) -> GenerationRequest:
    """Inverse of request_to_dict for file-based requests (arrays cannot be restored)."""
    known = {f.name for f in fields(GenerationRequest)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            continue
        if key == "source_latents":
            continue  # never in a sidecar: a re-run encodes the source (recipe_of restores them)
        if isinstance(value, dict) and "array" in value:
            raise ValidationError(f"{key}: the sidecar refers to in-memory audio, which cannot be re-read")
        if key in ("tracks", "seeds", "audio_codes", "timesteps") and value is not None:
            value = tuple(value)
        if key == "loras":
            value = tuple(LoraSpec.from_dict(item) for item in (value or ()))
        kwargs[key] = value
    return GenerationRequest(**kwargs)
