#!/usr/bin/env python3
"""Set up Legato in a local virtual environment, then launch the app or run the tests.

    python3 bootstrap.py app     # create .venv, install everything, open Legato
    python3 bootstrap.py test    # create .venv, install everything, run the whole test suite

Works on Linux, macOS and Windows with only Python 3.11+ installed. It is idempotent: a second
run reuses .venv and reinstalls only when pyproject.toml changed. Extra arguments after `test`
go to pytest; after `app` they go to `legato`.

Why torch is installed on its own, first: a plain `pip install torch` on Linux/Windows pulls a
multi-GB CUDA build. We take a CPU wheel when one is at hand (a local wheelhouse, or PyTorch's CPU
index), unless LEGATO_TORCH_SPEC says otherwise (e.g. LEGATO_TORCH_SPEC="torch --index-url
https://download.pytorch.org/whl/cu128" for an NVIDIA machine).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TORCH_VERSION = "2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def run(cmd: list[str], **kw) -> int:
    print("+", " ".join(shlex.quote(str(c)) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], **kw)


def check(cmd: list[str]) -> None:
    if run(cmd) != 0:
        sys.exit(f"bootstrap: command failed: {' '.join(map(str, cmd))}")


def ensure_venv() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 - runs under whatever python3 the user has
        sys.exit("Legato needs Python 3.11 or newer.")
    py = venv_python()
    if not py.exists():
        check([sys.executable, "-m", "venv", str(VENV)])
        check([py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    return py


def has_torch(py: Path) -> bool:
    return subprocess.call([str(py), "-c", "import torch"], stderr=subprocess.DEVNULL) == 0


def install_torch(py: Path) -> None:
    if has_torch(py):
        return
    pip = [py, "-m", "pip", "install", "--quiet"]
    spec = os.environ.get("LEGATO_TORCH_SPEC")
    if spec:
        check(pip + shlex.split(spec))
        return
    # 1. A CPU wheel in a local wheelhouse (pip's configured find-links): take torch itself with
    #    no index consulted, then its small pure-Python dependencies from the normal index. The
    #    CPU build's metadata names no CUDA packages, so the second step pulls nothing big.
    if run(pip + ["--no-index", "--no-deps", f"torch=={TORCH_VERSION}"], stderr=subprocess.DEVNULL) == 0:
        check(pip + [f"torch=={TORCH_VERSION}"])
        return
    # 2. macOS wheels on PyPI are CPU/MPS builds already; elsewhere use PyTorch's CPU index.
    if platform.system() == "Darwin":
        check(pip + [f"torch>={TORCH_VERSION}"])
    else:
        check(pip + ["torch", "--index-url", CPU_INDEX])


def install_project(py: Path) -> None:
    stamp = VENV / ".legato-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    install_torch(py)
    check([py, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev]"])
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test", "setup"):
        print(__doc__)
        return 2
    py = ensure_venv()
    install_project(py)
    if argv[0] == "setup":
        return 0
    if argv[0] == "app":
        return run([py, "-m", "desktop.launcher", *argv[1:]], cwd=ROOT)
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    return run([py, "-m", "pytest", *argv[1:]], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
