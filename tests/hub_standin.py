"""A small stand-in of the Hugging Face hub on 127.0.0.1, for download tests.

It answers the three calls our downloader makes through the real huggingface_hub client:
`GET /api/models/<repo>/tree/<rev>[/<folder>]` (file list with sizes, git blob ids and LFS
SHA-256), `HEAD /<repo>/resolve/<rev>/<path>` (commit, etag, size) and `GET` of the same address
with `Range: bytes=N-`. Faults can be planted per file: drop the connection after N bytes
(once), serve corrupted bytes, or stall for a while.

Bounded: the server thread stops by itself after `lifetime_s` even if a test forgets to stop it,
and every handler thread is a daemon.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_SUFFIXES = (".safetensors", ".pt", ".bin")


def repo_from_folder(folder: Path, prefix: str = "") -> dict[str, bytes]:
    """Every file under `folder` as {path_in_repo: bytes}, optionally inside `prefix/`."""
    out = {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        out[f"{prefix}/{rel}" if prefix else rel] = path.read_bytes()
    return out


def tiny_hub_repos(tiny_root: Path) -> dict[str, dict[str, bytes]]:
    """The tiny checkpoints laid out as upstream's repos: the main bundle plus the base repo."""
    bundle: dict[str, bytes] = {}
    for folder in ("acestep-v15-turbo", "vae", "Qwen3-Embedding-0.6B", "acestep-5Hz-lm-1.7B"):
        bundle.update(repo_from_folder(tiny_root / folder, folder))
    bundle["acestep-v15-turbo/modeling_acestep_v15_turbo.py"] = b"raise SystemExit('remote code')\n"
    bundle[".gitattributes"] = b"*.safetensors filter=lfs\n"
    base = repo_from_folder(tiny_root / "acestep-v15-base")
    return {"ACE-Step/Ace-Step1.5": bundle, "ACE-Step/acestep-v15-base": base}


@dataclass
class Faults:
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before a drop (once)
    corrupt: set[str] = field(default_factory=set)  # paths served with one byte flipped
    slow_bytes_per_s: int | None = None  # throttle every transfer (for cancel and UI tests)


class StandInHub:
    def __init__(self, repos: dict[str, dict[str, bytes]], lifetime_s: float = 120.0) -> None:
        self.repos = repos
        self.faults = Faults()
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                return None

            def do_HEAD(self) -> None:  # noqa: N802
                hub._serve(self, head=True)

            def do_GET(self) -> None:  # noqa: N802
                hub._serve(self, head=False)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                return None  # a client that hangs up mid-transfer (cancel) is expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._deadline = threading.Timer(lifetime_s, self.stop)
        self._deadline.daemon = True

    def __enter__(self) -> StandInHub:
        self._thread.start()
        self._deadline.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._deadline.cancel()
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def ranges(self, suffix: str) -> list[str | None]:
        """Range headers of the GETs for files whose path ends with `suffix`."""
        with self._lock:
            return [r for m, p, r in self.requests if m == "GET" and p.endswith(suffix) and "/resolve/" in p]

    # -- request handling ------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        url = urlsplit(handler.path)
        path = unquote(url.path)
        with self._lock:
            self.requests.append(("HEAD" if head else "GET", path, handler.headers.get("Range")))
        parts = path.strip("/").split("/")
        try:
            if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "tree":
                return self._tree("/".join(parts[2:4]), "/".join(parts[6:]), handler)
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._file("/".join(parts[:2]), "/".join(parts[4:]), handler, head)
        except (BrokenPipeError, ConnectionResetError):
            return None
        self._send(handler, 404, b'{"error": "not found"}', {"Content-Type": "application/json"})

    def _send(self, handler, status: int, body: bytes, headers: dict[str, str], head: bool = False) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    def _tree(self, repo_id: str, folder: str, handler) -> None:
        files = self.repos.get(repo_id)
        if files is None:
            return self._send(handler, 404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
        listing = []
        for path, data in files.items():
            if folder and not path.startswith(folder.rstrip("/") + "/"):
                continue
            item = {"type": "file", "path": path, "size": len(data), "oid": _git_sha1(data)}
            if _is_lfs(path, data):
                item["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            listing.append(item)
        self._send(handler, 200, json.dumps(listing).encode(), {"Content-Type": "application/json"})

    def _file(self, repo_id: str, path: str, handler, head: bool) -> None:
        data = self.repos.get(repo_id, {}).get(path)
        if data is None:
            return self._send(handler, 404, b"Entry not found", {"X-Error-Code": "EntryNotFound"})
        sha = hashlib.sha256(data).hexdigest()
        headers = {"X-Repo-Commit": COMMIT, "Accept-Ranges": "bytes", "ETag": f'"{_git_sha1(data)}"'}
        if _is_lfs(path, data):
            headers.update({"X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(data))})
        if head:
            return self._send(handler, 200, data, headers, head=True)
        if path in self.faults.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        rng = handler.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
        body = data[start:]
        status = 206 if start else 200
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        drop = self.faults.drop_after.pop(path, None)
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if drop is not None:
            handler.wfile.write(body[:drop])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(2)  # the peer sees a body shorter than Content-Length
            return None
        rate = self.faults.slow_bytes_per_s
        step = 16384
        for offset in range(0, len(body), step):
            handler.wfile.write(body[offset : offset + step])
            if rate:
                time.sleep(step / rate)


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _is_lfs(path: str, data: bytes) -> bool:
    return path.endswith(LFS_SUFFIXES) or len(data) > 1_000_000
