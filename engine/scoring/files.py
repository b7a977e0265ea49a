"""Scores on disk: the sidecar's "scores" / "lrc" fields and a `.lrc` file beside the audio.

    take = take_from_files("out/1234.json")            # or the audio path: the sidecar beside it
    written = write_scores(take_files, scores)          # sidecar updated atomically, out/1234.lrc
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ValidationError
from engine.scoring.judge import LRC_KEY, SCORES_KEY, TakeScores, TakeToScore

SIDECAR_MAX_BYTES = 64 * 1024 * 1024  # a take sidecar holds codes and a request: never this big


@dataclass(frozen=True)
class TakeFiles:
    audio_path: Path
    sidecar_path: Path


def locate(path: str | os.PathLike) -> TakeFiles:
    """A take's audio and sidecar from either one (same folder, same stem / `audio_file`)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"score: file not found: {path}")
    if path.suffix.lower() == ".json":
        meta = read_meta(path)
        name = meta.get("audio_file")
        if not isinstance(name, str) or Path(name).name != name:
            raise ValidationError(f"score: {path} names no audio file beside it")
        return TakeFiles(path.parent / name, path)
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise ValidationError(f"score: {path} has no sidecar {sidecar.name} beside it (scoring needs the "
                              "take's settings; only Legato takes can be scored)")
    return TakeFiles(path, sidecar)


def read_meta(sidecar: Path) -> dict:
    if sidecar.stat().st_size > SIDECAR_MAX_BYTES:
        raise ValidationError(f"score: {sidecar} is too large to be a take sidecar")
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValidationError(f"score: {sidecar} is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(meta, dict) or meta.get("format") != "legato-take/1" or "request" not in meta:
        raise ValidationError(f"score: {sidecar} is not a Legato take sidecar")
    return meta


def take_from_files(path: str | os.PathLike) -> tuple[TakeFiles, TakeToScore]:
    from engine.audio.files import read_audio

    files = locate(path)
    if not files.audio_path.is_file():
        raise ValidationError(f"score: the take's audio {files.audio_path} is missing")
    return files, TakeToScore(meta=read_meta(files.sidecar_path), audio=read_audio(files.audio_path))


def lrc_path(audio_path: Path) -> Path:
    return audio_path.with_suffix(".lrc")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_scores(files: TakeFiles, scores: TakeScores) -> Path | None:
    """Put the scores and LRC into the sidecar; write `<audio>.lrc` when there are lyrics.
    Returns the .lrc path (None for an instrumental take; a stale .lrc is removed)."""
    meta = read_meta(files.sidecar_path)
    meta[SCORES_KEY] = scores.to_meta()
    meta[LRC_KEY] = scores.lrc
    _atomic_write(files.sidecar_path, json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    target = lrc_path(files.audio_path)
    if not scores.lrc:
        target.unlink(missing_ok=True)
        return None
    _atomic_write(target, scores.lrc)
    return target
