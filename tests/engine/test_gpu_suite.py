"""benchmarks/gpu_suite.py without a GPU: it says so, and --cpu-smoke runs its scenarios and
table on the tiny checkpoints (the CUDA branches are skipped: CUDA is reported absent)."""

from __future__ import annotations

import importlib
import re

import pytest


def _suite():
    return importlib.import_module("benchmarks.gpu_suite")  # the repo root is on sys.path (tests.*)


@pytest.fixture
def no_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_without_cuda_it_says_so_and_exits_0(no_cuda, capsys):
    assert _suite().main([]) == 0
    out = capsys.readouterr().out
    assert "CUDA is not available" in out and "--cpu-smoke" in out
    assert "seconds" not in out  # no table without --cpu-smoke: nothing that looks like GPU figures


@pytest.mark.slow  # five tiny generations (two with the planner): ~30 s on a quiet 2-core CPU
def test_cpu_smoke_runs_every_scenario_and_prints_one_table(no_cuda, tiny_checkpoints, capsys):
    suite = _suite()
    assert suite.main(["--cpu-smoke", "--checkpoints", str(tiny_checkpoints)]) == 0
    out = capsys.readouterr().out
    assert "NOT GPU figures" in out
    rows = [line for line in out.splitlines() if re.search(r"\s\d+\.\d\d\s+n/a \(CPU\)", line)]
    assert len(rows) == 5, out
    assert [("cold" in r, "warm" in r) for r in rows[:4]] == [(True, False), (False, True)] * 2
    assert all("no LM" in r for r in rows[:2]) and all("1.7B thinking" in r for r in rows[2:4])
    assert "50 LM codes" in rows[2] and "10 s of audio" in rows[0]  # 10 s smoke song = 50 codes
    bounded = suite.repaint_context_option() == {"context": "bounded"}
    assert ("bounded context" in rows[4]) == bounded and ("FULL context" in rows[4]) == (not bounded)


def test_table_shows_peak_vram_when_measured():
    suite = _suite()
    table = suite.format_table([suite.Row("song, warm", 1.234, 7.5, "x"), suite.Row("cpu row", 2.0)], "H")
    lines = table.splitlines()
    assert lines[0] == "H" and "peak VRAM GB" in lines[1]
    assert re.search(r"song, warm\s+1\.23\s+7\.50  x", lines[2])
    assert "n/a (CPU)" in lines[3]
