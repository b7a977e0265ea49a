"""Reading the ACE-Step conformance kit (shared by the module and the generation conformance tests).

The kit (see its MANIFEST.md) is a folder with:
  cases/<case>.safetensors   tensors `in.*` / `out.*`; safetensors metadata key `case` holds JSON
                             parameters, including `case` and `checkpoint` (a folder name or null)
  cases/report.json          per case: checkpoint, meta, observed deviations (dev_fp64, dev_sdpa)
  <checkpoint>/              tiny checkpoints in the ORIGINAL upstream layout
  MANIFEST.md                per-tensor tolerances in each case's table

Nothing here is hard-coded to the public kit: cases, checkpoints and tolerances are discovered, so
any kit with the same structure works. A missing kit is an error (tests must fail, not skip).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_VAR = "LEGATO_CONFORMANCE_DIR"

# Upstream's rule (MANIFEST "Conventions"): tolerance = 20x the larger deviation, floor 1e-5.
_TOLERANCE_FACTOR = 20.0
_TOLERANCE_FLOOR = 1e-5


class ConformanceKitMissing(RuntimeError):
    """The kit folder is absent or incomplete (a test must FAIL on this, never skip)."""


def kit_dir() -> Path:
    """The kit folder: $LEGATO_CONFORMANCE_DIR, else `../shared/conformance` beside the repo.

    Raises:
        ConformanceKitMissing: when the folder or its `cases/` subfolder does not exist.
    """
    env = os.environ.get(ENV_VAR)
    root = Path(env) if env else (REPO_ROOT.parent / "shared" / "conformance")
    if not (root / "cases").is_dir():
        raise ConformanceKitMissing(
            f"conformance kit not found at {root} (expected a 'cases/' folder); "
            f"set {ENV_VAR} to the kit folder"
        )
    return root


@dataclass(frozen=True)
class Case:
    """One recorded case: its name, checkpoint folder (or None), parameters and file."""

    name: str
    path: Path
    checkpoint: str | None
    params: dict = field(default_factory=dict)

    def checkpoint_dir(self) -> Path | None:
        if self.checkpoint is None:
            return None
        folder = self.path.parent.parent / self.checkpoint
        if not folder.is_dir():
            raise ConformanceKitMissing(
                f"case {self.name} names checkpoint {self.checkpoint!r}, but {folder} does not exist"
            )
        return folder

    def load(self) -> tuple[dict, dict]:
        """Returns (inputs, outputs): dicts of torch tensors keyed WITHOUT the `in.`/`out.` prefix."""
        from safetensors.torch import load_file

        tensors = load_file(str(self.path))
        inputs = {k[3:]: v for k, v in tensors.items() if k.startswith("in.")}
        outputs = {k[4:]: v for k, v in tensors.items() if k.startswith("out.")}
        return inputs, outputs

    def tolerance(self, tensor: str) -> float:
        """Max-abs tolerance for output `tensor` (0.0 means exact: integer/bool outputs)."""
        return tolerances(self.path.parent.parent)[self.name][tensor]


def _read_case_meta(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata() or {}
    raw = meta.get("case")
    return json.loads(raw) if raw else {}


@lru_cache(maxsize=4)
def _discover(root: Path) -> dict[str, Case]:
    report_path = root / "cases" / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    cases: dict[str, Case] = {}
    for path in sorted((root / "cases").glob("*.safetensors")):
        meta = _read_case_meta(path)
        name = meta.get("case", path.stem)
        checkpoint = meta["checkpoint"] if "checkpoint" in meta else report.get(name, {}).get("checkpoint")
        cases[name] = Case(name=name, path=path, checkpoint=checkpoint, params=meta)
    if not cases:
        raise ConformanceKitMissing(f"no case files in {root / 'cases'}")
    return cases


def discover_cases(root: Path | None = None) -> dict[str, Case]:
    """All cases in the kit, by name (sorted)."""
    return dict(_discover(root or kit_dir()))


def case_names(root: Path | None = None) -> list[str]:
    return list(discover_cases(root))


def _manifest_tolerances(manifest: Path) -> dict[str, dict[str, float]]:
    """Parse `### \\`case\\`` sections and their `| \\`out.x\\` | ... | tol |` rows."""
    result: dict[str, dict[str, float]] = {}
    current: str | None = None
    for line in manifest.read_text().splitlines():
        heading = re.match(r"^###\s+`([^`]+)`", line)
        if heading:
            current = heading.group(1)
            result[current] = {}
            continue
        row = re.match(r"^\|\s*`out\.([^`]+)`\s*\|(.*)\|\s*$", line)
        if row and current:
            last_cell = row.group(2).split("|")[-1].strip()
            if last_cell.startswith("exact"):
                result[current][row.group(1)] = 0.0
            else:
                number = re.match(r"([0-9.eE+-]+)", last_cell)
                if number:
                    result[current][row.group(1)] = float(number.group(1))
    return result


def _report_tolerances(report: dict) -> dict[str, dict[str, float]]:
    """Fallback: 20x the larger observed deviation (fp64 / sdpa), floor 1e-5; integers exact."""
    result: dict[str, dict[str, float]] = {}
    for name, entry in report.items():
        per_tensor: dict[str, float] = {}
        for out_name, (_shape, dtype) in entry.get("tensors", {}).items():
            if not out_name.startswith("out."):
                continue
            tensor = out_name[4:]
            if not dtype.startswith("float"):
                per_tensor[tensor] = 0.0
                continue
            dev = max(
                entry.get(kind, {}).get(tensor, {}).get("max_abs", 0.0) for kind in ("dev_fp64", "dev_sdpa")
            )
            tol = max(_TOLERANCE_FACTOR * dev, _TOLERANCE_FLOOR)
            exponent = math.floor(math.log10(tol))
            mantissa = math.ceil(tol / 10**exponent)
            per_tensor[tensor] = mantissa * 10**exponent
        result[name] = per_tensor
    return result


@lru_cache(maxsize=4)
def tolerances(root: Path | None = None) -> dict[str, dict[str, float]]:
    """Per case, per output tensor: max-abs tolerance (0.0 = exact). MANIFEST first, report.json fills gaps."""
    root = root or kit_dir()
    report_path = root / "cases" / "report.json"
    merged = _report_tolerances(json.loads(report_path.read_text())) if report_path.is_file() else {}
    manifest = root / "MANIFEST.md"
    if manifest.is_file():
        for name, per_tensor in _manifest_tolerances(manifest).items():
            merged.setdefault(name, {}).update(per_tensor)
    return merged


def compare(case: Case, outputs: dict, expected: dict) -> dict[str, float]:
    """Check every expected `out.` tensor against `outputs`; returns max-abs errors per tensor.

    Raises:
        AssertionError: naming each tensor that is missing, mis-shaped, or out of tolerance.
    """

    errors: dict[str, float] = {}
    failures: list[str] = []
    for name, ref in expected.items():
        if name not in outputs:
            failures.append(f"{name}: not produced")
            continue
        got = outputs[name].detach().cpu()
        if tuple(got.shape) != tuple(ref.shape):
            failures.append(f"{name}: shape {tuple(got.shape)} != expected {tuple(ref.shape)}")
            continue
        tol = case.tolerance(name)
        if ref.dtype.is_floating_point:
            err = (got.double() - ref.double()).abs().max().item() if ref.numel() else 0.0
        else:
            err = float((got.to(ref.dtype) != ref).sum().item())  # mismatch count
        errors[name] = err
        if not (err <= tol) or (not ref.dtype.is_floating_point and err != 0):
            failures.append(f"{name}: max abs err {err:.3e} > tol {tol:.1e}")
    if failures:
        raise AssertionError(f"conformance case {case.name} failed:\n  " + "\n  ".join(failures))
    return errors
