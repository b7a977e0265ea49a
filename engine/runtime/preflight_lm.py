"""Preflight of the planner LM stage (thinking): load + per-call prompt cost + decoded tokens.

    lm = load_or_calibrate_lm(pipeline, req.lm_model)   # measured once per (device, dtype, LM), stored
    result = predict(req, calib, family, lm=lm)         # engine.runtime.preflight: adds the LM stage

What the pipeline does when a request thinks (GenerationPipeline._generate_with_planner): load the
LM (once per pipeline), phase 1 ONCE for the batch when the user left any of bpm / key / time
signature / duration open (the chain of thought: metadata and caption), then phase 2 per item (one
row each, batch_chunk_size 1): exactly 5 codes per second of the user's duration, plus the end
token. Every `generate_rows` call pays its prompt (prefill) and set-up once, then a cost per
decoded token; with LM guidance (lm_cfg_scale > 1) each token runs a conditional and an
unconditional row.

Calibration (on this machine, with the LM really loaded): the load is timed; phase 2 runs at two
code counts (2 s and 6 s: 11 and 31 tokens), whose difference is the cost of one token and whose
remainder is the per-call cost; one phase 1 run with the pipeline's caption cap counts how many
tokens this LM writes for its chain of thought and what they cost. Memory: the LM's weights plus
the peak above them while generating (KV cache, logits), fitted per token.

Limits, said rather than hidden: the phase-1 length is what this LM wrote for the calibration
prompt (a different caption may make it write more or less, up to the caption cap); the per-token
cost is measured with guidance on and used as is without it; a token's attention over a growing
context is folded into the per-token cost measured at <= ~100 tokens of output.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CODES_PER_SECOND = 5  # engine.planner.constants (kept here so a prediction imports no torch)
CALIBRATION_CODE_SECONDS = (2, 6)
LM_SECTION = "_lm"  # store section: calibration key -> LMCalibration
LM_INDEX = "_lm_by_name"  # "<checkpoints root>|<LM name>|<device type>" -> the latest key


@dataclass(frozen=True)
class LMCalibration:
    key: str
    device: str
    weights_bytes: int
    load_s: float  # tokenizer + weights from disk onto the device
    call_s: float  # per generate call: prompt prefill and set-up
    per_token_s: float  # one decoded token (guided: conditional + unconditional row)
    phase1_tokens: int  # tokens this LM wrote for the calibration chain of thought
    fixed_bytes: float  # peak above the weights while generating: fixed + per token
    per_token_bytes: float
    memory_measured: bool
    measured_at: float
    # A chain-of-thought token costs differently from a code token (other constraint tables,
    # text instead of code ids): measured on its own; 0 = use per_token_s.
    phase1_per_token_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LMCalibration:
        return cls(**data)


@dataclass(frozen=True)
class LMNeeds:
    seconds: float
    load_s: float  # included in `seconds` unless the LM is already loaded
    tokens: int  # tokens it is expected to decode
    peak_bytes: float  # weights + generation peak


def lm_needs(req, lm: LMCalibration, frames: int, batch: int, loaded: bool = False) -> LMNeeds:
    """Seconds and memory of the planner stage of `req` (frames: the request's latent frames)."""
    user_left_open = any(getattr(req, k) in (None, "") for k in ("bpm", "keyscale", "timesignature", "duration"))
    phase1 = req.use_cot_metas and user_left_open
    calls = (1 if phase1 else 0) + batch
    # Phase 2 writes 5 codes per second of the user's duration (the LM's own choice without one,
    # up to the request's frames), + the end token.
    seconds = req.duration if req.duration else frames / 25
    codes_per_item = math.ceil(seconds * CODES_PER_SECOND) + 1
    tokens = (lm.phase1_tokens if phase1 else 0) + batch * codes_per_item
    load = 0.0 if loaded else lm.load_s
    phase1_s = lm.phase1_tokens * (lm.phase1_per_token_s or lm.per_token_s) if phase1 else 0.0
    seconds = load + calls * lm.call_s + phase1_s + batch * codes_per_item * lm.per_token_s
    longest = max(codes_per_item, lm.phase1_tokens if phase1 else 0)
    peak = lm.weights_bytes + lm.fixed_bytes + lm.per_token_bytes * longest  # one row's cache at a time
    return LMNeeds(seconds=seconds, load_s=load, tokens=tokens, peak_bytes=peak)


# -- measuring ----------------------------------------------------------------------------


def lm_key(folder: Path, device: str, dtype: str) -> str:
    """Identity of an LM on a device: its folder and each weight file's size and mtime (cheap;
    a changed file re-measures), the dtype and the torch version."""
    import torch

    files = sorted(p for p in folder.iterdir() if p.suffix == ".safetensors")
    stamp = "+".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in files)
    return f"lm|{device}|{dtype}|torch {torch.__version__}|{folder.resolve()}|{stamp}"


def calibrate_lm(pipeline, name: str | None = None, ctx=None) -> LMCalibration:
    """Measure the planner `name` (None = the default LM) through `pipeline` on its device.

    The LM is (re)loaded through `pipeline.planner`, so the measured load is the one a job pays,
    and the pipeline keeps the loaded LM afterwards (no second copy)."""
    from engine.planner.metadata import Metadata
    from engine.planner.think import ThinkRequest, think
    from engine.runtime.preflight import _PeakMemory, tensor_bytes

    if getattr(pipeline, "_planner", None) is not None:
        pipeline._planner = None  # drop it so the load below is really measured (and not doubled)
    start = time.perf_counter()
    lm = pipeline.planner(name)
    load_s = time.perf_counter() - start
    weights = sum(tensor_bytes(t) for t in list(lm.model.parameters()) + list(lm.model.buffers()))
    device = pipeline.models.device

    def run(request: ThinkRequest) -> tuple[float, int, int]:
        with _PeakMemory(device) as peak:
            t0 = time.perf_counter()
            items = think(lm, request, _Quiet(ctx)).items
            seconds = time.perf_counter() - t0
        return seconds, len(items[0].codes) + 1, peak.peak if peak.measured else -1

    full = {"bpm": 120, "keyscale": "C major", "timesignature": "4"}
    think(lm, ThinkRequest(caption="warm-up", metadata=Metadata(duration=1, **full), seeds=(0,),
                           batch_chunk_size=1), _Quiet(ctx))  # one-off costs, not measured
    points = [run(ThinkRequest(caption="calibration", lyrics="[Instrumental]",
                               metadata=Metadata(duration=s, **full), seeds=(0,), batch_chunk_size=1))
              for s in CALIBRATION_CODE_SECONDS]
    (t1, n1, b1), (t2, n2, b2) = points
    per_token = max(0.0, (t2 - t1) / max(1, n2 - n1))
    call_s = max(0.0, t1 - per_token * n1)
    per_token_bytes = max(0.0, (b2 - b1) / max(1, n2 - n1))
    # Phase 1 alone (no codes): how many tokens this LM writes for a chain of thought. Counted
    # as forward passes after the prompt's (one per decoded token; guided rows share a pass).
    cap = getattr(pipeline, "lm_caption_token_cap", 512)
    forwards = [0]
    hook = lm.model.register_forward_pre_hook(lambda *_: forwards.__setitem__(0, forwards[0] + 1))
    try:
        t0 = time.perf_counter()
        think(lm, ThinkRequest(caption="calibration", lyrics="[Instrumental]", seeds=(0,), batch_chunk_size=1,
                               generate_codes=False, max_caption_tokens=cap), _Quiet(ctx))
        phase1_s = time.perf_counter() - t0
    finally:
        hook.remove()
    phase1_tokens = max(1, forwards[0] - 1)
    phase1_per_token = max(0.0, phase1_s - call_s) / phase1_tokens
    return LMCalibration(
        key=lm_key(Path(lm.folder), str(device), str(next(lm.model.parameters()).dtype).replace("torch.", "")),
        device=str(device), weights_bytes=int(weights), load_s=load_s, call_s=call_s, per_token_s=per_token,
        phase1_tokens=int(phase1_tokens), fixed_bytes=max(0.0, b1 - per_token_bytes * n1),
        per_token_bytes=per_token_bytes, memory_measured=b1 >= 0 and b2 >= 0, measured_at=time.time(),
        phase1_per_token_s=phase1_per_token,
    )


class _Quiet:
    """A JobContext stand-in: forwards cancel checks, keeps the calibration's progress quiet."""

    def __init__(self, ctx) -> None:
        self._ctx = ctx

    def check_cancelled(self) -> None:
        if self._ctx is not None:
            self._ctx.check_cancelled()

    def progress(self, *args, **kwargs) -> None:
        pass


# -- storing --------------------------------------------------------------------------------


def stored_lm_calibration(key: str, path: Path | None = None) -> LMCalibration | None:
    from engine.runtime.preflight import _read_store, calibration_path

    raw = (_read_store(path or calibration_path()).get(LM_SECTION) or {}).get(key)
    try:
        return LMCalibration.from_json(raw) if isinstance(raw, dict) else None
    except TypeError:
        return None  # written by another version: measure again


def lm_alias(checkpoints: Path | str, name: str | None, device_type: str) -> str:
    """How the app finds an LM calibration without loading anything: the checkpoints root and
    the request's `lm_model` name ("" = the default LM), per kind of device."""
    return f"{Path(checkpoints).resolve()}|{name or ''}|{device_type}"


def save_lm_calibration(calib: LMCalibration, alias: str, path: Path | None = None) -> None:
    import json
    import os

    from engine.runtime.preflight import _read_store, calibration_path

    path = path or calibration_path()
    store = _read_store(path)
    section = store.get(LM_SECTION) if isinstance(store.get(LM_SECTION), dict) else {}
    section[calib.key] = calib.to_json()
    index = store.get(LM_INDEX) if isinstance(store.get(LM_INDEX), dict) else {}
    index[alias] = calib.key
    store[LM_SECTION], store[LM_INDEX] = section, index
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(store, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def lm_calibration_for(checkpoints: Path | str, name: str | None, device_type: str,
                       path: Path | None = None) -> LMCalibration | None:
    """The latest calibration of the LM `name` under `checkpoints` on this kind of device,
    without loading anything or importing torch (the app's preflight line runs on the UI thread)."""
    from engine.runtime.preflight import _read_store, calibration_path

    store = _read_store(path or calibration_path())
    key = (store.get(LM_INDEX) or {}).get(lm_alias(checkpoints, name, device_type))
    return stored_lm_calibration(key, path) if isinstance(key, str) else None


def lm_folder_for(checkpoints: Path, name: str | None) -> Path | None:
    """The folder `pipeline.planner(name)` loads: checkpoints/name, or the default LM there."""
    from engine.errors import CheckpointError
    from engine.planner.lm import find_lm_folder

    try:
        return find_lm_folder(Path(checkpoints) / name if name else Path(checkpoints))
    except CheckpointError:
        return None


def stored_lm_for(pipeline, name: str | None = None, path: Path | None = None) -> LMCalibration | None:
    """The stored calibration of `pipeline`'s planner `name`, or None (nothing is measured)."""
    if pipeline.checkpoints is None:
        return None
    folder = lm_folder_for(pipeline.checkpoints, name)
    if folder is None:
        return None
    dtype = "bfloat16" if pipeline.models.device.type == "cuda" else "float32"  # PlannerLM.load's default
    return stored_lm_calibration(lm_key(folder, str(pipeline.models.device), dtype), path)


def load_or_calibrate_lm(pipeline, name: str | None = None, ctx=None, path: Path | None = None) -> LMCalibration | None:
    """The stored LM calibration for `pipeline`'s planner `name`, measuring it on first use;
    None when the pipeline has no checkpoints folder or no LM there (thinking would fail anyway)."""
    found = stored_lm_for(pipeline, name, path)
    if found is not None or pipeline.checkpoints is None or lm_folder_for(pipeline.checkpoints, name) is None:
        return found
    calib = calibrate_lm(pipeline, name, ctx)
    save_lm_calibration(calib, lm_alias(pipeline.checkpoints, name, pipeline.models.device.type), path)
    return calib
