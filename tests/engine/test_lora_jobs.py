"""Datasets from project clips, auto-labelling, the train job and the `legato lora` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.audio.files import write_audio
from engine.jobs.context import JobContext
from engine.lora.dataset import dataset_from_folder, load_dataset, save_dataset
from engine.tasks import constants as C
from engine.tasks.request import GenerationRequest


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_dataset_from_selected_project_clips_carries_their_captions(tiny_checkpoints, tmp_path):
    from engine.lora.dataset import dataset_from_clips
    from engine.project import Project
    from engine.studio import generate_into

    project = Project()
    landed = generate_into(project, GenerationRequest(caption="dusty boom bap", lyrics="[verse]\nyo yo",
                                                      bpm=92, keyscale="A minor", duration=2.0, seeds=(1,)),
                           checkpoints=tiny_checkpoints, device="cpu")
    clip = project.clip(landed.clip_id)
    ds = dataset_from_clips(project, [clip.id], tmp_path / "ds")
    (sample,) = ds.samples
    assert (sample.caption, sample.lyrics, sample.bpm, sample.keyscale) == ("dusty boom bap", "[verse]\nyo yo",
                                                                            92, "A minor")
    assert sample.labeled and not sample.is_instrumental and sample.source == f"clip:{clip.id}/{clip.active_take_id}"
    from engine.audio.files import read_audio

    audio = read_audio(ds.audio_file(sample))
    assert audio.shape[1] == clip.length
    np.testing.assert_allclose(audio, project.assets[clip.asset_id].samples[:, : clip.length], atol=1e-4)
    save_dataset(ds)
    assert load_dataset(tmp_path / "ds").samples == ds.samples


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ds")
    t = np.arange(int(0.6 * C.SAMPLE_RATE)) / C.SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    write_audio(folder / "a.wav", np.stack([tone, tone]), "wav24")
    write_audio(folder / "b.wav", np.stack([tone[::-1], tone]).copy(), "wav24")
    (folder / "meta.csv").write_text("file,bpm\nb.wav,100\n")
    save_dataset(dataset_from_folder(folder))
    return folder


def test_autolabel_job_labels_through_the_planner_and_keeps_user_values(tiny_checkpoints, folder):
    from engine.jobs import ModelCache
    from engine.jobs.lora import AutoLabelJob

    job = AutoLabelJob(dataset=folder, checkpoints=tiny_checkpoints, device="cpu", max_caption_tokens=12,
                       max_lyrics_tokens=12)
    ds = job.run(ModelCache(), JobContext.inline())
    assert all(s.labeled for s in ds.samples)
    b = next(s for s in ds.samples if s.filename == "b.wav")
    assert b.bpm == 100  # the CSV's bpm wins over the LM's
    assert load_dataset(folder).samples == ds.samples  # saved beside the audio
    edited = ds.with_sample(b.id, caption="my own words")
    assert edited.sample(b.id).caption == "my own words"


def test_label_sample_merge_rules():
    from engine.lora.autolabel import label_sample
    from engine.lora.dataset import DatasetSample
    from engine.planner.assist import AssistResult
    from engine.planner.metadata import Metadata

    reading = AssistResult("lm caption", "la la la", Metadata(bpm=120, keyscale="D major", genres="pop",
                                                               language="en", timesignature="4"))
    fresh = label_sample(DatasetSample(id="x", audio_path="a.wav", filename="a.wav"), reading)
    assert (fresh.caption, fresh.bpm, fresh.keyscale, fresh.genre, fresh.lyrics) == \
        ("lm caption", 120, "D major", "pop", "[Instrumental]")
    vocal = DatasetSample(id="y", audio_path="a.wav", filename="a.wav", caption="mine", labeled=True, bpm=80,
                          lyrics="my words", is_instrumental=False)
    kept = label_sample(vocal, reading)
    assert (kept.caption, kept.bpm, kept.lyrics, kept.language) == ("mine", 80, "my words", "en")
    assert label_sample(vocal, reading, transcribe_lyrics=True).lyrics == "la la la"


def test_train_job_estimates_then_trains_and_reports_losses(tiny_checkpoints, folder, tmp_path):
    from engine.jobs import JobQueue
    from engine.jobs.events import JobFinished, JobProgress
    from engine.jobs.lora import TrainJob
    from engine.lora.dataset import load_dataset
    from engine.lora.train import TrainConfig

    ds = load_dataset(folder)
    for s in ds.samples:
        ds = ds.with_sample(s.id, caption=s.caption or "sine")
    save_dataset(ds)
    events, losses = [], []
    queue = JobQueue(sink=events.append, run_inline=True)
    config = TrainConfig(rank=2, alpha=4, max_steps=3, warmup_steps=1, gradient_checkpointing=True)
    queue.submit(TrainJob(dataset=folder, checkpoints=tiny_checkpoints, out_dir=tmp_path / "est", config=config,
                          device="cpu", estimate_only=True))
    queue.submit(TrainJob(dataset=folder, checkpoints=tiny_checkpoints, out_dir=tmp_path / "out", config=config,
                          device="cpu", on_loss=lambda step, loss: losses.append(step)))
    finished = [e for e in events if isinstance(e, JobFinished)]
    assert len(finished) == 2, [type(e).__name__ for e in events]
    est = finished[0].result
    assert est.adapter_path is None and est.estimate.total_steps == 3 and est.estimate.seconds_per_step > 0
    assert est.estimate.peak_bytes > 0 and "steps" in est.estimate.line
    result = finished[1].result
    assert result.steps == 3 and losses == [1, 2, 3] and (result.adapter_path / "adapter_config.json").is_file()
    stages = {e.stage for e in events if isinstance(e, JobProgress)}
    assert {"preprocess", "estimate", "train"} <= stages


def test_cli_dataset_label_train_export(tiny_checkpoints, folder, tmp_path, capsys):
    from engine.cli import main

    assert main(["lora", "dataset", "scan", str(folder)]) == 0
    ds = load_dataset(folder)
    sid = ds.samples[0].id
    assert main(["lora", "dataset", "label", str(folder), sid, "--caption", "glassy bells", "--bpm", "70"]) == 0
    assert load_dataset(folder).sample(sid).caption == "glassy bells"
    for s in load_dataset(folder).samples:
        if not s.caption:
            main(["lora", "dataset", "label", str(folder), s.id, "--caption", "sine"])
    capsys.readouterr()
    out = tmp_path / "run"
    assert main(["lora", "train", str(folder), "--out", str(out), "--checkpoints", str(tiny_checkpoints),
                 "--device", "cpu", "--rank", "2", "--alpha", "2", "--max-steps", "2", "--no-gradient-checkpointing"]) == 0
    printed = capsys.readouterr().out
    assert "trained 2 steps" in printed and "estimate: about" in printed
    assert main(["lora", "export", str(out), str(tmp_path / "exported")]) == 0
    assert main(["lora", "info", str(tmp_path / "exported")]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["rank"] == 2
    assert main(["lora", "dataset", "label", str(folder), sid, "--bpm", "1000"]) == 1
    assert "bpm" in capsys.readouterr().err
