"""Downloading catalogue models from the Hugging Face hub into the checkpoints folder.

    result = download_models(["acestep-v15-turbo", "vae"], ctx=ctx, on_progress=print)

The hub client (huggingface_hub) does the talking: `HfApi.list_repo_tree` for the file list and
each file's SHA-256 (LFS) or git blob id, `get_hf_file_metadata` for the pinned commit and the
final (CDN) address, and `file_download.http_get` for the transfer, which already retries a
dropped connection by resuming with a Range request.

What we add, and why it is ours:
- a partial file that survives a kill: huggingface_hub 2.x deletes its per-process temporary
  file when a download fails, so after a crash or Ctrl-C every byte would be fetched again. We
  keep `<checkpoints>/.legato-downloads/<model>/<file>.part` and hand its length to `http_get`
  as `resume_size`;
- a disk-space check for the whole set before the first byte (the hub checks per file);
- a hash check of every file against the hub's metadata before it is moved into place, and a
  `.legato-manifest.json` per model folder recording commit, sizes and hashes (for `verify`);
- progress per file and in total (bytes, rate, time left) and cancel through JobContext.

Files are written only under the checkpoints folder (model folder and the `.legato-downloads`
staging folder beside it). Custom-code `.py` files in the repos are skipped: Legato never runs
remote code, so they are of no use and a needless risk.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from engine.errors import Cancelled, CheckpointError
from engine.jobs.context import JobContext
from engine.models.catalogue import CatalogueEntry, load_catalogue

STAGING_DIR = ".legato-downloads"
MANIFEST = ".legato-manifest.json"
SKIPPED_SUFFIXES = (".py", ".pyc")
SKIPPED_NAMES = (".gitattributes",)
DISK_MARGIN_BYTES = 64 * 1024 * 1024  # room left over for the manifest, logs and the OS
# The transfer reads this many bytes between progress reports / cancel checks. The hub's default
# (10 MB) would leave a slow connection several seconds between two chances to cancel.
TRANSFER_CHUNK_BYTES = 1024 * 1024
_PROGRESS_EVERY_S = 0.1


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: where it is in the repo, where it goes, and how to check it."""

    model: str
    repo_id: str
    path_in_repo: str
    local_rel: str  # relative to the model folder
    size: int
    sha256: str | None  # LFS files: the hub's SHA-256 of the content
    git_sha1: str | None  # other files: the git blob id (SHA-1 of "blob <size>\0" + content)


@dataclass(frozen=True)
class DownloadPlan:
    root: Path
    entries: tuple[CatalogueEntry, ...]
    commits: dict[str, str]  # model name -> commit the files are fetched at
    files: tuple[RemoteFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class DownloadProgress:
    """One report. `done`/`total` cover the whole set; `rate_bps` counts bytes moved this run."""

    model: str
    file: str
    file_done: int
    file_total: int
    done: int
    total: int
    files_done: int
    files_total: int
    rate_bps: float
    eta_s: float | None

    def line(self) -> str:
        eta = "?" if self.eta_s is None else format_seconds(self.eta_s)
        return (
            f"{self.model}/{self.file}: {format_bytes(self.file_done)} of {format_bytes(self.file_total)}"
            f" | total {format_bytes(self.done)} of {format_bytes(self.total)}"
            f" ({self.files_done}/{self.files_total} files) {format_bytes(self.rate_bps)}/s, {eta} left"
        )


@dataclass(frozen=True)
class DownloadResult:
    root: Path
    models: tuple[str, ...]
    files_fetched: int
    files_already_there: int
    bytes_transferred: int
    seconds: float


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def format_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def free_disk_bytes(path: Path) -> int:
    """Free bytes on the volume that holds `path` (or its nearest existing parent)."""
    path = Path(path).resolve()
    while not path.exists() and path.parent != path:
        path = path.parent
    return shutil.disk_usage(path).free


def resolve_entries(names: Sequence[str | CatalogueEntry]) -> list[CatalogueEntry]:
    catalogue = load_catalogue()
    out = []
    for name in names:
        entry = name if isinstance(name, CatalogueEntry) else catalogue.get(name)
        if entry not in out:
            out.append(entry)
    if not out:
        raise CheckpointError("no models named to download")
    return out


def _check_online() -> None:
    from huggingface_hub import constants

    if constants.is_offline_mode():
        raise CheckpointError("downloads are switched off: HF_HUB_OFFLINE is set; unset it to download")


def plan_download(
    names: Sequence[str | CatalogueEntry], root: Path, *, endpoint: str | None = None
) -> DownloadPlan:
    """Ask the hub which files each model has, their sizes and hashes, at one pinned commit.

    Raises:
        CheckpointError: offline mode, an unreachable hub, or a repo/folder that does not exist.
    """
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    _check_online()
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    entries = resolve_entries(names)
    api = HfApi(endpoint=endpoint)
    files: list[RemoteFile] = []
    commits: dict[str, str] = {}
    for entry in entries:
        prefix = entry.repo_folder + "/" if entry.repo_folder else ""
        try:
            first = prefix + entry.files[0].path
            meta = get_hf_file_metadata(
                hf_hub_url(entry.repo_id, first, revision=entry.revision, endpoint=endpoint),
                endpoint=endpoint,
                retry_on_errors=True,
            )
            commit = meta.commit_hash or entry.revision
            tree = list(
                api.list_repo_tree(
                    entry.repo_id, path_in_repo=entry.repo_folder or None, recursive=True, revision=commit
                )
            )
        except (HfHubHTTPError, OSError) as exc:
            raise CheckpointError(f"cannot list {entry.repo_id} ({entry.name}) on the hub: {exc}") from exc
        except Exception as exc:  # httpx errors: connection refused, timeouts
            if type(exc).__module__.startswith(("httpx", "httpcore")):
                raise CheckpointError(f"cannot reach the hub for {entry.repo_id}: {exc}") from exc
            raise
        commits[entry.name] = commit
        wanted = []
        for item in tree:
            if not hasattr(item, "blob_id"):  # a folder
                continue
            rel = item.path[len(prefix) :] if prefix else item.path
            name = PurePosixPath(rel).name
            if name.endswith(SKIPPED_SUFFIXES) or name in SKIPPED_NAMES or _unsafe(rel):
                continue
            lfs = item.lfs
            wanted.append(
                RemoteFile(
                    model=entry.name,
                    repo_id=entry.repo_id,
                    path_in_repo=item.path,
                    local_rel=rel,
                    size=int(item.size),
                    sha256=(lfs.sha256 if lfs else None),
                    git_sha1=(None if lfs else item.blob_id),
                )
            )
        if not wanted:
            raise CheckpointError(f"{entry.repo_id}/{entry.repo_folder}: the hub lists no files for {entry.name}")
        files += sorted(wanted, key=lambda f: f.local_rel)
    return DownloadPlan(Path(root), tuple(entries), commits, tuple(files))


def _unsafe(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return not parts or rel.startswith("/") or ".." in parts or "\\" in rel


def _dest(plan_root: Path, f: RemoteFile) -> Path:
    return plan_root / f.model / f.local_rel


def _part(plan_root: Path, f: RemoteFile) -> Path:
    return plan_root / STAGING_DIR / f.model / (f.local_rel + ".part")


def file_digest(path: Path, f: RemoteFile | None = None, *, kind: str = "sha256") -> str:
    """SHA-256 of the file, or its git blob id when `kind` is "git_sha1"."""
    if kind == "git_sha1":
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(b"blob %d\0" % path.stat().st_size)
    else:
        digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches(path: Path, f: RemoteFile) -> tuple[bool, str, str]:
    """(ok, expected, got) for the file's hash against the hub's."""
    if f.sha256:
        got = file_digest(path)
        return got == f.sha256, f.sha256, got
    if f.git_sha1:
        got = file_digest(path, kind="git_sha1")
        return got == f.git_sha1, f.git_sha1, got
    return True, "", ""


def _already_done(root: Path, f: RemoteFile, manifest: dict) -> bool:
    """The file is in place with the right size and hash (trusting our manifest when it says so)."""
    dest = _dest(root, f)
    if not dest.is_file() or dest.stat().st_size != f.size:
        return False
    recorded = manifest.get("files", {}).get(f.local_rel, {})
    if recorded.get("size") == f.size and (
        (f.sha256 and recorded.get("sha256") == f.sha256) or (f.git_sha1 and recorded.get("git_sha1") == f.git_sha1)
    ) and recorded.get("mtime_ns") == dest.stat().st_mtime_ns:
        return True
    return _matches(dest, f)[0]


def read_manifest(model_folder: Path) -> dict:
    path = Path(model_folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_manifest(root: Path, entry: CatalogueEntry, commit: str, files: list[RemoteFile]) -> None:
    folder = root / entry.name
    record = {}
    for f in files:
        dest = _dest(root, f)
        record[f.local_rel] = {
            "size": f.size,
            **({"sha256": f.sha256} if f.sha256 else {}),
            **({"git_sha1": f.git_sha1} if f.git_sha1 else {}),
            "mtime_ns": dest.stat().st_mtime_ns,
        }
    payload = {"repo_id": entry.repo_id, "repo_folder": entry.repo_folder, "commit": commit, "files": record}
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)


class _Tracker:
    """Turns the transfer's byte counts into DownloadProgress reports and cancel checks."""

    def __init__(self, plan: DownloadPlan, ctx: JobContext, sink: Callable[[DownloadProgress], None] | None):
        self.plan, self.ctx, self.sink = plan, ctx, sink
        self.total = plan.total_bytes
        self.done_before = 0  # bytes of finished files
        self.files_done = 0
        self.file: RemoteFile | None = None
        self.file_done = 0
        self.in_file = False  # file_done counts toward the total only until the file is finished
        self.moved = 0  # bytes actually transferred in this run (for the rate)
        self.started = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def start_file(self, f: RemoteFile, already: int) -> None:
        self.file, self.file_done, self.in_file = f, already, True
        self.report(force=True)

    def add(self, n: int) -> None:
        self.ctx.check_cancelled()  # raises Cancelled inside the transfer; the .part stays
        with self._lock:
            self.file_done += n
            self.moved += n
        self.report()

    def finish_file(self, f: RemoteFile) -> None:
        self.done_before += f.size
        self.files_done += 1
        self.file_done, self.in_file = f.size, False
        self.report(force=True)

    def report(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < _PROGRESS_EVERY_S:
            return
        self._last = now
        f = self.file
        done = self.done_before + (min(self.file_done, f.size) if f and self.in_file else 0)
        elapsed = max(now - self.started, 1e-6)
        rate = self.moved / elapsed
        eta = (self.total - done) / rate if rate > 0 else None
        self.ctx.progress("download", done, self.total)
        if self.sink is not None and f is not None:
            self.sink(
                DownloadProgress(
                    f.model, f.local_rel, min(self.file_done, f.size), f.size, done, self.total,
                    self.files_done, len(self.plan.files), rate, eta,
                )
            )


class _Meter:
    """The progress-bar object `http_get` drives (it only needs a context manager with update)."""

    def __init__(self, tracker: _Tracker, **_kwargs) -> None:
        self.tracker = tracker

    def __enter__(self) -> _Meter:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int = 1) -> None:
        self.tracker.add(int(n))

    def close(self) -> None:
        return None


@contextlib.contextmanager
def _transfer_chunks(size: int) -> Iterator[None]:
    from huggingface_hub import constants

    before = constants.DOWNLOAD_CHUNK_SIZE
    constants.DOWNLOAD_CHUNK_SIZE = min(before, size)
    try:
        yield
    finally:
        constants.DOWNLOAD_CHUNK_SIZE = before


def check_disk_space(plan: DownloadPlan, manifest_of: Callable[[str], dict] | None = None) -> int:
    """Bytes still to fetch; raise when the volume has less free space than that plus a margin.

    Raises:
        CheckpointError: "not enough disk space in <folder>: need N, free M".
    """
    needed = 0
    for f in plan.files:
        dest = _dest(plan.root, f)
        if dest.is_file() and dest.stat().st_size == f.size:
            continue
        part = _part(plan.root, f)
        have = part.stat().st_size if part.is_file() and part.stat().st_size <= f.size else 0
        needed += f.size - have
    free = free_disk_bytes(plan.root)
    if needed and needed + DISK_MARGIN_BYTES > free:
        raise CheckpointError(
            f"not enough disk space in {plan.root}: the download needs {format_bytes(needed)}"
            f" (+{format_bytes(DISK_MARGIN_BYTES)} margin), the disk has {format_bytes(free)} free"
        )
    return needed


def download_models(
    names: Sequence[str | CatalogueEntry],
    root: Path | str | None = None,
    *,
    ctx: JobContext | None = None,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    endpoint: str | None = None,
) -> DownloadResult:
    """Fetch the named catalogue models into the checkpoints folder (resuming what is there).

    Args:
        names: catalogue names (or entries).
        root: the checkpoints folder; None = `engine.models.locations.resolve_checkpoints()`.
        ctx: progress + cancel; `Cancelled` leaves partial files to resume from.
        on_progress: gets a `DownloadProgress` at most every 0.1 s and at each file's start/end.
        endpoint: the hub address (None: huggingface_hub's default, honouring `HF_ENDPOINT`).

    Raises:
        CheckpointError: offline, hub errors, not enough disk, a file whose hash does not match.
        Cancelled: when ctx is cancelled.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    ctx = ctx or JobContext.inline()
    if root is None:
        from engine.models.locations import resolve_checkpoints

        root = resolve_checkpoints().path
    root = Path(root).expanduser()
    # HF_ENDPOINT is read here, not only when huggingface_hub was imported, so a stand-in hub
    # (tests) or a mirror chosen after start-up is honoured.
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    ctx.progress("download", 0, 0)
    plan = plan_download(names, root, endpoint=endpoint)
    check_disk_space(plan)
    started = time.monotonic()
    tracker = _Tracker(plan, ctx, on_progress)
    fetched = already = 0
    by_model: dict[str, list[RemoteFile]] = {}
    for f in plan.files:
        by_model.setdefault(f.model, []).append(f)
    for entry in plan.entries:
        files = by_model.get(entry.name, [])
        manifest = read_manifest(root / entry.name)
        for f in files:
            ctx.check_cancelled()
            dest, part = _dest(root, f), _part(root, f)
            if _already_done(root, f, manifest):
                already += 1
                tracker.start_file(f, f.size)
                tracker.finish_file(f)
                continue
            part.parent.mkdir(parents=True, exist_ok=True)
            if part.is_file() and part.stat().st_size > f.size:
                part.unlink()  # longer than the file can be: not ours to resume
            have = part.stat().st_size if part.is_file() else 0
            tracker.start_file(f, have)
            if have < f.size:
                url = hf_hub_url(f.repo_id, f.path_in_repo, revision=plan.commits[f.model], endpoint=endpoint)
                try:
                    meta = get_hf_file_metadata(url, endpoint=endpoint, retry_on_errors=True)
                    with part.open("ab") as handle, _transfer_chunks(TRANSFER_CHUNK_BYTES):
                        http_get(
                            meta.location,
                            handle,
                            resume_size=have,
                            headers=build_hf_headers(),
                            expected_size=f.size,
                            displayed_filename=f.local_rel,
                            tqdm_class=functools.partial(_Meter, tracker),
                        )
                except Cancelled:
                    raise
                except (HfHubHTTPError, OSError) as exc:
                    raise CheckpointError(
                        f"download of {f.model}/{f.local_rel} failed: {exc}; run it again to resume"
                    ) from exc
                except Exception as exc:
                    if type(exc).__module__.startswith(("httpx", "httpcore")):
                        raise CheckpointError(
                            f"download of {f.model}/{f.local_rel} failed: {exc}; run it again to resume"
                        ) from exc
                    raise
            got_size = part.stat().st_size
            ok, expected, got = _matches(part, f)
            if got_size != f.size or not ok:
                part.unlink(missing_ok=True)
                what = f"{got_size} bytes, expected {f.size}" if got_size != f.size else f"hash {got}, the hub says {expected}"
                raise CheckpointError(
                    f"{f.model}/{f.local_rel} is corrupt ({what}); the partial file was deleted, run the download again"
                )
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, dest)
            fetched += 1
            tracker.finish_file(f)
        (root / entry.name).mkdir(parents=True, exist_ok=True)
        _write_manifest(root, entry, plan.commits[entry.name], files)
    _remove_empty_staging(root)
    return DownloadResult(
        root, tuple(e.name for e in plan.entries), fetched, already, tracker.moved, time.monotonic() - started
    )


def _remove_empty_staging(root: Path) -> None:
    staging = root / STAGING_DIR
    if not staging.is_dir():
        return
    for folder in sorted((p for p in staging.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()
    with contextlib.suppress(OSError):
        staging.rmdir()
