"""`legato models verify`: check every file of the models in a checkpoints folder, in place.

Works on a folder Legato downloaded (each model folder has a `.legato-manifest.json` with the
hub's sizes and hashes) and on an existing ACE-Step install adopted as is (no manifest: the
catalogue's exact sizes, the required files per kind and the safetensors headers are checked).
Nothing is copied or changed. Every problem names the file and says what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CheckpointError
from engine.models.catalogue import CatalogueEntry, load_catalogue
from engine.models.discovery import find_checkpoints_dir, list_installed_models

REQUIRED = {
    "dit": ("config.json", "silence_latent.pt"),
    "vae": ("config.json",),
    "text_encoder": ("config.json", "tokenizer.json"),
    "lm": ("config.json", "tokenizer.json"),
}
TINY_MARKER = ".legato-tiny.json"  # written by `legato models make-tiny` into each tiny model folder
DIFFUSERS_REQUIRED = ("model_index.json", "transformer/config.json", "condition_encoder/config.json")


@dataclass(frozen=True)
class ModelCheck:
    name: str
    kind: str
    path: Path
    installed: bool
    problems: tuple[str, ...]
    files_checked: int
    source: str  # "manifest" | "catalogue" | "folder" (not in the catalogue) | "tiny" (our test model)

    @property
    def ok(self) -> bool:
        return self.installed and not self.problems

    def line(self) -> str:
        if not self.installed:
            return f"{self.name}: not installed (expected folder {self.path})"
        if not self.problems and self.source == "tiny":
            return f"{self.name}: tiny (test) model, ok ({self.files_checked} files checked; not the real weights)"
        if not self.problems:
            return f"{self.name}: ok ({self.files_checked} files checked against the {self.source})"
        return f"{self.name}: BROKEN\n    " + "\n    ".join(self.problems)


def verify_checkpoints(
    root: Path | str,
    names: Sequence[str] | None = None,
    *,
    check_hashes: bool = False,
    on_file: Callable[[str], None] | None = None,
) -> list[ModelCheck]:
    """Check the named models (default: every model folder found) in the checkpoints folder.

    Args:
        root: a checkpoints folder or an ACE-Step install root (its `checkpoints/` is used).
        names: catalogue or folder names; a named model that is not there is reported.
        check_hashes: recompute SHA-256 / git blob ids against the manifest (slow: reads every byte).
        on_file: called with each file's path as it is checked (progress for long hash runs).

    Raises:
        CheckpointError: the folder does not exist.
    """
    root = find_checkpoints_dir(Path(root))
    catalogue = load_catalogue()
    by_name = {e.name: e for e in catalogue.entries}
    if names:
        targets = [catalogue.get(n).name if n.lower() in {k.lower() for k in by_name} else n for n in names]
    else:
        found = {m.name for m in list_installed_models(root)}
        targets = sorted(found | {e.name for e in catalogue.entries if (root / e.name).is_dir()})
    checks = []
    for name in targets:
        entry = by_name.get(name)
        folder = root / name
        kind = entry.kind if entry else _kind_on_disk(root, name)
        if not folder.is_dir():
            checks.append(ModelCheck(name, kind, folder, False, (), 0, "catalogue"))
            continue
        checks.append(_check_model(folder, name, kind, entry, check_hashes, on_file))
    return checks


def _kind_on_disk(root: Path, name: str) -> str:
    for model in list_installed_models(root) if root.is_dir() else []:
        if model.name == name:
            return model.kind
    return "unknown"


def _check_model(
    folder: Path, name: str, kind: str, entry: CatalogueEntry | None, check_hashes: bool,
    on_file: Callable[[str], None] | None,
) -> ModelCheck:
    from engine.models.checkpoint_files import check_safetensors_complete, weight_files
    from engine.models.download import file_digest, read_manifest

    problems: list[str] = []
    checked = 0
    manifest = read_manifest(folder)
    recorded = manifest.get("files") if isinstance(manifest.get("files"), dict) else None
    if recorded:
        source = "manifest"
        for rel, info in sorted(recorded.items()):
            path = folder / rel
            checked += 1
            if on_file:
                on_file(str(path))
            if not path.is_file():
                problems.append(f"missing file: {path}")
                continue
            size = path.stat().st_size
            if isinstance(info, dict) and info.get("size") is not None and size != info["size"]:
                problems.append(f"wrong size: {path} is {size} bytes, the hub's file is {info['size']}")
                continue
            if check_hashes and isinstance(info, dict):
                if info.get("sha256") and file_digest(path) != info["sha256"]:
                    problems.append(f"hash mismatch: {path} (SHA-256 differs from the hub's)")
                elif info.get("git_sha1") and file_digest(path, kind="git_sha1") != info["git_sha1"]:
                    problems.append(f"hash mismatch: {path} (git blob id differs from the hub's)")
    elif (folder / TINY_MARKER).is_file():
        # Our own tiny test tree: the catalogue's sizes are the real weights', so comparing them
        # would call every tiny file broken. The required files and weight headers are checked.
        source = "tiny"
    else:
        source = "catalogue" if entry else "folder"
        for f in entry.files if entry else ():
            if not f.exact:
                continue  # the catalogue only guesses this file's name or size
            path = folder / f.path
            checked += 1
            if not path.is_file():
                problems.append(f"missing file: {path}")
            elif path.stat().st_size != f.size:
                problems.append(f"wrong size: {path} is {path.stat().st_size} bytes, expected {f.size}")
    layout = entry.layout if entry else ("diffusers" if (folder / "model_index.json").is_file() else "original")
    required = DIFFUSERS_REQUIRED if layout == "diffusers" else REQUIRED.get(kind, ("config.json",))
    for rel in required:
        path = folder / rel
        if not path.is_file() and f"missing file: {path}" not in problems:
            problems.append(f"missing file: {path}")
    weight_dirs = [folder / "transformer", folder / "condition_encoder"] if layout == "diffusers" else [folder]
    for sub in weight_dirs:
        try:
            files = weight_files(sub)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for path in files:
            checked += 1
            try:
                check_safetensors_complete(path)
            except CheckpointError as exc:
                if not any(str(path) in p for p in problems):
                    problems.append(str(exc))
    return ModelCheck(name, kind, folder, True, tuple(problems), checked, source)
