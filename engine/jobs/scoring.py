"""The scoring job: judge takes (LM quality, lyric alignment, LRC) on the worker.

    job_id = queue.submit(ScoreJob(takes=(TakeToScore(meta=..., audio=...),), checkpoints="checkpoints"))
    # ... JobFinished(job_id, result=(TakeScores, ...))   (batch order)

The DiT pipeline comes from the same ModelCache entry GenerateJob uses and the planner LM from
ThinkJob's, so scoring right after a generation loads nothing new. Progress: "load models",
"load planner", then per take "lm score", "vae encode" (takes without latents), "alignment";
the cancel token is checked between every stage and every LM forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from engine.jobs.spec import JobSpec

if TYPE_CHECKING:
    from engine.jobs.context import JobContext
    from engine.jobs.model_cache import ModelCache
    from engine.scoring.judge import TakeScores, TakeToScore


class _Stage:
    """Prefix a take's stages with its number ("take 2/4: alignment") on the job's context."""

    def __init__(self, ctx: JobContext, index: int, count: int):
        self.ctx, self.prefix = ctx, f"take {index + 1}/{count}: " if count > 1 else ""

    def progress(self, stage: str, step: int, total: int) -> None:
        self.ctx.progress(self.prefix + stage, step, total)

    def check_cancelled(self) -> None:
        self.ctx.check_cancelled()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ctx, name)


@dataclass(frozen=True, kw_only=True)
class ScoreJob(JobSpec):
    """Score `takes`.

    Attributes:
        takes: the takes, each with its meta and its audio (or latents).
        checkpoints: the checkpoints root (the DiT that made each take, if still installed, else
            the default DiT for its task; the planner LM under it).
        sensitivity: the PMI sigmoid's scale, upstream's "score sensitivity" (0.01-1.0).
        requests: per take, its DiT request with project audio restored; None = from its meta.
    """

    kind: ClassVar[str] = "score"

    takes: tuple[TakeToScore, ...]
    checkpoints: str | Path
    device: str = "auto"
    dtype: str | None = None
    sensitivity: float = 0.5
    requests: tuple[Any, ...] | None = None

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        n = len(self.takes)
        return f"score {n} take{'s' if n != 1 else ''}"

    def _lm(self, models: ModelCache, ctx: JobContext):
        from engine.errors import CheckpointError
        from engine.jobs.planning import PlannerJob

        try:
            return PlannerJob(checkpoints=self.checkpoints, device=self.device).load_lm(models, ctx)
        except CheckpointError:
            return None  # no LM installed: the quality score is skipped and the take says so

    def run(self, models: ModelCache, ctx: JobContext) -> tuple[TakeScores, ...]:
        from engine.errors import ValidationError
        from engine.jobs.generation import cached_pipeline
        from engine.scoring.judge import dit_request, judge_take
        from engine.scoring.quality import pmi_score

        if not self.takes:
            raise ValidationError("takes: nothing to score")
        if self.requests is not None and len(self.requests) != len(self.takes):
            raise ValidationError("requests: one per take is needed")
        pmi_score(0.0, self.sensitivity)  # a bad sensitivity fails before any model loads
        checkpoints = Path(self.checkpoints)
        lm = self._lm(models, ctx)
        out = []
        for i, take in enumerate(self.takes):
            ctx.check_cancelled()
            request, _seed = dit_request(take.meta)
            model_path = str(((take.meta.get("models") or [{}])[0]).get("path", ""))
            model = model_path if model_path and Path(model_path).is_dir() else None
            pipeline = cached_pipeline(models, ctx, checkpoints, model, request.task, self.device, self.dtype)
            stage = _Stage(ctx, i, len(self.takes))
            given = self.requests[i] if self.requests is not None else None
            out.append(judge_take(pipeline, lm, take, sensitivity=self.sensitivity, ctx=stage, request=given))
        return tuple(out)
