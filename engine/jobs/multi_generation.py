"""Several generation requests as ONE job: extract 3 stems, complete 2 accompaniment tracks.

The requests run one after another on the same cached pipeline (loaded once), with progress
reported per item ("stem 2/3 · diffusion") and one cancel token for all of them. Requests that
share the same source array and seeds share its VAE encode: the pipeline keeps the encoded
latents per (audio, seed), so stems 2..N skip the encode (the slowest stage on a CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from engine.jobs.context import JobContext
from engine.jobs.spec import JobSpec

if TYPE_CHECKING:
    from engine.jobs.model_cache import ModelCache
    from engine.tasks.request import GenerationRequest
    from engine.tasks.results import GenerationResult


@dataclass(frozen=True)
class MultiGenerationResult:
    """One GenerationResult per request, in request order."""

    results: tuple[GenerationResult, ...]


@dataclass(frozen=True, kw_only=True)
class MultiGenerateJob(JobSpec):
    """Run `requests` in order as one job (same checkpoints, model, device and dtype).

    Attributes:
        requests: the generation requests (at least one).
        item_labels: what each item is called in progress reports ("drums"); default "item k".
    """

    kind: ClassVar[str] = "generate-many"

    requests: tuple[GenerationRequest, ...]
    checkpoints: str | Path
    model: str | None = None
    device: str = "auto"
    dtype: str | None = None
    item_labels: tuple[str, ...] = ()
    force: bool = False

    @property
    def display_label(self) -> str:
        return self.label or f"{self.requests[0].task}: {len(self.requests)} parts"

    def run(self, models: ModelCache, ctx: JobContext) -> MultiGenerationResult:
        from engine.errors import ValidationError
        from engine.jobs.generation import GenerateJob
        from engine.tasks.request import validate_request

        if not self.requests:
            raise ValidationError("requests: a multi-part job needs at least one request")
        for req in self.requests:  # every part is checked before the first one runs
            validate_request(req)
        results = []
        n = len(self.requests)
        for k, req in enumerate(self.requests):
            ctx.check_cancelled()
            name = self.item_labels[k] if k < len(self.item_labels) else f"item {k + 1}"
            part = GenerateJob(request=req, checkpoints=self.checkpoints, model=self.model, device=self.device,
                               dtype=self.dtype, force=self.force)
            results.append(part.run(models, _part_context(ctx, f"{name} {k + 1}/{n}")))
        ctx.check_cancelled()
        return MultiGenerationResult(tuple(results))


def _part_context(ctx: JobContext, prefix: str) -> JobContext:
    """A context sharing the job's cancel token whose stages read '<prefix> · <stage>'."""
    def forward(stage: str, step: int, total: int) -> None:
        ctx.progress(f"{prefix} · {stage}", step, total)

    part = JobContext(cancel_token=ctx.cancel_token)
    part.progress = forward  # type: ignore[method-assign]
    return part
