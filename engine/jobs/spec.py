"""Job specs: frozen descriptions of work that the worker thread runs.

A spec is plain immutable data (it crosses from the thread that submits it to the worker
thread) plus one method, `run(models, ctx)`, that does the work on the worker thread:

- `models` is the worker's long-lived `ModelCache`: load through it
  (`models.get_or_load(ModelKey(path, device, dtype), loader)`) so weights stay loaded
  between jobs instead of being read from disk for every take.
- `ctx` is the `JobContext` for this job: call `ctx.check_cancelled()` once per diffusion
  step / LM token and `ctx.progress(stage, step, total)` as work goes on.
- The return value becomes `JobFinished.result`. It crosses back to the UI thread, so make it
  immutable (a frozen dataclass, read-only arrays, file paths) and never hand back tensors.

Plugging in new work takes a few lines (the pipeline and planner glue in this package is
written exactly this way; see `engine/jobs/generation.py`)::

    @dataclass(frozen=True, kw_only=True)
    class PlanJob(JobSpec):
        kind: ClassVar[str] = "plan"
        request: PlanRequest              # the owner's own frozen request type

        def run(self, models: ModelCache, ctx: JobContext) -> PlanResult:
            from engine.planner import plan   # heavy imports stay inside run()
            return plan(self.request, models=models, ctx=ctx)

    job_id = queue.submit(PlanJob(request=req, label="Plan: 'lofi rain'"))

Keep heavy imports (torch, the model code) inside `run`, so `import engine.jobs` stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # import cycles and weight: only for annotations
    from engine.jobs.context import JobContext
    from engine.jobs.model_cache import ModelCache


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """Base for every job. Subclass it as a frozen, keyword-only dataclass and override `run`.

    Attributes:
        label: What the user sees in the progress bar ("Generate 4 takes"). Defaults to `kind`.
        supersede_key: Jobs that fully replace each other share a key (e.g. "repaint:<clip>:<region>");
            submitting a job cancels every still-queued job with the same key. None: never superseded.
        kind: Class-level machine name of the job type ("generate", "plan", ...).
        can_cancel: Class-level; False for work that cannot stop midway (the queue then only
            cancels it while it is still queued).
    """

    kind: ClassVar[str] = "job"
    can_cancel: ClassVar[bool] = True

    label: str = ""
    supersede_key: str | None = None

    @property
    def display_label(self) -> str:
        return self.label or self.kind

    def run(self, models: ModelCache, ctx: JobContext) -> Any:
        """Do the work on the worker thread and return an immutable result."""
        raise NotImplementedError(f"{type(self).__name__} must implement run(models, ctx)")


@dataclass(frozen=True, kw_only=True)
class FunctionJob(JobSpec):
    """Runs `fn(models, ctx, *args)`: for small ad-hoc work, scripts and tests.

    Prefer a dedicated spec type for real features: its fields are the request, which makes the
    job inspectable (and reproducible) instead of an opaque closure.
    """

    kind: ClassVar[str] = "function"

    fn: Callable[..., Any]
    args: tuple = field(default=())

    def run(self, models: ModelCache, ctx: JobContext) -> Any:
        return self.fn(models, ctx, *self.args)
