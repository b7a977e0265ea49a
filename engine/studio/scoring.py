"""Judging takes inside a project, headless (the app's "Score takes" runs the same code).

    job = score_job(project, [(clip_id, take_id), ...])       # a ScoreJob for the worker
    scores = run_job(job)                                    # or the app's queue
    apply_scores(project, job_takes, scores)                 # ONE undo step: meta "scores" + "lrc"

    score_takes_into(project, [(clip_id, take_id)])          # all three inline

Right after a generation the takes' latents are still at hand (`GenerationResult`), so
`score_job_for_batch` passes them and no VAE encode is needed; later (a reopened project) the
latents come back from the take's audio.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import ValidationError
from engine.scoring.judge import LRC_KEY, SCORES_KEY, TakeToScore
from engine.studio.session import recipe_of

if TYPE_CHECKING:
    from engine.jobs import JobContext, ModelCache
    from engine.jobs.scoring import ScoreJob
    from engine.project import Project
    from engine.scoring.judge import TakeScores
    from engine.tasks.results import GenerationResult

TakeRef = tuple[str, str]  # (clip id, take id)


def scoreable(project: Project, clip_id: str, take_id: str) -> bool:
    """Only generated takes (with a recipe) can be judged."""
    return "request" in project.clip(clip_id).take(take_id).meta


def _request_of(project: Project, take):
    """The take's DiT request; a cover/repaint take gets its project source audio back."""
    from engine.scoring.judge import dit_request

    rebuilt, _ = dit_request(take.meta)
    planned = bool(dict(take.meta.get("request") or {}).get("thinking")
                   and (take.meta.get("lm_metadata") or {}).get("audio_codes"))
    if planned:
        return rebuilt  # cover-from-codes with the LM's metas: no project audio involved
    recipe = recipe_of(project, take)
    return rebuilt.with_changes(source_audio=recipe.request.source_audio,
                                reference_audio=recipe.request.reference_audio)


def score_job(project: Project, refs: Sequence[TakeRef], *, checkpoints: str | Path | None = None,
              device: str = "auto", dtype: str | None = None, sensitivity: float = 0.5,
              latents: Sequence | None = None) -> ScoreJob:
    """The ScoreJob for these project takes (their audio from the project's assets)."""
    from engine.jobs.scoring import ScoreJob
    from engine.models.locations import checkpoints_dir

    if not refs:
        raise ValidationError("takes: choose at least one take to score")
    takes, requests = [], []
    for i, (clip_id, take_id) in enumerate(refs):
        take = project.clip(clip_id).take(take_id)
        if "request" not in take.meta:
            raise ValidationError(f"take {take.name or take.id!r} was not generated, so it cannot be scored")
        kept = latents[i] if latents is not None else None
        audio = None if kept is not None else project.assets[take.asset_id].samples
        takes.append(TakeToScore(meta=dict(take.meta), audio=audio, latents=kept))
        requests.append(_request_of(project, take))
    n = len(takes)
    return ScoreJob(takes=tuple(takes), requests=tuple(requests), checkpoints=checkpoints_dir(checkpoints),
                    device=device, dtype=dtype, sensitivity=sensitivity,
                    label=f"Score {n} take{'s' if n != 1 else ''}")


def score_job_for_batch(project: Project, clip_id: str, take_ids: Sequence[str], result: GenerationResult,
                        **kwargs) -> ScoreJob:
    """Score a batch that just landed, with the latents its generation kept."""
    if len(take_ids) != len(result.takes):
        raise ValidationError("takes: one landed take per generated take is needed")
    return score_job(project, [(clip_id, t) for t in take_ids], latents=[t.latents for t in result.takes],
                     **kwargs)


def apply_scores(project: Project, refs: Sequence[TakeRef], scores: Sequence[TakeScores]) -> None:
    """Store each take's "scores" and "lrc" in its meta, all takes in ONE undo step.
    Takes removed meanwhile (the user deleted the clip while scoring ran) are skipped."""
    from engine.project.commands import SetTakeMeta

    if len(refs) != len(scores):
        raise ValidationError("scores: one result per take is needed")
    live = []
    for (clip_id, take_id), result in zip(refs, scores, strict=True):
        try:
            project.clip(clip_id).take(take_id)
        except KeyError:
            continue
        live.append((clip_id, take_id, result))
    if not live:
        return
    label = f"Score {len(live)} take{'s' if len(live) != 1 else ''}"
    with project.history.group(label):
        for clip_id, take_id, result in live:
            project.history.push(SetTakeMeta(clip_id, take_id, {SCORES_KEY: result.to_meta(),
                                                                LRC_KEY: result.lrc or None},
                                             text=label))


def score_takes_into(project: Project, refs: Sequence[TakeRef], *, checkpoints: str | Path | None = None,
                     device: str = "auto", sensitivity: float = 0.5, ctx: JobContext | None = None,
                     models: ModelCache | None = None) -> tuple[TakeScores, ...]:
    """Score project takes inline and store the results (one undo step)."""
    from engine.jobs import JobContext, ModelCache

    job = score_job(project, refs, checkpoints=checkpoints, device=device, sensitivity=sensitivity)
    scores = job.run(models or ModelCache(), ctx or JobContext.inline())
    apply_scores(project, refs, scores)
    return scores


def take_score(meta) -> float | None:
    """The number to sort a take by: its DiT alignment score when it has lyrics (upstream's
    advice for picking takes), else its quality score; None when unscored."""
    scores = meta.get(SCORES_KEY) if hasattr(meta, "get") else None
    if not isinstance(scores, dict):
        return None
    for key in ("alignment", "quality"):
        value = scores.get(key)
        if isinstance(value, int | float):
            return float(value)
    return None


def takes_by_score(project: Project, clip_id: str) -> list[str]:
    """The clip's take ids best first; unscored takes last, in their own order."""
    takes = project.clip(clip_id).takes
    order = sorted(range(len(takes)), key=lambda i: (take_score(takes[i].meta) is None,
                                                    -(take_score(takes[i].meta) or 0.0), i))
    return [takes[i].id for i in order]
