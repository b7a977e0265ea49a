"""The Training panel driven like a musician would: songs -> labels -> options -> Start -> the
loss plot fills -> Load in Create panel; and the Create panel's adapter list."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.audio.files import write_audio


@pytest.fixture
def bridge(qapp):
    import torch

    from desktop.bridge import EngineBridge

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls on a shared machine
    bridge = EngineBridge()
    yield bridge
    assert bridge.shutdown(timeout_s=30)
    torch.set_num_threads(threads)


@pytest.fixture
def songs(tmp_path):
    t = np.arange(int(0.6 * 48000)) / 48000
    for name, freq in (("pad.wav", 220.0), ("lead.wav", 330.0)):
        mono = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
        write_audio(tmp_path / name, np.stack([mono, mono]), "wav24")
    (tmp_path / "labels.csv").write_text("file,caption\npad.wav,soft sine pad\n")
    return tmp_path


def test_panel_from_songs_to_loss_plot_to_create_panel(qtbot, bridge, songs, tiny_checkpoints):
    from desktop.panels.create_panel import CreatePanel
    from desktop.panels.training_panel import TrainingPanel
    from engine.lora.dataset import load_dataset

    panel = TrainingPanel(bridge, checkpoints=tiny_checkpoints)
    qtbot.addWidget(panel)
    panel.ask_folder = lambda title: str(songs)
    assert not panel.start_button.isEnabled()
    qtbot.mouseClick(panel.choose_folder, Qt.MouseButton.LeftButton)
    assert panel.table.rowCount() == 2
    rows = {panel.table.item(r, 0).text(): r for r in range(2)}
    assert panel.table.item(rows["pad.wav"], 1).text() == "soft sine pad"
    # Edit labels in the table: saved to dataset.json at once; a bad value is refused and reverted.
    panel.table.item(rows["lead.wav"], 1).setText("bright sine lead")
    panel.table.item(rows["lead.wav"], 4).setText("120")
    saved = {s.filename: s for s in load_dataset(songs).samples}
    assert (saved["lead.wav"].caption, saved["lead.wav"].bpm) == ("bright sine lead", 120)
    panel.table.item(rows["lead.wav"], 4).setText("fast")
    assert "bpm" in panel.label_error.text()
    assert panel.table.item(rows["lead.wav"], 4).text() == "120"
    # Options, then Start: the plot fills with one point per step, raw and smoothed.
    panel.rank.setValue(4)
    panel.alpha.setValue(8)
    panel.max_steps.setValue(6)
    panel.save_every.setValue(3)
    panel.checkpointing.setChecked(False)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.cancel_button.isEnabled() and not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: panel.job_id is None, timeout=180_000)
    assert panel.adapter_path, panel.status.text()
    xs, ys = panel.raw_curve.getData()
    assert list(xs) == [1, 2, 3, 4, 5, 6] and np.isfinite(ys).all()
    assert len(panel.smooth_curve.getData()[1]) == 6
    assert "steps" in panel.estimate.text() and "memory" in panel.estimate.text()
    assert panel.status.text().startswith("Done")
    # Resume after the end: the plot comes back from losses.jsonl, nothing more to train.
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.job_id is None, timeout=120_000)
    assert list(panel.raw_curve.getData()[0]) == [1, 2, 3, 4, 5, 6]
    # Load in Create panel.
    create = CreatePanel()
    qtbot.addWidget(create)
    panel.load_adapter_requested.connect(create.adapters.add_adapter)
    with qtbot.waitSignal(panel.load_adapter_requested):
        qtbot.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)
    (row,) = create.adapters.rows
    row.slider.setValue(60)
    from engine.lora.spec import LoraSpec

    assert create.fields()["loras"] == (LoraSpec(panel.adapter_path, 0.6),)


def test_use_selected_clips_builds_the_dataset_with_their_captions(qtbot, bridge, tmp_path):
    from desktop.panels.training_panel import TrainingPanel
    from engine.project import Project
    from engine.project.commands import AddClip, AddTrack

    project = Project()
    t = np.arange(48000 * 2) / 48000
    audio = np.stack([np.sin(2 * np.pi * 110 * t)] * 2).astype(np.float32) * 0.2
    asset = project.assets.add(audio)
    add_track = AddTrack(name="Song")
    project.history.push(add_track)
    meta = {"request": {"caption": "rainy lofi", "lyrics": "", "instrumental": True, "bpm": 80}}
    add_clip = AddClip(track_id=add_track.track_id, asset_id=asset.id, position=0, take_meta=meta)
    project.history.push(add_clip)
    clip = project.clip(add_clip.clip_id)
    panel = TrainingPanel(bridge, selection=lambda: (project, [clip.id]))
    qtbot.addWidget(panel)
    panel.ask_folder = lambda title: str(tmp_path / "clips")
    qtbot.mouseClick(panel.use_clips_button, Qt.MouseButton.LeftButton)
    assert panel.table.rowCount() == 1
    assert panel.table.item(0, 1).text() == "rainy lofi" and panel.table.item(0, 4).text() == "80"


def test_adapter_list_refuses_what_is_not_an_adapter(qtbot, tmp_path):
    from desktop.panels.lora_adapters import AdapterList

    widget = AdapterList()
    qtbot.addWidget(widget)
    (tmp_path / "weights.pt").write_bytes(b"x")
    assert not widget.add_adapter(tmp_path / "weights.pt")
    assert "pickled" in widget.error.text() and widget.specs() == ()
