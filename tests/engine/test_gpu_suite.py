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
    assert "bounded context" in rows[4] and "source latents cached" in rows[4], rows[4]


def test_table_shows_peak_vram_when_measured():
    suite = _suite()
    table = suite.format_table([suite.Row("song, warm", 1.234, 7.5, "x"), suite.Row("cpu row", 2.0)], "H")
    lines = table.splitlines()
    assert lines[0] == "H" and "peak VRAM GB" in lines[1]
    assert re.search(r"song, warm\s+1\.23\s+7\.50  x", lines[2])
    assert "n/a (CPU)" in lines[3]


def test_bounded_repaint_request_cuts_the_window_and_margin_on_the_latent_grid():
    from types import SimpleNamespace

    import numpy as np

    suite = _suite()
    frames, hop = 6000, 1920  # a 4-minute take at 25 Hz
    vae = SimpleNamespace(name="vae", weight_sha256={"diffusion_pytorch_model.safetensors": "ab" * 32})
    take = SimpleNamespace(latents=np.arange(frames * 8, dtype=np.float32).reshape(frames, 8),
                           audio=np.zeros((2, frames * hop), np.float32), latent_gain=0.5,
                           provenance=SimpleNamespace(models=(None, None, vae)))
    req, note = suite.bounded_repaint_request(take, 115.0, 125.0, caption="x", seeds=(1,))
    f0, f1 = 105 * 25, 135 * 25  # 115 - 10 s .. 125 + 10 s, in latent frames
    assert req.source_audio.shape == (2, (f1 - f0) * hop)
    assert req.repaint_start == 10.0 and req.repaint_end == 20.0 and req.decode_window_only
    np.testing.assert_array_equal(req.source_latents.latents, take.latents[f0:f1])
    assert req.source_latents.gain == 0.5 and "30 s to the model" in note
    take_without_vae = SimpleNamespace(**{**vars(take), "provenance": SimpleNamespace(models=())})
    assert suite.bounded_repaint_request(take_without_vae, 115.0, 125.0, seeds=(1,))[0].source_latents is None
