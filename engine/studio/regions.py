"""Generative edits on the arrangement, headless: repaint a region, extend, add an intro, add a
layer (lego), extract stems, complete, remix, retake.

Each builder runs on the main thread, reads the document ONCE (the audio the model will hear is
rendered here, by the engine mixer, so mute/solo and the comp are what the user hears now), and
returns a frozen `RegionEdit`: `job` (submit it on the JobQueue like any job, or `run_edit`
inline) and `land(project, result)`, which turns the finished result into ONE undo step with
provenance in every new take's meta ("edit": what, where, which context and tracks; plus the
request, seeds and models as for every generated take).

What the users of upstream complain about is made impossible here, and tested
(tests/engine/test_regions.py):
- lego / extract / complete refuse a silent source instead of running on silence, and the
  source is the mix rendered here (never "no audio");
- repaint sends exactly the selected window (checked 3–90 s) and the given lyrics; the take
  holds exactly the window and plays through a comp segment with equal-power crossfades inside
  it, so the mix outside the window is bit-identical;
- extend / intro send `context_s` seconds of the clip around the join (1 s .. the model limit),
  and the new take keeps that audio.

Bounded context (repaint / extend, `context="bounded"`, the default): the model gets the window
± a margin as its whole sequence, so a 10 s repaint of a 4-minute song is a 30 s render
(benchmarks/bench_bounded_repaint.py). What makes the crop safe:
- latent frames: the crop starts on the active take's latent grid (25 Hz, 1920 samples), so its
  stored latents are a plain slice, frame for frame;
- positions: the DiT's self-attention uses RoPE, which depends only on the distance between
  frames, so a window at frame 3000 of the song and at frame 250 of the crop see the same
  neighbourhood; what changes is only that context beyond the margin is not heard;
- the repaint mask and silence latents are those of the crop (the pipeline plans the crop as
  its source), and the window's own source latents are never used (repaint silences them);
- decoding: only the window + `tasks.regions.DECODE_MARGIN_FRAMES` each side goes through the
  VAE, more than its decoder's receptive field, and the splice's crossfade lies inside that.

All positions are integer frames at 48 kHz; `start` / `end` arguments are TIMELINE frames.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import ValidationError
from engine.project.assets import Asset
from engine.project.commands import (
    AddClip,
    AddTake,
    AddTrack,
    ReshapeClip,
    SetComp,
    SetCrossfade,
    add_region_take,
    comp_with,
    region_of,
)
from engine.studio.landing import short_caption, take_meta
from engine.studio.session import SOURCE_ASSET_KEY, with_project_audio
from engine.timebase import SAMPLE_RATE

if TYPE_CHECKING:
    from engine.jobs import JobContext, JobSpec, ModelCache
    from engine.project import Project
    from engine.project.model import Clip
    from engine.project.model import Take as ProjectTake
    from engine.tasks.request import GenerationRequest

SR = SAMPLE_RATE
HOP = 1920  # VAE samples per latent frame (engine.tasks.constants.HOP; kept torch-free here)
EDIT_META_KEY = "edit"
MAX_MODEL_SECONDS = 600.0  # engine.tasks.constants.DURATION_RANGE[1]: the longest audio the DiT takes
MIN_CONTEXT_S = 1.0
CONTEXT_MODES = ("bounded", "full")  # repaint/extend: the window ± a margin, or the whole clip
DEFAULT_MARGIN_S = 10.0  # repaint's context each side in bounded mode (extend's default context too)
SILENT_PEAK = 1e-6  # engine.tasks.audio_inputs.is_silent's threshold


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class LandedEdit:
    """What landing an edit made (ids in the document).

    Attributes:
        clip_ids: the clips that got takes (edited clips, or the new clips on new tracks).
        take_ids: the new takes.
        track_ids: the NEW tracks only (layer / extract / complete); () for edits of a clip.
    """

    clip_ids: tuple[str, ...]
    take_ids: tuple[str, ...]
    track_ids: tuple[str, ...]


@dataclass(frozen=True)
class RegionEdit:
    """A prepared generative edit: submit `job`, then `land(project, result)` on the main thread.

    Attributes:
        job: a GenerateJob, or a MultiGenerateJob for extract / complete (one job, many parts).
        label: the undo text and job label ("Repaint 'airy pad'").
        op: "repaint" | "extend" | "intro" | "layer" | "extract" | "complete" | "remix" | "retake".
    """

    job: JobSpec
    label: str
    op: str
    _lander: Callable[[Project, Any], LandedEdit]

    def land(self, project: Project, result: Any) -> LandedEdit:
        """One undo step named `label`. Thread: main."""
        return self._lander(project, result)


@dataclass(frozen=True)
class RegionDefaults:
    """What a region dialog starts with: the clip's own generation settings, else the project's."""

    caption: str = ""
    lyrics: str = ""
    bpm: int | None = None
    keyscale: str = ""
    timesignature: str = ""
    vocal_language: str = "unknown"
    instrumental: bool = False


def run_edit(project: Project, edit: RegionEdit, ctx: JobContext | None = None,
             models: ModelCache | None = None) -> LandedEdit:
    """Run the edit's job on this thread and land it (tests, scripts, the CLI)."""
    from engine.jobs import JobContext, ModelCache

    result = edit.job.run(models or ModelCache(), ctx or JobContext.inline())
    return edit.land(project, result)


# ------------------------------------------------------------------ shared helpers


def _results(result: Any) -> list:
    """The GenerationResults of a GenerateJob (one) or a MultiGenerateJob (many)."""
    return list(result.results) if hasattr(result, "results") else [result]


def _seed(seed: int | None) -> int:
    if seed is None:
        return int(np.random.default_rng().integers(0, 2**32))
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValidationError(f"seed: must be a whole number in [0, 2^32-1], got {seed!r}")
    return seed


def _frames(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValidationError(f"{name}: must be a timeline frame >= 0, got {value!r}")
    return int(value)


def _seconds(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValidationError(f"{name}: must be {low:g}–{high:g} s, got {value!r}")
    return float(value)


def _pad_to_hop(wav: np.ndarray) -> np.ndarray:
    """Zeros after the audio up to a whole latent frame, so the output covers every sample."""
    extra = (-wav.shape[1]) % HOP
    return np.pad(wav, ((0, 0), (0, extra))) if extra else wav


def _crop(audio: np.ndarray, start: int, frames: int) -> np.ndarray:
    """audio[:, start : start + frames] as float32, zero-padded if the output is shorter."""
    out = np.zeros((2, frames), np.float32)
    piece = np.asarray(audio[:, start : start + frames], np.float32)
    out[:, : piece.shape[1]] = piece
    return out


def _check_not_silent(wav: np.ndarray, what: str) -> None:
    if wav.size == 0 or float(np.abs(wav).max()) < SILENT_PEAK:
        raise ValidationError(f"{what}: the audio there is silent, so the model would have no context; "
                              "unmute or choose tracks that play in the selection")


def _source_asset(project: Project, wav: np.ndarray, name: str) -> str:
    """The context the model hears, kept as a project asset (saved with the project because a
    take's meta names it), so the take can be re-rendered after reopening."""
    return project.assets.add_asset(Asset.from_samples(wav, name)).id


def _request(task: str, source_id: str | None, project: Project, *, reference_asset: str | None = None,
             **fields: Any) -> tuple[GenerationRequest, dict[str, Any]]:
    from engine.tasks.request import GenerationRequest, validate_request

    try:
        req = GenerationRequest(task=task, **fields)
    except TypeError as exc:  # an unknown setting name
        raise ValidationError(f"settings: {exc}") from None
    req, meta = with_project_audio(project, req, source_asset=source_id, reference_asset=reference_asset)
    validate_request(req)  # the message names the parameter; nothing is submitted
    return req, meta


def _job(requests: Sequence[GenerationRequest], label: str, *, checkpoints, model, device, dtype,
         item_labels: Sequence[str] = (), multi: bool = False) -> JobSpec:
    from engine.models.locations import checkpoints_dir

    root = checkpoints_dir(checkpoints)
    if len(requests) == 1 and not multi:
        from engine.jobs.generation import GenerateJob

        return GenerateJob(request=requests[0], checkpoints=root, model=model, device=device, dtype=dtype,
                           label=label)
    from engine.jobs.multi_generation import MultiGenerateJob

    return MultiGenerateJob(requests=tuple(requests), checkpoints=root, model=model, device=device, dtype=dtype,
                            item_labels=tuple(item_labels), label=label)


def _settings(seed: int | None, settings: Mapping[str, Any]) -> dict[str, Any]:
    fields = dict(settings)
    if "seeds" not in fields:
        fields["seeds"] = (_seed(seed),)
    fields.setdefault("batch_size", len(fields["seeds"]))
    return fields


def track_label(instrument: str) -> str:
    """'backing_vocals' -> 'Backing vocals' (a new stem track's name)."""
    return instrument.replace("_", " ").capitalize()


def _check_instruments(values: Any, name: str, single: bool = False) -> tuple[str, ...]:
    from engine.tasks.constants import TRACK_NAMES

    items = (values,) if isinstance(values, str) else tuple(values or ())
    if not items:
        raise ValidationError(f"{name}: choose at least one of {', '.join(TRACK_NAMES)}")
    for item in items:
        if item not in TRACK_NAMES:
            raise ValidationError(f"{name}: unknown track {item!r}; choose from {', '.join(TRACK_NAMES)}")
    if len(set(items)) != len(items):
        raise ValidationError(f"{name}: each track once")
    if single and len(items) != 1:
        raise ValidationError(f"{name}: one instrument")
    return items


def _range(start: Any, end: Any, what: str = "selection") -> tuple[int, int]:
    start, end = _frames(start, "start"), _frames(end, "end")
    if end <= start:
        raise ValidationError(f"end: the {what} must end after it starts ({start} .. {end})")
    seconds = (end - start) / SR
    if seconds > MAX_MODEL_SECONDS:
        raise ValidationError(f"end: the {what} is {seconds:g} s; the model takes at most {MAX_MODEL_SECONDS:g} s")
    if seconds < 1.0:
        raise ValidationError(f"end: the {what} is {seconds:g} s; at least 1 s")
    return start, end


def _need_base(task: str, checkpoints) -> None:
    message = base_model_needed(task, checkpoints)
    if message is not None:
        raise ValidationError(f"model: {message}")


def _edit_meta(op: str, **info: Any) -> dict[str, Any]:
    return {EDIT_META_KEY: {"op": op, **info}}


def _clip_source_end(clip: Clip) -> int:
    return clip.source_offset + clip.length


# ------------------------------------------------------------------ base models


def base_model_needed(task: str, checkpoints: str | Path | None = None) -> str | None:
    """None when `task` runs on any model or a base-family DiT is installed; else a message naming
    the model to get and the command that gets it (from the catalogue)."""
    from engine.tasks.constants import BASE_ONLY_TASKS

    if task not in BASE_ONLY_TASKS:
        return None
    from engine.models.locations import checkpoints_dir

    root = checkpoints_dir(checkpoints)
    if _has_base_dit(root):
        return None
    name = "acestep-v15-base"
    try:
        from engine.models.catalogue import load_catalogue

        bases = [e for e in load_catalogue().of_kind("dit") if e.family == "base" and task in e.tasks]
        if bases:
            name = bases[0].name
    except Exception:  # noqa: BLE001 - a broken catalogue must not hide the message itself
        pass
    return (f"'{task}' needs a base-family model, and none is installed in {root}. "
            f"Get {name} with: legato models download {name} (or in the Models panel)")


def _has_base_dit(root: Path) -> bool:
    """A DiT folder whose config says base family (not turbo, not SFT). Torch-free."""
    from engine.errors import CheckpointError
    from engine.models.config_guard import read_json

    if not root.is_dir():
        return False
    for folder in sorted(root.iterdir()):
        if not (folder / "config.json").is_file():
            continue
        try:
            config = read_json(folder / "config.json")
        except CheckpointError:
            continue
        if config.get("model_type") != "acestep" or config.get("is_turbo"):
            continue
        version = str(config.get("model_version") or "").lower()
        if "sft" not in version and "sft" not in folder.name.lower():
            return True
    return False


# ------------------------------------------------------------------ prefill


def prefill(project: Project, clip_id: str) -> RegionDefaults:
    """Defaults for a region dialog: caption, lyrics and metas of the clip's active take (its
    recorded request), else the project's BPM and time signature."""
    from engine.tasks.constants import BPM_RANGE, TIME_SIGNATURES

    clip = project.clip(clip_id)
    req = clip.active_take.meta.get("request")
    bpm = int(round(project.tempo_bpm))
    bpm = bpm if BPM_RANGE[0] <= bpm <= BPM_RANGE[1] else None
    ts = str(project.time_signature.numerator)
    ts = ts if ts in TIME_SIGNATURES else ""
    if not isinstance(req, Mapping):
        return RegionDefaults(bpm=bpm, timesignature=ts)

    def text(key: str, default: str = "") -> str:
        value = req.get(key)
        return value if isinstance(value, str) else default

    took_bpm = req.get("bpm")
    return RegionDefaults(
        caption=text("caption"),
        lyrics=text("lyrics"),
        bpm=took_bpm if isinstance(took_bpm, int) and not isinstance(took_bpm, bool) else bpm,
        keyscale=text("keyscale"),
        timesignature=text("timesignature") or ts,
        vocal_language=text("vocal_language", "unknown"),
        instrumental=req.get("instrumental") is True,
    )


# ------------------------------------------------------------------ repaint


def repaint_region(project: Project, clip_id: str, start: int, end: int, *, caption: str = "", lyrics: str = "",
                   mode: str = "balanced", strength: float = 0.5, context: str = "bounded",
                   context_s: float | None = None, crossfade: int | None = None, seed: int | None = None,
                   checkpoints: str | Path | None = None, model: str | None = None, device: str = "auto",
                   dtype: str | None = None, **settings: Any) -> RegionEdit:
    """Repaint timeline frames [start, end) of a clip (3–90 s) with a new caption and lyrics.

    `context`: "bounded" (default) — the model hears and denoises only the window ± `context_s`
    seconds (default 10 s) of the clip's comped audio, and only the window plus a small margin
    is decoded and spliced in, so a 10 s repaint of a 4-minute song costs a 30 s render;
    "full" — the whole clip (upstream's behaviour; `context_s` must then be None). Either way
    the source latents are the active take's own when the latent store has them (no VAE
    encode), and the result lands as a region take holding exactly the window, played by a comp
    segment with equal-power crossfades of `crossfade` frames (None: the clip's) inside it.
    """
    from engine.tasks.constants import REPAINT_WINDOW_RANGE

    clip = project.clip(clip_id)
    start, end = _frames(start, "start"), _frames(end, "end")
    if not clip.position <= start < end <= clip.end:
        raise ValidationError(f"end: the repaint window {start}..{end} must lie inside the clip "
                              f"({clip.position}..{clip.end})")
    low, high = REPAINT_WINDOW_RANGE
    seconds = (end - start) / SR
    if not low <= seconds <= high:
        raise ValidationError(f"end: the repaint window must be {low:g}–{high:g} s long, got {seconds:.2f} s")
    if crossfade is not None:
        from engine.project.model import check_crossfade

        check_crossfade(crossfade)
    s0, s1 = clip.source_frame(start), clip.source_frame(end)
    mode_name = _context_mode(context)
    margin = _margin_s(mode_name, context_s, DEFAULT_MARGIN_S, 0.0, MAX_MODEL_SECONDS)
    lo, hi = clip.source_offset, _clip_source_end(clip)
    if margin is not None:
        c = int(round(margin * SR))
        lo, hi = max(lo, s0 - c), min(hi, s1 + c)
    lo = _on_latent_grid(clip, lo, clip.source_offset)
    if (hi - lo) / SR > MAX_MODEL_SECONDS:
        raise ValidationError(f"context_s: the window plus its context is {(hi - lo) / SR:g} s; the model "
                              f"takes at most {MAX_MODEL_SECONDS:g} s, so give a shorter context")
    from engine.audio.render_plan import render_clip_source

    wav = _pad_to_hop(render_clip_source(project, clip, lo, hi))
    frames = wav.shape[1] // HOP
    free = ((s0 - lo) // HOP, -(-(s1 - lo) // HOP))  # the window's frames: silenced by the pipeline
    latents, record = _cached_source_latents(clip, lo, frames, free, (s0, s1))
    label = f"Repaint '{short_caption(caption)}'"
    source_id = _source_asset(project, wav, f"{clip.name} · repaint context")
    req, meta = _request("repaint", source_id, project, caption=caption, lyrics=lyrics,
                         repaint_start=(s0 - lo) / SR, repaint_end=(s1 - lo) / SR, repaint_mode=mode,
                         repaint_strength=strength, source_latents=latents,
                         decode_window_only=mode_name == "bounded", **_settings(seed, settings))
    meta.update(_edit_meta("repaint", region=[start, end], source_region=[s0, s1], context=[lo, hi],
                           crop=[s0 - lo, s1 - s0], at=0, clip=clip_id, context_mode=mode_name,
                           margin_s=margin, latents=record))
    job = _job([req], label, checkpoints=checkpoints, model=model, device=device, dtype=dtype)

    def land(project: Project, result: Any) -> LandedEdit:
        (res,) = _results(result)
        ids = []
        with project.history.group(label):
            if crossfade is not None:
                project.history.push(SetCrossfade(clip_id=clip_id, new=crossfade))
            for k, take in enumerate(res.takes):
                audio = _crop(take.audio, s0 - lo, s1 - s0)
                asset = project.assets.add_asset(Asset.from_samples(audio, f"{label} · take {k + 1}"))
                ids.append(add_region_take(project, clip_id, s0, s1, asset.id, offset=s0,
                                           name=_take_name("repaint", caption, take.seed),
                                           meta=take_meta(take, meta), text=label))
            if len(ids) > 1:  # a batch: every take is a lane; the first one plays
                c = project.clip(clip_id)
                project.history.push(SetComp(clip_id, comp_with(c.comp, s0, s1, ids[0],
                                                                active_take_id=c.active_take_id)))
        return LandedEdit((clip_id,), tuple(ids), ())

    return RegionEdit(job, label, "repaint", land)


def _context_mode(context: Any) -> str:
    if context not in CONTEXT_MODES:
        raise ValidationError(f"context: must be one of {', '.join(CONTEXT_MODES)}, got {context!r}")
    return context


def _margin_s(mode: str, context_s: Any, default: float, low: float, high: float) -> float | None:
    """The context margin in seconds for "bounded" (None -> `default`); None for "full"."""
    if mode == "full":
        if context_s is not None:
            raise ValidationError("context_s: a context margin applies to context='bounded' only; "
                                  "'full' hears the whole clip")
        return None
    if context_s is None:
        return default
    return _seconds(context_s, "context_s", low, high)


def _on_latent_grid(clip: Clip, frame: int, floor: int) -> int:
    """`frame` moved back onto the latent frame grid of the active take's stored latents (so
    their frames line up with the crop's), staying >= `floor`; unchanged when none are stored."""
    from engine.studio.latent_store import default_store

    take = clip.active_take
    entry = default_store().get(take.asset_id)
    if entry is None:
        return frame
    origin = take.offset + entry.origin  # source frame where a stored latent frame starts
    snapped = origin + (frame - origin) // HOP * HOP
    return snapped if snapped >= floor else snapped + HOP


def _cached_source_latents(clip: Clip, lo: int, frames: int, free: tuple[int, int],
                           free_source: tuple[int, int]) -> tuple[Any, dict[str, Any] | None]:
    """The active take's stored latents for the crop's `frames` frames from source frame `lo`
    (a SourceLatents and its record for the provenance), or (None, None) -> the pipeline encodes
    the crop. Only when the take plays every heard sample outside the window: a comp segment of
    another take there means the audio is a blend no single take's latents stand for."""
    from engine.studio.latent_store import default_store, latents_from_record, latents_record

    take = clip.active_take
    hi = lo + frames * HOP
    a, b = free_source
    for seg in clip.comp:
        if seg.take_id != take.id and seg.end > lo and seg.start < hi and not (seg.start >= a and seg.end <= b):
            return None, None
    store = default_store()
    record = latents_record(store, take.asset_id, lo - take.offset, frames, free)
    found = latents_from_record(record, store) if record is not None else None
    return (found, record) if found is not None else (None, None)


def _take_name(op: str, caption: str, seed: int) -> str:
    return f"{op} · {short_caption(caption, 28)} · seed {seed}"


# ------------------------------------------------------------------ extend / intro


def _context_frames(context_s: Any, added_s: float, clip: Clip) -> int:
    limit = MAX_MODEL_SECONDS - added_s
    seconds = _seconds(context_s, "context_s", MIN_CONTEXT_S, limit)
    return min(int(round(seconds * SR)), clip.length)


def _check_added(seconds: float, name: str, what: str) -> None:
    from engine.tasks.constants import REPAINT_WINDOW_RANGE

    low, high = REPAINT_WINDOW_RANGE
    if not low <= seconds <= high:
        raise ValidationError(f"{name}: the {what} must be {low:g}–{high:g} s long (the model paints one "
                              f"window at a time), got {seconds:.2f} s")


def extend_clip(project: Project, clip_id: str, new_end: int, *, context: str = "bounded",
                context_s: float | None = None, caption: str = "", lyrics: str = "", seed: int | None = None,
                checkpoints: str | Path | None = None, model: str | None = None, device: str = "auto",
                dtype: str | None = None, **settings: Any) -> RegionEdit:
    """Lengthen a clip to timeline frame `new_end`: the model hears the last `context_s` seconds
    of the clip (1 s .. the model limit; default 10 s) with `context="bounded"`, or the whole
    clip (up to the model limit) with "full", and paints the new part after it. Bounded decodes
    only the new part plus a margin; the source latents are the active take's own when stored.
    Lands as a new ACTIVE take covering the whole new length (the clip's audio, then the
    context as the model returned it, then the new part); the comp is cleared."""
    clip = project.clip(clip_id)
    new_end = _frames(new_end, "new_end")
    if new_end <= clip.end:
        raise ValidationError(f"new_end: must be after the clip's end ({clip.end}), got {new_end}")
    ext = new_end - clip.end
    _check_added(ext / SR, "new_end", "extension")
    mode_name = _context_mode(context)
    margin = _margin_s(mode_name, context_s, DEFAULT_MARGIN_S, MIN_CONTEXT_S, MAX_MODEL_SECONDS - ext / SR)
    c = _context_frames(MAX_MODEL_SECONDS - ext / SR if margin is None else margin, ext / SR, clip)
    src_end = _clip_source_end(clip)
    c = src_end - _on_latent_grid(clip, src_end - c, clip.source_offset)
    from engine.audio.render_plan import render_clip_source

    head = render_clip_source(project, clip, clip.source_offset, src_end - c) if c < clip.length else None
    context = render_clip_source(project, clip, src_end - c, src_end)
    total = -(-(c + ext) // HOP) * HOP  # whole latent frames, so the output covers the extension
    label = f"Extend '{clip.name or 'clip'}'"
    # The source is the context followed by silence for the new part (what upstream's right pad
    # makes), so the window [c, total) starts inside the source as the pipeline requires.
    padded = np.pad(context, ((0, 0), (0, total - c)))
    latents, record = _cached_source_latents(clip, src_end - c, total // HOP, (c // HOP, total // HOP),
                                             (src_end, src_end))
    source_id = _source_asset(project, padded, f"{clip.name} · extend context")
    req, meta = _request("repaint", source_id, project, caption=caption, lyrics=lyrics, repaint_start=c / SR,
                         repaint_end=-1.0, source_latents=latents, decode_window_only=mode_name == "bounded",
                         **_settings(seed, settings))
    head_len = 0 if head is None else head.shape[1]
    meta.update(_edit_meta("extend", region=[clip.end, new_end], context=[src_end - c, src_end],
                           context_s=c / SR, crop=[0, c + ext], at=head_len, clip=clip_id, context_mode=mode_name,
                           margin_s=margin, latents=record))
    job = _job([req], label, checkpoints=checkpoints, model=model, device=device, dtype=dtype)
    old_take = clip.active_take

    def land(project: Project, result: Any) -> LandedEdit:
        (res,) = _results(result)
        take = res.takes[0]
        tail = _crop(take.audio, 0, c + ext)
        audio = tail if head is None else np.concatenate([head, tail], axis=1)
        now = project.clip(clip_id)
        asset = project.assets.add_asset(Asset.from_samples(audio, label))
        _remember_extended(asset.id, take, old_take, head_len, src_end - c)
        from engine.project.model import Take, new_id

        new = Take(new_id("take"), asset.id, _take_name("extend", caption, take.seed), take_meta(take, meta),
                   offset=now.source_offset)
        with project.history.group(label):
            project.history.push(ReshapeClip(clip_id, now.position, new_end - now.position, now.source_offset,
                                             now.takes + (new,), new.id, (), text=label))
        return LandedEdit((clip_id,), (new.id,), ())

    return RegionEdit(job, label, "extend", land)


def _remember_extended(asset_id: str, take: Any, old_take: ProjectTake, head_len: int, lo: int) -> None:
    """The extended take's latents for the latent store: the old take's stored frames for the
    head (the untouched audio before the context) followed by the new take's own, when both
    sit on one grid with the same VAE and gain (a cached-latent extend: the context frames ARE
    the old ones); else only the new part's own (frame 0 at the head's end)."""
    from engine.studio.latent_store import default_store, remember_take

    remember_take(asset_id, take, origin=head_len)  # at least the context + new part
    store = default_store()
    old, new = store.get(old_take.asset_id), store.get(asset_id)
    if old is None or new is None or old.vae != new.vae or abs(old.gain - new.gain) > 1e-6 * old.gain:
        return
    grid = old_take.offset + old.origin  # source frame where an old latent frame starts
    if (lo - grid) % HOP:
        return
    k0 = (lo - grid) // HOP  # the old frame starting at the context's first sample
    k = min(k0, -(-head_len // HOP))  # the old frames that cover the head
    if k <= 0:
        return
    joined = np.concatenate([old.latents[k0 - k : k0], new.latents], axis=0)  # [k + T, C]
    store.put(asset_id, joined, origin=head_len - k * HOP, gain=new.gain, vae=new.vae)


def add_intro(project: Project, clip_id: str, new_start: int, *, context_s: float = 10.0, caption: str = "",
              lyrics: str = "", seed: int | None = None, checkpoints: str | Path | None = None,
              model: str | None = None, device: str = "auto", dtype: str | None = None,
              **settings: Any) -> RegionEdit:
    """Start a clip earlier, at timeline frame `new_start`: the model hears the first
    `context_s` seconds and paints what comes before. Lands as a new ACTIVE take covering the
    whole new length; the other takes' offsets shift so they keep sounding where they did."""
    clip = project.clip(clip_id)
    new_start = _frames(new_start, "new_start")
    if new_start >= clip.position:
        raise ValidationError(f"new_start: must be before the clip's start ({clip.position}), got {new_start}")
    intro = clip.position - new_start
    _check_added(intro / SR, "new_start", "intro")
    c = _context_frames(context_s, intro / SR, clip)
    from engine.audio.render_plan import render_clip_source

    s0 = clip.source_offset
    context = render_clip_source(project, clip, s0, s0 + c)
    rest = render_clip_source(project, clip, s0, _clip_source_end(clip))
    label = f"Add intro to '{clip.name or 'clip'}'"
    source_id = _source_asset(project, context, f"{clip.name} · intro context")
    req, meta = _request("repaint", source_id, project, caption=caption, lyrics=lyrics, repaint_start=-intro / SR,
                         repaint_end=0.0, **_settings(seed, settings))
    meta.update(_edit_meta("intro", region=[new_start, clip.position], context=[s0, s0 + c], context_s=c / SR,
                           crop=[0, intro + c], at=0, clip=clip_id))
    job = _job([req], label, checkpoints=checkpoints, model=model, device=device, dtype=dtype)

    def land(project: Project, result: Any) -> LandedEdit:
        (res,) = _results(result)
        take = res.takes[0]
        # The model's output up to the end of the context (its join is the model's own), then the
        # clip's audio after the context, unchanged.
        used = min(take.audio.shape[1], intro + c)
        audio = np.concatenate([_crop(take.audio, 0, used), rest[:, used - intro :]], axis=1)
        now = project.clip(clip_id)
        shift = max(0, intro - now.source_offset)  # old takes move later on the source timeline
        offset = now.source_offset + shift - intro  # the new clip start, in the new source frames
        takes = tuple(replace(t, offset=t.offset + shift) for t in now.takes)
        asset = project.assets.add_asset(Asset.from_samples(audio, label))
        from engine.project.model import Take, new_id

        new = Take(new_id("take"), asset.id, _take_name("intro", caption, take.seed), take_meta(take, meta),
                   offset=offset)
        with project.history.group(label):
            project.history.push(ReshapeClip(clip_id, now.position - intro, now.length + intro, offset,
                                             takes + (new,), new.id, (), text=label))
        return LandedEdit((clip_id,), (new.id,), ())

    return RegionEdit(job, label, "intro", land)


# ------------------------------------------------------------------ lego / extract / complete


def _sub_mix(project: Project, start: int, end: int, *, track_ids: Sequence[str] = (),
             clip_ids: Sequence[str] = ()) -> np.ndarray:
    """The engine mixer's rendering of [start, end): the audible tracks (mute/solo respected)
    when no ids are given, else just those tracks / clips. [2, end - start] float32."""
    from dataclasses import replace as dc_replace

    from engine.audio.mixer import render_range
    from engine.audio.render_plan import build_render_plan

    plan = build_render_plan(project)
    if track_ids or clip_ids:
        tracks = set(track_ids)
        clips = set(clip_ids)
        chosen = []
        for track in plan.tracks:
            if track.track_id in tracks:
                chosen.append(dc_replace(track, audible=True))
            else:
                kept = tuple(c for c in track.clips if c.clip_id in clips)
                if kept:
                    chosen.append(dc_replace(track, audible=True, clips=kept))
        plan = dc_replace(plan, tracks=tuple(chosen))
    return render_range(plan, start, end)


def _audible_track_ids(project: Project) -> list[str]:
    any_solo = any(t.solo for t in project.tracks)
    return [t.id for t in project.tracks if not t.mute and (t.solo or not any_solo)]


def _land_on_new_tracks(project: Project, label: str, results: list, start: int, frames: int,
                        names: Sequence[str], stems: Sequence[str | None], meta: dict, *, index: int | None,
                        colour: str | None, caption: str) -> LandedEdit:
    """Each result's first take on its own new track at `start` (sample-aligned), one undo step."""
    track_ids, clip_ids, take_ids = [], [], []
    with project.history.group(label):
        for k, (res, name, stem) in enumerate(zip(results, names, stems, strict=True)):
            take = res.takes[0]
            asset = project.assets.add_asset(Asset.from_samples(_crop(take.audio, 0, frames), name))
            track = project.history.push(AddTrack(name, kind="stem" if stem else "audio", stem=stem,
                                                  colour=colour, index=None if index is None else index + k))
            extra = dict(meta)
            extra[EDIT_META_KEY] = {**meta[EDIT_META_KEY], "track": stem or name}
            add = project.history.push(AddClip(track.track_id, asset.id, start, length=frames, name=name,
                                               take_meta=take_meta(take, extra),
                                               take_name=_take_name(extra[EDIT_META_KEY]["op"], caption or name,
                                                                    take.seed)))
            track_ids.append(track.track_id)
            clip_ids.append(add.clip_id)
            take_ids.append(project.clip(add.clip_id).takes[0].id)
    return LandedEdit(tuple(clip_ids), tuple(take_ids), tuple(track_ids))


def add_layer(project: Project, start: int, end: int, instrument: str, *, caption: str = "", lyrics: str = "",
              seed: int | None = None, checkpoints: str | Path | None = None, model: str | None = None,
              device: str = "auto", dtype: str | None = None, **settings: Any) -> RegionEdit:
    """Generate one instrument (lego) over timeline [start, end) hearing the MIX of the tracks
    audible now (mute/solo respected, rendered by the engine mixer). Lands on a NEW stem track
    named after the instrument, sample-aligned at `start` (the caller snaps it to the grid)."""
    (instrument,) = _check_instruments(instrument, "instrument", single=True)
    start, end = _range(start, end)
    _need_base("lego", checkpoints)
    mix = _sub_mix(project, start, end)
    _check_not_silent(mix, "add layer")
    sources = _audible_track_ids(project)
    label = f"Add layer '{track_label(instrument)}'"
    source_id = _source_asset(project, mix, f"{label} · context")
    req, meta = _request("lego", source_id, project, caption=caption, lyrics=lyrics, tracks=(instrument,),
                         repaint_start=0.0, repaint_end=-1.0, **_settings(seed, settings))
    meta.update(_edit_meta("layer", region=[start, end], source_tracks=sources, crop=[0, end - start], at=0))
    job = _job([req], label, checkpoints=checkpoints, model=model, device=device, dtype=dtype)

    def land(project: Project, result: Any) -> LandedEdit:
        return _land_on_new_tracks(project, label, _results(result), start, end - start, [track_label(instrument)],
                                   [instrument], meta, index=None, colour=None, caption=caption)

    return RegionEdit(job, label, "layer", land)


def extract_stems(project: Project, clip_or_track_ids: Sequence[str], start: int, end: int, stems: Sequence[str], *,
                  caption: str = "", seed: int | None = None, checkpoints: str | Path | None = None,
                  model: str | None = None, device: str = "auto", dtype: str | None = None,
                  **settings: Any) -> RegionEdit:
    """Extract `stems` from the chosen clips/tracks over timeline [start, end) as ONE job (one
    part per stem, sharing the source encode); each stem lands on a new track under the source
    track, sample-aligned at `start`, in the source track's colour."""
    stems = _check_instruments(stems, "stems")
    start, end = _range(start, end)
    track_ids, clip_ids, first_track = _split_ids(project, clip_or_track_ids)
    _need_base("extract", checkpoints)
    mix = _sub_mix(project, start, end, track_ids=track_ids, clip_ids=clip_ids)
    _check_not_silent(mix, "extract stems")
    label = f"Extract {len(stems)} stem{'s' if len(stems) != 1 else ''}"
    source_id = _source_asset(project, _pad_to_hop(mix), f"{label} · source")
    fields = _settings(seed, settings)  # ONE seed for every stem: the encode is shared
    requests, meta = [], {}
    for stem in stems:
        req, meta = _request("extract", source_id, project, caption=caption, tracks=(stem,), **fields)
        requests.append(req)
    source_tracks = sorted(set(track_ids) | {project.clip(c).track_id for c in clip_ids})
    meta.update(_edit_meta("extract", region=[start, end], source_tracks=source_tracks, source_clips=list(clip_ids),
                           crop=[0, end - start], at=0))
    job = _job(requests, label, checkpoints=checkpoints, model=model, device=device, dtype=dtype,
               item_labels=list(stems), multi=True)
    source = project.track(first_track)

    def land(project: Project, result: Any) -> LandedEdit:
        index = project.track_index(first_track) + 1 if project.has_track(first_track) else None
        return _land_on_new_tracks(project, label, _results(result), start, end - start,
                                   [track_label(s) for s in stems], list(stems), meta, index=index,
                                   colour=source.colour, caption=caption)

    return RegionEdit(job, label, "extract", land)


def _split_ids(project: Project, ids: Sequence[str]) -> tuple[list[str], list[str], str]:
    if isinstance(ids, str):
        ids = (ids,)
    tracks, clips = [], []
    for item in ids or ():
        if project.has_track(item):
            tracks.append(item)
        elif project.has_clip(item):
            clips.append(item)
        else:
            raise ValidationError(f"clip_or_track_ids: {item!r} is neither a track nor a clip of the project")
    if not tracks and not clips:
        raise ValidationError("clip_or_track_ids: choose the clips or tracks to take stems from")
    first = tracks[0] if tracks else project.clip(clips[0]).track_id
    return tracks, clips, first


def complete_tracks(project: Project, track_ids: Sequence[str], start: int, end: int, classes: Sequence[str], *,
                    separate: bool = True, caption: str = "", lyrics: str = "", seed: int | None = None,
                    checkpoints: str | Path | None = None, model: str | None = None, device: str = "auto",
                    dtype: str | None = None, **settings: Any) -> RegionEdit:
    """Generate accompaniment (`classes`, e.g. drums and bass) for the MIX of the chosen tracks
    over timeline [start, end) (their own mute/solo ignored: they were chosen). `separate`: one
    part per class, each on its own new stem track; else one generation of all classes together
    on one new track. One job either way; everything lands sample-aligned at `start`."""
    classes = _check_instruments(classes, "classes")
    start, end = _range(start, end)
    if isinstance(track_ids, str):
        track_ids = (track_ids,)
    if not track_ids:
        raise ValidationError("track_ids: choose the track(s) to complete")
    for tid in track_ids:
        if not project.has_track(tid):
            raise ValidationError(f"track_ids: {tid!r} is not a track of the project")
    _need_base("complete", checkpoints)
    mix = _sub_mix(project, start, end, track_ids=track_ids)
    _check_not_silent(mix, "complete")
    label = f"Complete with {', '.join(track_label(c).lower() for c in classes)}"
    source_id = _source_asset(project, _pad_to_hop(mix), f"{label} · source")
    fields = _settings(seed, settings)
    groups = [(c,) for c in classes] if separate else [classes]
    requests, meta = [], {}
    for group in groups:
        req, meta = _request("complete", source_id, project, caption=caption, lyrics=lyrics, tracks=group, **fields)
        requests.append(req)
    meta.update(_edit_meta("complete", region=[start, end], source_tracks=list(track_ids), classes=list(classes),
                           crop=[0, end - start], at=0))
    names = [" + ".join(track_label(c) for c in g) if len(g) > 1 else track_label(g[0]) for g in groups]
    job = _job(requests, label, checkpoints=checkpoints, model=model, device=device, dtype=dtype,
               item_labels=names, multi=True)
    last = track_ids[-1]

    def land(project: Project, result: Any) -> LandedEdit:
        index = project.track_index(last) + 1 if project.has_track(last) else None
        return _land_on_new_tracks(project, label, _results(result), start, end - start, names,
                                   [g[0] if len(g) == 1 else None for g in groups], meta, index=index,
                                   colour=None, caption=caption)

    return RegionEdit(job, label, "complete", land)


# ------------------------------------------------------------------ remix


def remix_clip(project: Project, clip_id: str, *, caption: str = "", strength: float = 0.5, lyrics: str = "",
               reference_asset: str | None = None, seed: int | None = None, checkpoints: str | Path | None = None,
               model: str | None = None, device: str = "auto", dtype: str | None = None,
               **settings: Any) -> RegionEdit:
    """A cover of the whole clip (what it plays now, comp included) as a new ACTIVE take of the
    whole clip. `strength` is upstream's audio_cover_strength: 1 follows the source's structure
    all the way, lower hands the last steps to the caption. `reference_asset`: a project asset
    as timbre reference."""
    clip = project.clip(clip_id)
    _seconds(strength, "strength", 0.0, 1.0)
    if clip.length / SR > MAX_MODEL_SECONDS:
        raise ValidationError(f"clip: {clip.length / SR:g} s is longer than the model's {MAX_MODEL_SECONDS:g} s; "
                              "split it first")
    from engine.audio.render_plan import render_clip_source

    wav = render_clip_source(project, clip)
    _check_not_silent(wav, "remix")
    label = f"Remix '{short_caption(caption)}'"
    source_id = _source_asset(project, _pad_to_hop(wav), f"{clip.name} · remix source")
    req, meta = _request("cover", source_id, project, reference_asset=reference_asset, caption=caption,
                         lyrics=lyrics, audio_cover_strength=float(strength), **_settings(seed, settings))
    meta.update(_edit_meta("remix", region=[clip.position, clip.end], crop=[0, clip.length], at=0, clip=clip_id))
    job = _job([req], label, checkpoints=checkpoints, model=model, device=device, dtype=dtype)
    length, offset = clip.length, clip.source_offset

    def land(project: Project, result: Any) -> LandedEdit:
        (res,) = _results(result)
        ids = []
        with project.history.group(label):
            for k, take in enumerate(res.takes):
                asset = project.assets.add_asset(Asset.from_samples(_crop(take.audio, 0, length), label))
                cmd = project.history.push(AddTake(clip_id, asset.id, name=_take_name("remix", caption, take.seed),
                                                   meta=take_meta(take, meta), make_active=k == 0, offset=offset))
                ids.append(cmd.take_id)
            project.history.push(SetComp(clip_id, ()))  # the remix heard the comp; it replaces it
        return LandedEdit((clip_id,), tuple(ids), ())

    return RegionEdit(job, label, "remix", land)


# ------------------------------------------------------------------ retake / re-render of edits


def reland(project: Project, clip_id: str, original: ProjectTake, result: Any, *, verb: str = "Re-render",
           extra_meta: Mapping[str, Any] | None = None) -> str:
    """Land a re-run of an edit's take like the original: the output cropped the same way,
    written over the same frames of the original's audio; a region take lands as a region take
    of the same region, any other as a new active take with the same offset. One undo step."""
    edit = original.meta.get(EDIT_META_KEY)
    if not isinstance(edit, Mapping):
        raise ValidationError(f"take {original.name or original.id!r} was not made by a region edit")
    (res,) = _results(result)
    take = res.takes[0]
    a, n = (int(v) for v in edit["crop"])
    at = int(edit.get("at", 0))
    audio = np.array(project.assets[original.asset_id].samples, np.float32)  # [2, N] copy
    n = max(0, min(n, take.audio.shape[1] - a, audio.shape[1] - at))  # only frames the model returned
    audio[:, at : at + n] = take.audio[:, a : a + n]
    label = f"{verb} {original.name or 'take'}"
    asset = project.assets.add_asset(Asset.from_samples(audio, label))
    meta = take_meta(take, {**dict(extra_meta or {}), EDIT_META_KEY: dict(edit)})
    name = f"{verb.lower()} · seed {take.seed}"
    region = region_of(original)
    if region is not None:
        return add_region_take(project, clip_id, region[0], region[1], asset.id, offset=original.offset,
                               name=name, meta=meta, text=label)
    with project.history.group(label):
        cmd = project.history.push(AddTake(clip_id, asset.id, name=name, meta=meta, offset=original.offset))
    return cmd.take_id


def retake(project: Project, clip_id: str, take_id: str, *, variance: float = 0.3, retake_seed: int | None = None,
           checkpoints: str | Path | None = None) -> RegionEdit:
    """A nearby variation of a generated take (upstream's retake: the take's own noise blended
    with another seed's by `variance`), landing like the original (a region take in the same
    region; a whole take as the new active take)."""
    from engine.studio.session import recipe_of

    clip = project.clip(clip_id)
    take = clip.take(take_id)
    _seconds(variance, "variance", 0.0, 1.0)
    if variance <= 0:
        raise ValidationError("variance: must be above 0 (0 is the take itself)")
    recipe = recipe_of(project, take)
    seed = int(take.meta.get("seed", 0))
    req = recipe.request.with_changes(batch_size=1, seeds=(seed,), retake_seed=_seed(retake_seed),
                                      retake_variance=float(variance))
    from engine.tasks.request import validate_request

    validate_request(req)
    label = f"Retake {take.name or 'take'}"
    model = recipe.model_path if recipe.model_path and Path(recipe.model_path).is_dir() else None
    job = _job([req], label, checkpoints=checkpoints, model=model, device=recipe.device, dtype=recipe.dtype or None)

    def land(project: Project, result: Any) -> LandedEdit:
        if EDIT_META_KEY in take.meta:
            new = reland(project, clip_id, take, result, verb="Retake", extra_meta=recipe.extra_meta)
        else:
            from engine.studio.landing import add_takes

            (new,) = add_takes(project, clip_id, _results(result)[0], extra_meta=recipe.extra_meta,
                               make_active=True, verb="Retake")
        return LandedEdit((clip_id,), (new,), ())

    return RegionEdit(job, label, "retake", land)


__all__ = [
    "EDIT_META_KEY",
    "LandedEdit",
    "RegionDefaults",
    "RegionEdit",
    "SOURCE_ASSET_KEY",
    "add_intro",
    "add_layer",
    "base_model_needed",
    "complete_tracks",
    "extend_clip",
    "extract_stems",
    "prefill",
    "reland",
    "remix_clip",
    "repaint_region",
    "retake",
    "run_edit",
    "track_label",
]
