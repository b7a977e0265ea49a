"""Model downloads as a job: `queue.submit(DownloadModelsJob(names=("acestep-v15-turbo",)))`.

Runs `engine.models.download.download_models` on the worker thread. The queue's JobProgress
events carry the total ("download", bytes done, bytes total); `on_detail`, when given, also
receives each `DownloadProgress` (file name, per-file bytes, rate, time left) on the worker
thread, for a view that shows per-file progress. Cancel leaves partial files to resume from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from engine.jobs.spec import JobSpec

if TYPE_CHECKING:
    from engine.jobs.context import JobContext
    from engine.jobs.model_cache import ModelCache
    from engine.models.download import DownloadResult


@dataclass(frozen=True, kw_only=True)
class DownloadModelsJob(JobSpec):
    """Download catalogue models into the checkpoints folder.

    Attributes:
        names: catalogue names ("acestep-v15-turbo", "vae", ...).
        checkpoints: the folder; None = the resolver's (engine.models.locations).
        endpoint: hub address; None = huggingface_hub's default / $HF_ENDPOINT.
        on_detail: optional per-file progress callback (called on the worker thread).
    """

    kind: ClassVar[str] = "download"

    names: tuple[str, ...]
    checkpoints: str | None = None
    endpoint: str | None = None
    on_detail: Callable[[Any], None] | None = None

    def run(self, models: ModelCache, ctx: JobContext) -> DownloadResult:
        from engine.models.download import download_models

        return download_models(
            list(self.names), self.checkpoints, ctx=ctx, on_progress=self.on_detail, endpoint=self.endpoint
        )
