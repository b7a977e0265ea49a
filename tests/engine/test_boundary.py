"""The engine never imports Qt (or the desktop), and `import engine` stays light."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN_ROOTS = {"PySide6", "shiboken6", "pyqtgraph", "desktop", "PyQt5", "PyQt6"}


_DYNAMIC_IMPORTERS = {"import_module", "__import__"}


def _static_prefix(node: ast.AST) -> str | None:
    """The module name a dynamic import asks for, as far as the source fixes it: a string
    literal in full, an f-string up to its first placeholder; None when nothing is fixed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    return None


def _dynamic_import_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for importlib.import_module / __import__ calls, aliases included
    (`from importlib import import_module as im`); a name the source does not fix is
    reported as '<computed>' (it could be anything, so the boundary cannot be shown)."""
    aliases = set(_DYNAMIC_IMPORTERS)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "importlib":
            aliases |= {a.asname or a.name for a in node.names if a.name in _DYNAMIC_IMPORTERS}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if called in _DYNAMIC_IMPORTERS or (isinstance(func, ast.Name) and called in aliases):
            prefix = _static_prefix(node.args[0])
            found.append((node.lineno, prefix if prefix else "<computed>"))
    return found


def forbidden_imports(package_dir: Path) -> list[str]:
    """Every import of a forbidden module under package_dir: `import`/`from` statements at
    module level or inside functions, and dynamic imports (importlib.import_module, __import__)."""
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(package_dir.parent)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN_ROOTS:
                    found.append(f"{where}:{node.lineno}: {name}")
        for line, name in _dynamic_import_names(tree):
            root = name.split(".")[0]
            if name == "<computed>" or root in FORBIDDEN_ROOTS or not root:
                found.append(f"{where}:{line}: {name} (dynamic)")
    return found


def test_engine_source_has_no_qt_imports(repo_root):
    assert forbidden_imports(repo_root / "engine") == []


def test_boundary_check_catches_a_planted_qt_import(repo_root, tmp_path):
    """Show that the check fails when someone adds a Qt import under engine/."""
    copy = tmp_path / "engine"
    shutil.copytree(repo_root / "engine", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "audio" / "sneaky.py").write_text("def f():\n    from PySide6.QtCore import QTimer\n")
    assert forbidden_imports(copy) == ["engine/audio/sneaky.py:2: PySide6.QtCore"]


def test_boundary_check_catches_planted_dynamic_qt_imports(repo_root, tmp_path):
    """Imports by name inside functions pass the import statements scan, the import-linter
    and the run-time import test; the AST check must still name each one."""
    copy = tmp_path / "engine"
    shutil.copytree(repo_root / "engine", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "audio" / "sneaky.py").write_text(
        "import importlib\n"
        "from importlib import import_module as load\n"
        "def f(name):\n"
        "    importlib.import_module('PySide6.QtWidgets')\n"
        "    __import__('shiboken6')\n"
        "    load(f'desktop.{name}')\n"
        "    importlib.import_module(name)\n"
        "    importlib.import_module(f'engine.audio.{name}')\n"  # ours: allowed
    )
    assert forbidden_imports(copy) == [
        "engine/audio/sneaky.py:4: PySide6.QtWidgets (dynamic)",
        "engine/audio/sneaky.py:5: shiboken6 (dynamic)",
        "engine/audio/sneaky.py:6: desktop. (dynamic)",
        "engine/audio/sneaky.py:7: <computed> (dynamic)",
    ]


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
