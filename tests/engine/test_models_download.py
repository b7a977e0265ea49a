"""Downloads through the real huggingface_hub client against a stand-in hub on 127.0.0.1.

Covers: a full download (bytes identical to the tiny tree, remote code skipped, manifest), a
second run that transfers nothing, a dropped connection resumed in-process, a killed download
resumed from its .part file, a corrupt file caught by its hash, a full disk, and cancel.
"""

from __future__ import annotations

import re

import pytest

from engine.errors import Cancelled, CheckpointError
from engine.jobs.context import JobContext
from engine.models import download as dl
from engine.models.discovery import list_installed_models
from tests.hub_standin import StandInHub, tiny_hub_repos

MAIN_SET = ["acestep-v15-turbo", "vae", "Qwen3-Embedding-0.6B"]
WEIGHTS = "acestep-v15-turbo/model.safetensors"


@pytest.fixture
def hub(tiny_checkpoints, monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)  # tests/conftest.py sets it for the rest
    monkeypatch.setattr(dl, "TRANSFER_CHUNK_BYTES", 64 * 1024)  # several progress reports per tiny file
    monkeypatch.setattr(dl, "_PROGRESS_EVERY_S", 0.0)  # ... and none of them throttled away
    with StandInHub(tiny_hub_repos(tiny_checkpoints), lifetime_s=120) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        yield server


def test_download_fetches_checked_files_and_reports_progress(hub, tiny_checkpoints, tmp_path):
    reports = []
    result = dl.download_models(MAIN_SET + ["acestep-v15-base"], tmp_path, on_progress=reports.append)
    for name in MAIN_SET + ["acestep-v15-base"]:
        for source in (tiny_checkpoints / name).rglob("*"):
            if source.is_file():
                target = tmp_path / name / source.relative_to(tiny_checkpoints / name)
                assert target.read_bytes() == source.read_bytes(), target
        assert (tmp_path / name / dl.MANIFEST).is_file()
    assert not list(tmp_path.rglob("*.py"))  # custom code is never fetched
    assert not (tmp_path / dl.STAGING_DIR).exists()
    assert {m.name for m in list_installed_models(tmp_path) if m.complete} == set(MAIN_SET) | {"acestep-v15-base"}
    totals = [r.done for r in reports]
    assert totals == sorted(totals) and reports[-1].done == reports[-1].total == result.bytes_transferred
    assert reports[-1].files_done == reports[-1].files_total == result.files_fetched
    mid = [r for r in reports if r.file == "model.safetensors" and 0 < r.file_done < r.file_total]
    assert mid, "expected reports in the middle of a file"
    assert all(r.rate_bps > 0 and r.eta_s is not None for r in mid)
    size = (tiny_checkpoints / mid[0].model / "model.safetensors").stat().st_size  # the tiny DiT's weights
    assert re.fullmatch(r"\d+\.\d MB", dl.format_bytes(size)), dl.format_bytes(size)
    assert f"of {dl.format_bytes(size)} | total" in mid[0].line() and "/s, " in mid[0].line() and "left" in mid[0].line()

    again = dl.download_models(MAIN_SET, tmp_path)
    assert again.bytes_transferred == 0 and again.files_fetched == 0 and again.files_already_there > 0


def test_dropped_connection_resumes_with_a_range_request(hub, tmp_path):
    hub.faults.drop_after[WEIGHTS] = 2 * 65536  # two whole transfer chunks
    dl.download_models(["acestep-v15-turbo"], tmp_path)
    assert hub.ranges(WEIGHTS) == [None, "bytes=131072-"]
    assert (tmp_path / WEIGHTS).stat().st_size == len(hub.repos["ACE-Step/Ace-Step1.5"][WEIGHTS])


def test_killed_download_resumes_from_its_part_file(hub, tmp_path):
    data = hub.repos["ACE-Step/Ace-Step1.5"][WEIGHTS]
    part = tmp_path / dl.STAGING_DIR / "acestep-v15-turbo" / "model.safetensors.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1_000_000])  # what a killed process leaves behind
    result = dl.download_models(["acestep-v15-turbo"], tmp_path)
    assert hub.ranges(WEIGHTS) == ["bytes=1000000-"]
    assert (tmp_path / WEIGHTS).read_bytes() == data
    total = sum(len(v) for k, v in hub.repos["ACE-Step/Ace-Step1.5"].items() if k.startswith("acestep-v15-turbo/")
                and not k.endswith(".py"))
    assert result.bytes_transferred == total - 1_000_000


def test_corrupt_file_is_caught_by_its_hash(hub, tmp_path):
    hub.faults.corrupt.add("vae/diffusion_pytorch_model.safetensors")
    with pytest.raises(CheckpointError, match=r"vae/diffusion_pytorch_model.safetensors is corrupt \(hash"):
        dl.download_models(["vae"], tmp_path)
    assert not (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").exists()
    assert not list((tmp_path / dl.STAGING_DIR).rglob("*.part"))
    hub.faults.corrupt.clear()
    dl.download_models(["vae"], tmp_path)  # a clean retry succeeds
    assert (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").is_file()


def test_full_disk_is_refused_before_the_first_byte(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "free_disk_bytes", lambda path: 10_000_000)
    with pytest.raises(CheckpointError, match="not enough disk space.*needs") as info:
        dl.download_models(MAIN_SET, tmp_path)
    assert str(tmp_path) in str(info.value)
    assert not [r for r in hub.requests if r[0] == "GET" and "/resolve/" in r[1]]
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_cancel_stops_mid_file_and_a_rerun_resumes(hub, tmp_path):
    hub.faults.slow_bytes_per_s = 4_000_000
    ctx = JobContext()

    def cancel_mid_file(report):
        if report.file == "model.safetensors" and report.file_done > 300_000:
            ctx.cancel_token.cancel()

    with pytest.raises(Cancelled):
        dl.download_models(["acestep-v15-turbo"], tmp_path, ctx=ctx, on_progress=cancel_mid_file)
    part = tmp_path / dl.STAGING_DIR / "acestep-v15-turbo" / "model.safetensors.part"
    size = len(hub.repos["ACE-Step/Ace-Step1.5"][WEIGHTS])
    kept = part.stat().st_size
    assert 300_000 < kept < size
    assert not (tmp_path / WEIGHTS).exists()
    hub.faults.slow_bytes_per_s = None
    dl.download_models(["acestep-v15-turbo"], tmp_path)
    assert hub.ranges(WEIGHTS)[-1] == f"bytes={kept}-"


def test_offline_mode_and_unknown_repo_are_clear_errors(hub, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants

    with pytest.raises(CheckpointError, match="cannot list ACE-Step/acestep-v15-sft"):
        dl.download_models(["acestep-v15-sft"], tmp_path)  # not on the stand-in hub
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE"):
        dl.download_models(["vae"], tmp_path)


def test_download_asks_for_the_pinned_commit_and_records_the_one_served(hub, tmp_path):
    """The catalogue pins a commit per repo; the folder's manifest records the commit the hub
    actually served (what a later verify compares against), and the bytes are fetched at it."""
    import json
    import re

    from engine.models.catalogue import load_catalogue
    from tests.hub_standin import COMMIT

    entry = next(e for e in load_catalogue().entries if e.name == "vae")
    assert re.fullmatch(r"[0-9a-f]{40}", entry.revision)  # a commit hash, not a moving branch
    dl.download_models(["vae"], tmp_path)
    asked = [p for m, p, _ in hub.requests if m == "HEAD"]
    assert asked and f"/resolve/{entry.revision}/" in asked[0]  # the pin resolves to a commit ...
    fetched = [p for m, p, _ in hub.requests if m == "GET" and "/resolve/" in p]
    assert fetched and all(f"/resolve/{COMMIT}/" in p for p in fetched)  # ... that every byte comes from
    assert json.loads((tmp_path / "vae" / dl.MANIFEST).read_text())["commit"] == COMMIT
