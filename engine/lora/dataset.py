"""The training dataset: audio files plus editable labels, saved as a small JSON manifest.

    ds = dataset_from_folder("My Songs/")                  # scan, sibling .txt lyrics, a CSV
    ds = dataset_from_clips(project, clip_ids, "My Songs/") # rendered clips + their provenance
    ds = ds.with_sample(ds.samples[0].id, caption="warm lofi piano", bpm=82)   # edit a label
    save_dataset(ds)                                        # My Songs/dataset.json

The manifest follows upstream's dataset JSON (upstream_lm_tools.md §6.6): top-level `metadata`
(name, custom_tag, tag_position, created_at, num_samples, all_instrumental, genre_ratio) and
`samples` with upstream's field names. One difference: `audio_path` is relative to the
manifest's folder (upstream writes absolute paths), so a dataset folder can be moved, and a
manifest can never point the trainer at a file outside the folder the musician chose.

Torch-free; the auto-labeller (engine.lora.autolabel) fills the labels through the planner.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.errors import ValidationError

MANIFEST_NAME = "dataset.json"
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".opus")  # upstream's scan list
INSTRUMENTAL = "[Instrumental]"
TAG_POSITIONS = ("prepend", "append", "replace")
MAX_SAMPLES = 2000
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_CSV_DELIMITERS = ",;\t"


@dataclass(frozen=True)
class DatasetSample:
    """One training item. Every label is editable (`Dataset.with_sample`)."""

    id: str
    audio_path: str  # relative to the dataset folder
    filename: str
    caption: str = ""
    genre: str = ""
    lyrics: str = INSTRUMENTAL
    bpm: int | None = None
    keyscale: str = ""
    timesignature: str = ""
    duration: int = 0  # whole seconds
    language: str = "unknown"
    is_instrumental: bool = True
    custom_tag: str = ""
    labeled: bool = False
    prompt_override: str | None = None  # None | "caption" | "genre"
    source: str = ""  # where it came from: "folder" or "clip:<clip id>/<take id>"


EDITABLE_LABELS = ("caption", "genre", "lyrics", "bpm", "keyscale", "timesignature", "language",
                   "is_instrumental", "custom_tag", "prompt_override")


@dataclass(frozen=True)
class Dataset:
    folder: Path
    samples: tuple[DatasetSample, ...]
    name: str = "untitled_dataset"
    custom_tag: str = ""
    tag_position: str = "prepend"
    genre_ratio: int = 0  # % of samples trained with their genre instead of the caption
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_NAME

    def audio_file(self, sample: DatasetSample) -> Path:
        return _inside(self.folder, sample.audio_path, "audio_path")

    def sample(self, sample_id: str) -> DatasetSample:
        for s in self.samples:
            if s.id == sample_id:
                return s
        raise ValidationError(f"sample: no sample {sample_id!r} in the dataset")

    def with_sample(self, sample_id: str, **labels: Any) -> Dataset:
        """A copy with one sample's labels changed (validated; the sample becomes `labeled`)."""
        bad = sorted(set(labels) - set(EDITABLE_LABELS))
        if bad:
            raise ValidationError(f"{bad[0]}: not an editable label (editable: {', '.join(EDITABLE_LABELS)})")
        old = self.sample(sample_id)
        new = _validated(replace(old, **labels, labeled=True))
        return replace(self, samples=tuple(new if s.id == sample_id else s for s in self.samples))

    def with_samples(self, samples: tuple[DatasetSample, ...]) -> Dataset:
        return replace(self, samples=tuple(_validated(s) for s in samples))

    def with_settings(self, **changes: Any) -> Dataset:
        """Change name / custom_tag / tag_position / genre_ratio."""
        allowed = {"name", "custom_tag", "tag_position", "genre_ratio"}
        bad = sorted(set(changes) - allowed)
        if bad:
            raise ValidationError(f"{bad[0]}: not a dataset setting")
        out = replace(self, **changes)
        _validate_settings(out)
        return out


def training_prompt(dataset: Dataset, sample: DatasetSample, use_genre: bool) -> str:
    """The text the model is trained with: caption or genre, with the custom tag (§6.6)."""
    text = sample.genre if (use_genre and sample.genre) else sample.caption
    if sample.prompt_override == "genre" and sample.genre:
        text = sample.genre
    elif sample.prompt_override == "caption":
        text = sample.caption
    tag = sample.custom_tag or dataset.custom_tag
    if not tag:
        return text
    if dataset.tag_position == "replace":
        return tag
    if not text:
        return tag
    return f"{tag}, {text}" if dataset.tag_position == "prepend" else f"{text}, {tag}"


def genre_sample_ids(dataset: Dataset, seed: int = 42) -> set[str]:
    """The seeded `genre_ratio`% of samples trained with their genre (upstream: seed 42)."""
    import random

    count = int(len(dataset.samples) * dataset.genre_ratio / 100)
    ids = [s.id for s in dataset.samples]
    return set(random.Random(seed).sample(ids, count)) if count else set()


# --------------------------------------------------------------------------- building


def _new_id() -> str:
    return uuid.uuid4().hex[:8]


def _duration_of(path: Path) -> int:
    import soundfile as sf

    try:
        info = sf.info(str(path))
        return int(info.frames / info.samplerate) if info.samplerate else 0
    except (RuntimeError, OSError):
        return 0


def _read_csv_labels(folder: Path) -> dict[str, dict[str, str]]:
    """file name -> {bpm, key, caption} from any CSV with a `file` column (delimiter sniffed)."""
    labels: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.csv")):
        try:
            text = path.read_text(encoding="utf-8-sig")
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=_CSV_DELIMITERS)
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        rows = csv.DictReader(text.splitlines(), dialect=dialect)
        for row in rows:
            row = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k}
            if row.get("file"):
                labels[Path(row["file"]).name] = row
    return labels


def dataset_from_folder(folder: str | Path, *, name: str = "") -> Dataset:
    """Scan `folder` (recursively) for audio. A sibling `name.txt` holds lyrics (vocal); a CSV
    with a `file` column may give bpm, key and caption (a CSV caption marks it labelled)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(f"folder: {folder} is not a folder")
    top = folder.resolve()
    csv_labels = _read_csv_labels(folder)
    samples = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in AUDIO_EXTENSIONS or not path.is_file():
            continue
        if not path.resolve().is_relative_to(top):
            continue  # a link out of the chosen folder is never read
        lyrics_file = path.with_suffix(".txt")
        lyrics = lyrics_file.read_text(encoding="utf-8", errors="replace").strip() if lyrics_file.is_file() else ""
        row = csv_labels.get(path.name, {})
        sample = DatasetSample(
            id=_new_id(), audio_path=path.relative_to(folder).as_posix(), filename=path.name,
            caption=row.get("caption", ""), lyrics=lyrics or INSTRUMENTAL, bpm=_int_or_none(row.get("bpm")),
            keyscale=row.get("key", "") or row.get("keyscale", ""), duration=_duration_of(path),
            is_instrumental=not lyrics, labeled=bool(row.get("caption")), source="folder")
        samples.append(sample)
        if len(samples) > MAX_SAMPLES:
            raise ValidationError(f"folder: more than {MAX_SAMPLES} audio files in {folder}")
    if not samples:
        raise ValidationError(f"folder: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {folder}")
    return Dataset(folder=folder, samples=tuple(samples), name=name or folder.name)


def dataset_from_clips(project, clip_ids, folder: str | Path, *, name: str = "") -> Dataset:
    """The selected clips' rendered audio (the active take, the part the clip plays) as WAV files
    in `folder`, labelled from each take's provenance (caption, lyrics, bpm, key, time signature,
    language from `take.meta["request"]`). Clips with no provenance (imported audio) come in
    unlabelled, for the auto-labeller."""
    import numpy as np

    from engine.audio.files import write_audio
    from engine.tasks import constants as C

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clip_ids = list(clip_ids)
    if not clip_ids:
        raise ValidationError("clips: select one or more clips to train on")
    samples = []
    for clip_id in clip_ids:
        clip = project.clip(clip_id)
        take = clip.active_take
        asset = project.assets.get(take.asset_id)
        if asset is None:
            raise ValidationError(f"clips: the audio of clip {clip.name or clip.id!r} is missing")
        audio = np.asarray(asset.samples)[:, clip.source_offset: clip.source_offset + clip.length]
        if audio.shape[1] < C.SAMPLE_RATE:
            raise ValidationError(f"clips: clip {clip.name or clip.id!r} is shorter than one second")
        sample_id = _new_id()
        filename = f"{_safe_stem(clip.name or take.name or clip.id)}-{sample_id}.wav"
        write_audio(folder / filename, np.ascontiguousarray(audio, dtype=np.float32), "wav24")
        request = dict(take.meta.get("request") or {})
        lyrics = "" if request.get("instrumental") else str(request.get("lyrics") or "").strip()
        caption = str(request.get("caption") or "")
        language = str(request.get("vocal_language") or "unknown")
        samples.append(_validated(DatasetSample(
            id=sample_id, audio_path=filename, filename=filename, caption=caption,
            lyrics=lyrics or INSTRUMENTAL, bpm=_int_or_none(request.get("bpm")),
            keyscale=str(request.get("keyscale") or ""), timesignature=str(request.get("timesignature") or ""),
            duration=int(audio.shape[1] / C.SAMPLE_RATE), language=language, is_instrumental=not lyrics,
            labeled=bool(caption), source=f"clip:{clip.id}/{take.id}")))
    return Dataset(folder=folder, samples=tuple(samples), name=name or folder.name)


def _safe_stem(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_ " else "_" for c in text).strip().replace(" ", "_")
    return keep[:40] or "clip"


def _int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(round(number)) if math.isfinite(number) else None


# --------------------------------------------------------------------------- validation


def _validated(sample: DatasetSample) -> DatasetSample:
    if sample.bpm is not None and (isinstance(sample.bpm, bool) or not isinstance(sample.bpm, int)
                                   or not 30 <= sample.bpm <= 300):
        raise ValidationError(f"bpm: must be a whole number between 30 and 300, got {sample.bpm!r}")
    for name in ("caption", "genre", "lyrics", "keyscale", "timesignature", "language", "custom_tag"):
        value = getattr(sample, name)
        if not isinstance(value, str):
            raise ValidationError(f"{name}: must be text, got {value!r}")
        if len(value) > 20_000:
            raise ValidationError(f"{name}: too long ({len(value)} characters)")
    if sample.prompt_override not in (None, "caption", "genre"):
        raise ValidationError(f"prompt_override: must be caption, genre or empty, got {sample.prompt_override!r}")
    if not isinstance(sample.is_instrumental, bool):
        raise ValidationError("is_instrumental: must be true or false")
    return sample


def _validate_settings(ds: Dataset) -> None:
    if ds.tag_position not in TAG_POSITIONS:
        raise ValidationError(f"tag_position: must be one of {', '.join(TAG_POSITIONS)}, got {ds.tag_position!r}")
    if isinstance(ds.genre_ratio, bool) or not isinstance(ds.genre_ratio, int) or not 0 <= ds.genre_ratio <= 100:
        raise ValidationError(f"genre_ratio: must be a whole number 0-100, got {ds.genre_ratio!r}")


def _inside(folder: Path, relative: str, what: str) -> Path:
    path = (folder / relative)
    if Path(relative).is_absolute() or not path.resolve().is_relative_to(folder.resolve()):
        raise ValidationError(f"{what}: {relative!r} is outside the dataset folder {folder}")
    return path


# --------------------------------------------------------------------------- manifest


def dataset_to_dict(ds: Dataset) -> dict[str, Any]:
    return {
        "metadata": {"name": ds.name, "custom_tag": ds.custom_tag, "tag_position": ds.tag_position,
                     "created_at": ds.created_at, "num_samples": len(ds.samples),
                     "all_instrumental": all(s.is_instrumental for s in ds.samples),
                     "genre_ratio": ds.genre_ratio},
        "samples": [asdict(s) for s in ds.samples],
    }


def save_dataset(ds: Dataset) -> Path:
    """Write `dataset.json` beside the audio (atomically: temp file + rename)."""
    ds.folder.mkdir(parents=True, exist_ok=True)
    tmp = ds.manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(dataset_to_dict(ds), indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, ds.manifest_path)
    return ds.manifest_path


def load_dataset(path: str | Path) -> Dataset:
    """Read a manifest (a dataset folder or its dataset.json); strict, errors name the file."""
    path = Path(path)
    manifest = path / MANIFEST_NAME if path.is_dir() else path
    try:
        if manifest.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValidationError(f"{manifest}: too large for a dataset manifest")
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"dataset: no manifest at {manifest}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValidationError(f"{manifest}: not a readable dataset manifest ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("samples"), list):
        raise ValidationError(f"{manifest}: needs 'metadata' and a 'samples' list")
    meta = data.get("metadata") or {}
    known = {f.name for f in fields(DatasetSample)}
    samples = []
    for i, raw in enumerate(data["samples"][: MAX_SAMPLES + 1]):
        if not isinstance(raw, dict) or not isinstance(raw.get("audio_path"), str):
            raise ValidationError(f"{manifest}: sample {i} needs an 'audio_path'")
        kwargs = {k: v for k, v in raw.items() if k in known}
        kwargs.setdefault("id", _new_id())
        kwargs.setdefault("filename", Path(raw["audio_path"]).name)
        try:
            sample = _validated(DatasetSample(**kwargs))
        except (TypeError, ValidationError) as exc:
            raise ValidationError(f"{manifest}: sample {i}: {exc}") from exc
        _inside(manifest.parent, sample.audio_path, f"{manifest}: sample {i} audio_path")
        samples.append(sample)
    ds = Dataset(folder=manifest.parent, samples=tuple(samples), name=str(meta.get("name") or "untitled_dataset"),
                 custom_tag=str(meta.get("custom_tag") or ""), tag_position=str(meta.get("tag_position") or "prepend"),
                 genre_ratio=int(meta.get("genre_ratio") or 0), created_at=str(meta.get("created_at") or ""))
    _validate_settings(ds)
    return ds
