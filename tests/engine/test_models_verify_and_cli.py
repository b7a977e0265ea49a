"""`legato models verify/adopt/download/catalogue`, and downloads as a queued job."""

from __future__ import annotations

import json
import shutil

import pytest

from engine.cli import main
from engine.jobs import JobFinished, JobProgress, JobQueue
from engine.jobs.downloads import DownloadModelsJob
from engine.models import download as dl
from engine.models.verify import TINY_MARKER, verify_checkpoints
from engine.settings import load_settings
from tests.hub_standin import StandInHub, tiny_hub_repos

MAIN_SET = ["acestep-v15-turbo", "vae", "Qwen3-Embedding-0.6B"]


@pytest.fixture
def hub(tiny_checkpoints, monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    with StandInHub(tiny_hub_repos(tiny_checkpoints), lifetime_s=120) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        yield server


@pytest.fixture
def downloaded(hub, tmp_path):
    root = tmp_path / "models"
    dl.download_models(MAIN_SET, root)
    return root


def test_verify_a_downloaded_folder_then_every_kind_of_damage(downloaded):
    checks = {c.name: c for c in verify_checkpoints(downloaded, check_hashes=True)}
    assert set(checks) == set(MAIN_SET) and all(c.ok and c.source == "manifest" for c in checks.values())
    turbo = downloaded / "acestep-v15-turbo"
    (turbo / "silence_latent.pt").unlink()
    weights = downloaded / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # truncated
    tok = downloaded / "Qwen3-Embedding-0.6B" / "tokenizer.json"
    data = bytearray(tok.read_bytes())
    data[10] ^= 1  # same size, different content: only the hash sees it
    tok.write_bytes(bytes(data))
    checks = {c.name: c for c in verify_checkpoints(downloaded, check_hashes=True)}
    assert any("missing file" in p and "silence_latent.pt" in p for p in checks["acestep-v15-turbo"].problems)
    assert any("wrong size" in p and "diffusion_pytorch_model" in p for p in checks["vae"].problems)
    assert any("hash mismatch" in p and "tokenizer.json" in p for p in checks["Qwen3-Embedding-0.6B"].problems)
    quick = {c.name: c for c in verify_checkpoints(downloaded)}  # without --hash the flip is invisible
    assert quick["Qwen3-Embedding-0.6B"].ok


def test_verify_an_adopted_install_without_manifest(tiny_checkpoints, tmp_path):
    install = tmp_path / "ACE-Step-1.5"
    shutil.copytree(tiny_checkpoints, install / "checkpoints")  # an upstream install root
    # Our own tiny tree says so (make-tiny's marker): verify names it a test model, still
    # checking its required files and weight headers.
    checks = {c.name: c for c in verify_checkpoints(install, ["vae", "acestep-5Hz-lm-4B"])}
    assert not checks["acestep-5Hz-lm-4B"].installed
    assert checks["vae"].ok and checks["vae"].line().startswith("vae: tiny (test) model, ok")
    (install / "checkpoints" / "acestep-v15-turbo" / "silence_latent.pt").unlink()
    turbo = verify_checkpoints(install, ["acestep-v15-turbo"])[0]
    assert any("missing file" in p and "silence_latent.pt" in p for p in turbo.problems)
    # Without the marker the tiny VAE is not the real one: the catalogue's exact hub size says so.
    (install / "checkpoints" / "vae" / TINY_MARKER).unlink()
    checks = {c.name: c for c in verify_checkpoints(install, ["vae"])}
    assert any("expected 337431388" in p for p in checks["vae"].problems)


def test_cli_adopt_saves_the_folder_in_settings_without_copying(tiny_checkpoints, tmp_path, capsys):
    install = tmp_path / "install"
    shutil.copytree(tiny_checkpoints, install / "checkpoints")
    before = sorted(p.relative_to(install) for p in install.rglob("*"))
    code = main(["models", "adopt", str(install)])
    out = capsys.readouterr().out
    assert "nothing copied" in out and code in (0, 1)
    assert load_settings().checkpoints == str((install / "checkpoints").resolve())
    assert sorted(p.relative_to(install) for p in install.rglob("*")) == before


def test_cli_download_and_verify(hub, tmp_path, capsys):
    root = tmp_path / "cli"
    assert main(["models", "download", "vae", "--checkpoints", str(root)]) == 0
    captured = capsys.readouterr()
    assert "done: vae" in captured.out and "diffusion_pytorch_model.safetensors" in captured.err
    assert main(["models", "verify", "--hash", "--checkpoints", str(root)]) == 0
    assert "vae: ok" in capsys.readouterr().out
    manifest = json.loads((root / "vae" / dl.MANIFEST).read_text())
    assert manifest["commit"] and manifest["repo_id"] == "ACE-Step/Ace-Step1.5"
    (root / "vae" / "config.json").unlink()
    assert main(["models", "verify", "--checkpoints", str(root)]) == 1
    assert "missing file" in capsys.readouterr().out


def test_cli_default_set_on_this_cpu(hub, tmp_path, capsys):
    root = tmp_path / "default"
    assert main(["models", "download", "--default-set", "--device", "cpu", "--checkpoints", str(root)]) == 0
    out = capsys.readouterr().out
    assert "default set for this machine (tier1" in out
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == sorted(MAIN_SET)


def test_cli_catalogue_and_errors(capsys):
    assert main(["models", "catalogue"]) == 0
    assert "acestep-v15-xl-turbo" in capsys.readouterr().out
    assert main(["models", "download"]) == 1
    assert "--default-set" in capsys.readouterr().err


def test_download_job_through_the_queue(hub, tmp_path):
    events, details = [], []
    queue = JobQueue(events.append, run_inline=True)
    queue.submit(DownloadModelsJob(names=("vae",), checkpoints=str(tmp_path), on_detail=details.append))
    finished = [e for e in events if isinstance(e, JobFinished)]
    assert finished and finished[0].result.models == ("vae",)
    progress = [e for e in events if isinstance(e, JobProgress)]
    assert progress and progress[-1].stage == "download" and progress[-1].step == progress[-1].total > 0
    assert details and details[-1].files_done == details[-1].files_total
