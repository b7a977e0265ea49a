"""Writing takes: an audio file (WAV/FLAC/MP3 via libsndfile) plus a JSON sidecar of provenance.

File names follow upstream's idea (upstream_lm_tools.md §9): a deterministic UUID-shaped key
from the SHA-256 of the take's parameters (which include its seed), so each take gets its own
name and re-running the same take overwrites rather than duplicates.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import AudioFileError, ValidationError
from engine.tasks import constants as C
from engine.tasks.request import GenerationRequest, request_from_dict
from engine.tasks.results import Take

SUBTYPES = {"wav": ("WAV", "FLOAT"), "flac": ("FLAC", "PCM_24"), "mp3": ("MP3", None)}


@dataclass(frozen=True)
class WrittenTake:
    audio_path: Path
    sidecar_path: Path


def take_key(provenance: dict[str, Any]) -> str:
    """8-4-4-4-12 hex key from the SHA-256 of the sorted-key JSON of request + seed + models."""
    material = {"request": provenance["request"], "seed": provenance["seed"],
                "models": provenance["models"], "item_index": provenance["item_index"]}
    digest = hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def check_format_available(fmt: str) -> None:
    """Raise a clear error when libsndfile cannot write `fmt` (MP3 needs libsndfile >= 1.1)."""
    import soundfile as sf

    if fmt not in SUBTYPES:
        raise ValidationError(f"output_format: must be one of {', '.join(SUBTYPES)}, got {fmt!r}")
    major, _ = SUBTYPES[fmt]
    if major not in sf.available_formats():
        raise AudioFileError(
            f"output_format: this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt.upper()}; "
            "MP3 needs libsndfile 1.1 or newer — choose wav or flac"
        )


def write_audio(path: Path, audio: np.ndarray, fmt: str) -> None:
    """Write float32 [2, S] at 48 kHz."""
    import soundfile as sf

    check_format_available(fmt)
    major, subtype = SUBTYPES[fmt]
    try:
        sf.write(str(path), np.ascontiguousarray(audio.T), C.SAMPLE_RATE, format=major, subtype=subtype)
    except (RuntimeError, OSError) as exc:
        raise AudioFileError(f"cannot write {path}: {exc}") from exc


def write_take(take: Take, out_dir: Path | str, fmt: str | None = None) -> WrittenTake:
    """Write `<key>.<fmt>` and `<key>.json` into out_dir (created if needed)."""
    meta = take.provenance.to_dict()
    meta["codes"] = list(take.codes)
    return write_take_files(take.audio, meta, out_dir, fmt)


def write_take_files(audio: np.ndarray, meta: dict[str, Any], out_dir: Path | str,
                     fmt: str | None = None) -> WrittenTake:
    """Write float32 [2, S] audio and its provenance `meta` (a sidecar dict) as `<key>.<fmt>` +
    `<key>.json`. Shared by the CLI and the app's "Export take", so both write the same files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fmt = fmt or meta["request"].get("output_format", "flac")
    meta = dict(meta)
    meta["audio_shape"] = list(audio.shape)
    key = take_key(meta)
    audio_path = out_dir / f"{key}.{fmt}"
    write_audio(audio_path, audio, fmt)
    meta["audio_file"] = audio_path.name
    sidecar = out_dir / f"{key}.json"
    sidecar.write_text(json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    return WrittenTake(audio_path, sidecar)


@dataclass(frozen=True)
class SidecarRun:
    """What a sidecar says to re-run: the batch request, which item the take was, and the model."""

    request: GenerationRequest
    item_index: int
    model_name: str
    device: str
    dtype: str
    model_path: str = ""  # the DiT folder the take was made with, as recorded


def read_sidecar(path: Path | str) -> SidecarRun:
    path = Path(path)
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ValidationError(f"from_sidecar: file not found: {path}") from exc
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError: JSONDecodeError and integers over 4,300 digits; RecursionError: deep nesting.
        raise ValidationError(f"from_sidecar: {path} is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(meta, dict) or meta.get("format") != "legato-take/1" or "request" not in meta:
        raise ValidationError(f"from_sidecar: {path} is not a Legato take sidecar")
    try:
        return SidecarRun(
            request=request_from_dict(meta["request"]),
            item_index=int(meta.get("item_index", 0)),
            model_name=meta["models"][0]["name"],
            device=meta.get("device", "cpu"),
            dtype=meta.get("dtype", "float32"),
            model_path=str(meta["models"][0].get("path", "")),
        )
    except ValidationError:
        raise
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise ValidationError(f"from_sidecar: {path} is a damaged Legato take sidecar ({exc!r})") from exc
