"""The engine never imports Qt (or the desktop), and `import engine` stays light."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN_ROOTS = {"PySide6", "shiboken6", "pyqtgraph", "desktop", "PyQt5", "PyQt6"}


def forbidden_imports(package_dir: Path) -> list[str]:
    """Every import (module level or inside a function) of a forbidden module under package_dir."""
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN_ROOTS:
                    found.append(f"{path.relative_to(package_dir.parent)}:{node.lineno}: {name}")
    return found


def test_engine_source_has_no_qt_imports(repo_root):
    assert forbidden_imports(repo_root / "engine") == []


def test_boundary_check_catches_a_planted_qt_import(repo_root, tmp_path):
    """Show that the check fails when someone adds a Qt import under engine/."""
    copy = tmp_path / "engine"
    shutil.copytree(repo_root / "engine", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "audio" / "sneaky.py").write_text("def f():\n    from PySide6.QtCore import QTimer\n")
    assert forbidden_imports(copy) == ["engine/audio/sneaky.py:2: PySide6.QtCore"]


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("import-linter is a dev dependency and must be installed (pip install -e .[dev])")
    return subprocess.run([exe], cwd=cwd, capture_output=True, text=True)


def test_import_linter_contracts_hold(repo_root):
    result = _lint_imports(repo_root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_linter_fails_on_a_planted_qt_import(repo_root, tmp_path):
    for name in ("engine", "desktop"):
        shutil.copytree(repo_root / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(repo_root / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "engine" / "audio" / "sneaky.py").write_text("from PySide6.QtCore import QTimer\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "engine never imports Qt" in result.stdout


def test_importing_every_engine_module_loads_no_qt():
    """At run time too: import all of engine/ in a fresh interpreter; no Qt module may appear."""
    code = (
        "import importlib, pkgutil, sys, engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "qt = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'desktop')]\n"
        "assert not qt, qt\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_engine_is_light():
    """Startup stays fast: the document, audio, jobs and CLI layers never pull in torch."""
    code = (
        "import sys, engine, engine.cli, engine.project, engine.audio, engine.jobs, engine.errors\n"
        "heavy = [m for m in ('torch', 'transformers', 'diffusers', 'PySide6') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
