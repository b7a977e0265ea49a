"""Auto-labelling a dataset through the planner's understand job (upstream_lm_tools.md §6.6).

Per sample: audio -> 5 Hz codes (VAE + the DiT's tokenizer) -> the LM's understanding
(constrained, temperature 0.7 as upstream's labeller) -> caption, genres, bpm, key, time
signature, language, lyrics. What the musician already gave wins: a CSV/typed bpm or key, a
caption of a labelled sample, lyrics from a .txt file (the LM's lyrics are used only with
`transcribe_lyrics`). The LM's language is kept (upstream's labeller read the wrong key and
always wrote "unknown"). Every label stays editable afterwards (`Dataset.with_sample`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from engine.lora.dataset import INSTRUMENTAL, Dataset, DatasetSample

if TYPE_CHECKING:
    from engine.jobs.context import JobContext

LABEL_TEMPERATURE = 0.7
MAX_LABEL_SECONDS = 240.0


def label_sample(sample: DatasetSample, result, *, transcribe_lyrics: bool = False) -> DatasetSample:
    """Merge one LM reading (planner AssistResult) into a sample; the user's values win."""
    meta = result.metadata
    lm_lyrics = (result.lyrics or "").strip()
    lyrics = sample.lyrics
    instrumental = sample.is_instrumental
    if transcribe_lyrics and lm_lyrics and lm_lyrics != INSTRUMENTAL:
        lyrics, instrumental = lm_lyrics, False
    language = sample.language if sample.language not in ("", "unknown") else (meta.language or "unknown")
    return replace(
        sample,
        caption=sample.caption if (sample.labeled and sample.caption) else (result.caption or sample.caption),
        genre=sample.genre or (meta.genres or ""),
        bpm=sample.bpm if sample.bpm is not None else meta.bpm,
        keyscale=sample.keyscale or (meta.keyscale or ""),
        timesignature=sample.timesignature or (meta.timesignature or ""),
        language="unknown" if instrumental else language,
        lyrics=lyrics, is_instrumental=instrumental, labeled=True,
    )


def autolabel(dataset: Dataset, lm, dit, vae, ctx: JobContext, *, only_unlabeled: bool = True,
              transcribe_lyrics: bool = False, seed: int = 0, max_caption_tokens: int | None = None,
              max_lyrics_tokens: int | None = None) -> Dataset:
    """Label every (unlabelled) sample; progress per sample, cancel between samples and tokens."""
    from engine.audio.files import read_audio
    from engine.planner.assist import AssistOptions
    from engine.planner.audio_codes import understand_audio
    from engine.planner.sampling import SamplingParams
    from engine.tasks import constants as C

    extra = {k: v for k, v in (("max_caption_tokens", max_caption_tokens), ("max_lyrics_tokens", max_lyrics_tokens))
             if v is not None}  # budgets: upstream's unless told (tests on random weights lower them)
    options = AssistOptions(sampling=SamplingParams(temperature=LABEL_TEMPERATURE, top_p=None), seed=seed, **extra)
    todo = [s for s in dataset.samples if not (only_unlabeled and s.labeled)]
    out = {s.id: s for s in dataset.samples}
    for i, sample in enumerate(todo):
        ctx.check_cancelled()
        ctx.progress("auto-label", i, len(todo))
        audio = read_audio(dataset.audio_file(sample))[:, : int(MAX_LABEL_SECONDS * C.SAMPLE_RATE)]
        result, _codes = understand_audio(lm, dit, vae, audio, options=options, ctx=ctx)
        out[sample.id] = label_sample(sample, result, transcribe_lyrics=transcribe_lyrics)
    ctx.progress("auto-label", len(todo), len(todo))
    return dataset.with_samples(tuple(out[s.id] for s in dataset.samples))
