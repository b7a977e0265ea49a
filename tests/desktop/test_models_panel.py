"""The Models panel against the stand-in hub: click Download, watch per-file and total progress,
cancel mid-file, download again (resumes), see the model become Installed."""

from __future__ import annotations

import os

import pytest

from desktop.panels.models_panel import ModelsPanel
from tests.hub_standin import StandInHub, tiny_hub_repos

SHOTS = os.environ.get("LEGATO_SCREENSHOTS")  # a folder: save what the panel looked like


@pytest.fixture
def hub(tiny_checkpoints, monkeypatch):
    import huggingface_hub.constants as hub_constants

    from engine.models import download as dl

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(dl, "TRANSFER_CHUNK_BYTES", 64 * 1024)
    monkeypatch.setattr(dl, "_PROGRESS_EVERY_S", 0.0)
    with StandInHub(tiny_hub_repos(tiny_checkpoints), lifetime_s=120) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        yield server


def test_download_cancel_resume_from_the_panel(qtbot, hub, tmp_path):
    root = tmp_path / "models"
    panel = ModelsPanel(checkpoints=root)
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    assert panel.status_of("vae") == "Not installed"
    assert panel.status_of("acestep-v15-xl-turbo") == "Not installed"

    hub.faults.slow_bytes_per_s = 2_000_000  # the tiny VAE (5.8 MB) takes ~3 s
    with qtbot.waitSignal(panel.download_started, timeout=5000):
        panel._buttons["vae"].click()
    qtbot.waitUntil(lambda: 100 < panel.file_bar.value() < 900 and "diffusion_pytorch_model" in panel.file_label.text(),
                    timeout=15000)
    assert 0 < panel.total_bar.value() < 1000
    assert "/s" in panel.rate_label.text() and "left" in panel.rate_label.text()
    assert panel.cancel_button.isEnabled() and not panel._buttons["vae"].isEnabled()
    if SHOTS:
        panel.grab().save(os.path.join(SHOTS, "models_panel_mid_download.png"))

    with qtbot.waitSignal(panel.download_cancelled, timeout=10000):
        panel.cancel_button.click()
    assert "Cancelled" in panel.message.text()
    assert panel.status_of("vae") == "Partly downloaded (Download resumes)"
    part = root / ".legato-downloads" / "vae" / "diffusion_pytorch_model.safetensors.part"
    kept = part.stat().st_size
    assert kept > 0

    hub.faults.slow_bytes_per_s = None
    with qtbot.waitSignal(panel.download_finished, timeout=20000) as finished:
        panel._buttons["vae"].click()
    assert finished.args[0].models == ("vae",)
    assert hub.ranges("vae/diffusion_pytorch_model.safetensors")[-1] == f"bytes={kept}-"
    assert panel.status_of("vae") == "Installed"
    assert panel.message.text() == "Done: vae"


def test_a_failed_download_is_shown_not_raised(qtbot, hub, tmp_path):
    panel = ModelsPanel(checkpoints=tmp_path / "m")
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.download_failed, timeout=10000) as failed:
        panel._buttons["acestep-v15-sft"].click()  # not on the stand-in hub
    assert "cannot list ACE-Step/acestep-v15-sft" in failed.args[0]
    assert "Download failed" in panel.message.text()
    assert panel._buttons["vae"].isEnabled()
