"""The model catalogue: every downloadable model, read from `resources/models/catalogue.json`.

The data lives in a file (not in code) so a new checkpoint is one JSON entry. Found at run time:
`$LEGATO_CATALOGUE`, else the source tree's `resources/` (a checkout or an editable install),
else `<prefix>/share/legato/resources/models/` (where a wheel installs it, see pyproject
data-files). The loader is strict: a malformed entry is an error that names the file and the
entry, never a silently skipped model.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.errors import CheckpointError

ENV_CATALOGUE = "LEGATO_CATALOGUE"
CATALOGUE_RELPATH = Path("resources") / "models" / "catalogue.json"
KINDS = ("dit", "vae", "text_encoder", "lm")
_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class CatalogueFile:
    """One file of a model folder. `size` is None when unknown; `exact` says it is the hub's size."""

    path: str  # relative to the model folder, "/"-separated
    size: int | None
    exact: bool


@dataclass(frozen=True)
class CatalogueEntry:
    """One downloadable model.

    Attributes:
        name: the local folder name under checkpoints/ (also what `legato models download` takes).
        repo_id / repo_folder: where it lives on the hub; repo_folder is "" for a repo that is the
            model folder itself, or the folder inside a bundle repo (ACE-Step/Ace-Step1.5).
        revision: the hub revision to fetch.
        memory_bytes: weights resident on the accelerator at bf16 (for tier display and preflight).
        default: part of the main bundle every install needs.
    """

    name: str
    kind: str
    repo_id: str
    repo_folder: str
    revision: str
    variant: str
    family: str
    layout: str
    purpose: str
    tasks: tuple[str, ...]
    memory_bytes: int
    files: tuple[CatalogueFile, ...]
    default: bool

    @property
    def download_bytes_estimate(self) -> int:
        return sum(f.size or 0 for f in self.files)


@dataclass(frozen=True)
class Catalogue:
    path: Path
    entries: tuple[CatalogueEntry, ...]

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def get(self, name: str) -> CatalogueEntry:
        """The entry called `name` (case-insensitive).

        Raises:
            CheckpointError: naming the unknown model and the known ones.
        """
        for entry in self.entries:
            if entry.name.lower() == name.strip().lower():
                return entry
        raise CheckpointError(f"unknown model {name!r}; the catalogue has: {', '.join(self.names())}")

    def of_kind(self, kind: str) -> list[CatalogueEntry]:
        return [e for e in self.entries if e.kind == kind]


def catalogue_path() -> Path:
    """Where the catalogue file is (see the module docstring for the order).

    Raises:
        CheckpointError: when no catalogue file can be found.
    """
    env = os.environ.get(ENV_CATALOGUE)
    if env:
        return Path(env)
    candidates = [
        Path(__file__).resolve().parents[2] / CATALOGUE_RELPATH,
        Path(sys.prefix) / "share" / "legato" / CATALOGUE_RELPATH,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CheckpointError("model catalogue not found; looked in " + ", ".join(map(str, candidates)))


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and check the catalogue (cached per path).

    Raises:
        CheckpointError: the file is missing, not JSON, or an entry is malformed (names which).
    """
    return _load(Path(path) if path else catalogue_path())


@lru_cache(maxsize=8)
def _load(path: Path) -> Catalogue:
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise CheckpointError(f"{path}: model catalogue is too large to be a catalogue")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"model catalogue not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{path}: model catalogue is not readable JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("models"), list):
        raise CheckpointError(f"{path}: expected {{'format': 1, 'models': [...]}}")
    entries = []
    for index, raw in enumerate(data["models"]):
        entries.append(_entry(path, index, raw))
    names = [e.name.lower() for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CheckpointError(f"{path}: model names appear twice: {', '.join(dupes)}")
    return Catalogue(path, tuple(entries))


def _entry(path: Path, index: int, raw: object) -> CatalogueEntry:
    where = f"{path}: models[{index}]"
    if not isinstance(raw, dict):
        raise CheckpointError(f"{where} is not an object")
    where = f"{path}: model {raw.get('name', index)!r}"

    def text(key: str, allow_empty: bool = False) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or (not value and not allow_empty):
            raise CheckpointError(f"{where}: {key!r} must be {'text' if allow_empty else 'non-empty text'}")
        return value

    name, kind = text("name"), text("kind")
    if kind not in KINDS:
        raise CheckpointError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if "/" in name or "\\" in name or name.startswith("."):
        raise CheckpointError(f"{where}: name must be a plain folder name")
    repo_id = text("repo_id")
    if repo_id.count("/") != 1:
        raise CheckpointError(f"{where}: repo_id {repo_id!r} must look like 'owner/name'")
    memory = raw.get("memory_bytes")
    if isinstance(memory, bool) or not isinstance(memory, int) or memory <= 0:
        raise CheckpointError(f"{where}: memory_bytes must be a positive integer")
    tasks = raw.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
        raise CheckpointError(f"{where}: tasks must be a list of task names")
    files = raw.get("files")
    if not isinstance(files, list) or not files:
        raise CheckpointError(f"{where}: files must be a non-empty list")
    parsed = []
    for item in files:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"]:
            raise CheckpointError(f"{where}: every file needs a 'path'")
        rel = item["path"]
        if rel.startswith("/") or ".." in rel.split("/"):
            raise CheckpointError(f"{where}: file path {rel!r} must stay inside the model folder")
        size = item.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise CheckpointError(f"{where}: size of {rel!r} must be a byte count or null")
        parsed.append(CatalogueFile(rel, size, bool(item.get("exact", False)) and size is not None))
    return CatalogueEntry(
        name=name,
        kind=kind,
        repo_id=repo_id,
        repo_folder=text("repo_folder", allow_empty=True).strip("/"),
        revision=text("revision"),
        variant=text("variant", allow_empty=True),
        family=text("family", allow_empty=True),
        layout=raw.get("layout", "original") if isinstance(raw.get("layout", "original"), str) else "original",
        purpose=text("purpose"),
        tasks=tuple(tasks),
        memory_bytes=memory,
        files=tuple(parsed),
        default=bool(raw.get("default", False)),
    )


def default_set_for(catalogue: Catalogue, recommended_lm: str | None, init_lm: bool) -> list[CatalogueEntry]:
    """The models to download first on a machine, by its memory tier (upstream_lm_tools.md §7.2).

    Always the main bundle's DiT, VAE and text encoder; plus the tier's recommended planner LM
    when the tier initialises one (tier3 and up: 0.6B / 1.7B / 4B). Pass
    `engine.runtime.memory_tier.detect_tier(device)`'s `recommended_lm` and `init_lm`.
    """
    chosen = [e for e in catalogue.entries if e.default]
    if init_lm and recommended_lm:
        chosen += [e for e in catalogue.of_kind("lm") if e.variant == recommended_lm and e not in chosen]
    return chosen
