"""Preprocess a dataset to tensors once: VAE latents and the encoded text/lyric conditions.

Per labelled sample (upstream_lm_tools.md §6.7), one `<sample id>.safetensors` holding

    target_latents        [T, 64]   VAE posterior sample of the audio (seeded per sample)
    encoder_hidden_states [L, H]    the condition encoder's packed rows (lyrics, timbre, caption)
    context_latents       [T, 128]  silence latent frames ++ an all-ones chunk mask (text2music)

plus the text it was made from in the file's metadata. The caption and lyric prompts are built
by the generation path itself (tasks.conditioning.plan_task with a text2music request), so the
model is trained on exactly the conditioning it later sees (upstream's snapshot embedded raw
lyrics without the language header; its later fix does what we do). The timbre reference is
the same silence reference generation uses without a reference clip (upstream trains with an
all-zero one-frame reference; see ARCHITECTURE.md "Differences from upstream").

Cache: `<dataset folder>/.legato-cache/<model key>/`. A sample's file name carries a hash of
its audio bytes, its labels and the prompt, so editing one label re-encodes that sample only,
and running again with nothing changed encodes nothing. Audio longer than `max_duration`
(upstream 240 s) is cut. Progress per sample; cancel between samples (and between VAE tiles).
Files are written under a temporary name and renamed, so a cancel never leaves half a tensor.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import ValidationError
from engine.lora.dataset import Dataset, DatasetSample, genre_sample_ids, training_prompt

if TYPE_CHECKING:
    from engine.jobs.context import JobContext
    from engine.tasks.components import GenerationModels

CACHE_DIR = ".legato-cache"
MAX_DURATION_S = 240.0
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class PreprocessedSet:
    """Where a dataset's tensors are: one file per sample, in dataset order."""

    folder: Path
    files: tuple[Path, ...]
    encoded: int  # how many were (re)computed this time
    reused: int  # how many came from the cache


def models_key(models: GenerationModels) -> str:
    """A short, stable name for the DiT + text encoder + VAE weights (the cache subfolder)."""
    ids = ",".join(f"{i.name}:" + "+".join(d for _, d in i.weight_sha256) for i in models.identities)
    return hashlib.sha256(ids.encode()).hexdigest()[:16]


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sample_key(dataset: Dataset, sample: DatasetSample, prompt: str, max_duration: float) -> str:
    labels = {"prompt": prompt, "lyrics": sample.lyrics, "bpm": sample.bpm, "keyscale": sample.keyscale,
              "timesignature": sample.timesignature, "language": sample.language,
              "instrumental": sample.is_instrumental, "max_duration": max_duration, "v": FORMAT_VERSION,
              "audio": _file_sha(dataset.audio_file(sample))}
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def _request_for(sample: DatasetSample, prompt: str, seconds: float):
    from engine.tasks.request import GenerationRequest

    return GenerationRequest(
        caption=prompt, lyrics="" if sample.is_instrumental else sample.lyrics,
        instrumental=sample.is_instrumental, bpm=sample.bpm, keyscale=sample.keyscale,
        timesignature=sample.timesignature, vocal_language=sample.language or "unknown",
        duration=max(1.0, round(seconds)))


def encode_sample(models: GenerationModels, audio, sample: DatasetSample, prompt: str, seed: int,
                  ctx: JobContext) -> dict:
    """One sample's tensors (see the module docstring for shapes)."""
    import numpy as np
    import torch

    from engine.tasks import constants as C
    from engine.tasks.conditioning import plan_task

    seconds = audio.shape[1] / C.SAMPLE_RATE
    plan = plan_task(_request_for(sample, prompt, seconds), None)
    gen = torch.Generator(models.vae.device).manual_seed(seed)
    wav = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]  # [1, 2, S]
    latents = models.vae.encode(wav, sample=True, generator=gen, on_tile=ctx.check_cancelled)[0].float().cpu()
    frames = latents.shape[0]  # [T, 64]
    caption = models.text.encode_captions([plan.caption])
    lyrics = models.text.embed_lyrics([plan.lyrics])
    dit = models.dit
    reference = dit.silence_frames(C.REFERENCE_FRAMES).to(dit.device, dit.dtype)  # [1, 750, 64]
    cond = dit.encode_conditions(caption.hidden_states, caption.attention_mask, lyrics.hidden_states,
                                 lyrics.attention_mask, reference, torch.zeros(1, dtype=torch.long))
    valid = int(cond.encoder_attention_mask[0].sum())
    states = cond.encoder_hidden_states[0, :valid].float().cpu().contiguous()  # [L, H] valid rows first
    silence = dit.silence_frames(frames).float().cpu()[0]  # [T, 64]
    context = torch.cat([silence, torch.ones_like(silence)], dim=-1).contiguous()  # [T, 2C]
    return {"target_latents": latents.contiguous(), "encoder_hidden_states": states, "context_latents": context}


def preprocess_dataset(dataset: Dataset, models: GenerationModels, ctx: JobContext, *,
                       max_duration: float = MAX_DURATION_S, seed: int = 42) -> PreprocessedSet:
    """Encode every sample that is not cached yet; returns the files in dataset order."""
    from safetensors.torch import save_file

    from engine.audio.files import read_audio
    from engine.tasks import constants as C

    if not dataset.samples:
        raise ValidationError("dataset: it has no samples")
    unlabeled = [s.filename for s in dataset.samples if not s.caption and not s.genre and not s.custom_tag
                 and not dataset.custom_tag]
    if unlabeled:
        raise ValidationError(f"dataset: {unlabeled[0]} has no caption yet; auto-label or type one")
    folder = dataset.folder / CACHE_DIR / models_key(models)
    folder.mkdir(parents=True, exist_ok=True)
    genre_ids = genre_sample_ids(dataset)
    files, encoded, reused = [], 0, 0
    total = len(dataset.samples)
    for i, sample in enumerate(dataset.samples):
        ctx.check_cancelled()
        ctx.progress("preprocess", i, total)
        prompt = training_prompt(dataset, sample, sample.id in genre_ids)
        key = sample_key(dataset, sample, prompt, max_duration)
        path = folder / f"{sample.id}-{key}.safetensors"
        if path.is_file():
            files.append(path)
            reused += 1
            continue
        audio = read_audio(dataset.audio_file(sample))[:, : int(max_duration * C.SAMPLE_RATE)]
        if audio.shape[1] < C.HOP * 2:
            raise ValidationError(f"{dataset.audio_file(sample)}: too short to train on")
        seed_k = int.from_bytes(hashlib.sha256(f"{seed}:{sample.id}".encode()).digest()[:4], "little")
        tensors = encode_sample(models, audio, sample, prompt, seed_k, ctx)
        tmp = path.with_suffix(".tmp")
        save_file(tensors, str(tmp), metadata={"prompt": prompt, "lyrics": sample.lyrics, "sample": sample.id,
                                               "filename": sample.filename, "version": FORMAT_VERSION})
        os.replace(tmp, path)
        files.append(path)
        encoded += 1
    ctx.progress("preprocess", total, total)
    (folder / "manifest.json").write_text(json.dumps(
        {"dataset": dataset.name, "num_samples": total, "samples": [p.name for p in files]}, indent=2),
        encoding="utf-8")
    return PreprocessedSet(folder=folder, files=tuple(files), encoded=encoded, reused=reused)


def load_tensors(path: Path) -> dict:
    """One preprocessed sample (safetensors only)."""
    from engine.models.checkpoint_files import read_safetensors

    return read_safetensors([path])
