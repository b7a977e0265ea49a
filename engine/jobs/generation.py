"""The generation job: a `GenerationRequest` run on the worker with its models kept loaded.

    job_id = queue.submit(GenerateJob(request=req, checkpoints="checkpoints"))
    # ... JobFinished(job_id, result=GenerationResult(takes=(Take, ...)))

The pipeline for a (DiT folder, device, dtype) is built once and kept in the worker's
`ModelCache`, so the second take costs only the generation, not the load. With thinking, the
planner LM comes from the same cache entry ThinkJob uses. Everything heavy
(torch, the pipeline) is imported inside `run`, on the worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from engine.jobs.model_cache import ModelKey
from engine.jobs.spec import JobSpec

if TYPE_CHECKING:
    from engine.jobs.context import JobContext
    from engine.jobs.model_cache import ModelCache
    from engine.runtime.options import RuntimeChoices
    from engine.tasks.request import GenerationRequest
    from engine.tasks.results import GenerationResult

PIPELINE_VARIANT = "generation-pipeline"  # ModelKey.variant: the DiT folder's full pipeline


@dataclass(frozen=True, kw_only=True)
class GenerateJob(JobSpec):
    """Generate `request.batch_size` takes.

    Attributes:
        request: The frozen generation request (engine.tasks.request).
        checkpoints: The checkpoints root in the upstream layout.
        model: A DiT folder name under `checkpoints` (or an absolute path); None picks the
            default, or an installed base-family model for lego/extract/complete.
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        dtype: "float32", "bfloat16", "float16"; None = the device's upstream default.
        runtime: the runtime choices (offload, quantization, compile, VAE device, dtype), each
            "auto" or explicit; None = the saved Settings' (what the app and CLI share). `dtype`
            above, when given, wins over the choice's dtype.
        force: run even when the preflight says the request will not fit in memory. The check
            uses this machine's stored calibration (engine.runtime.preflight); before the first
            calibration there is nothing to check against and the job runs.
    """

    kind: ClassVar[str] = "generate"

    request: GenerationRequest
    checkpoints: str | Path
    model: str | None = None
    device: str = "auto"
    dtype: str | None = None
    runtime: RuntimeChoices | None = None
    force: bool = False

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        n = self.request.batch_size
        return f"{self.request.task}: {n} take{'s' if n != 1 else ''}"

    def run(self, models: ModelCache, ctx: JobContext) -> GenerationResult:
        from engine.runtime.preflight import publish_seen_shapes
        from engine.tasks.request import validate_request

        validate_request(self.request)  # a bad request fails before seconds of model loading
        checkpoints = Path(self.checkpoints)
        pipeline = self.load_pipeline(models, ctx)
        options = pipeline.runtime
        if not self.force:
            self._refuse_if_it_cannot_fit(pipeline)
        planner = None
        if self.request.effective_thinking:
            # The LM lives in the cache under ThinkJob's key, so planning a song and then
            # generating it (or generating twice) loads the LM once, not once per pipeline.
            from engine.jobs.planning import PlannerJob

            lm_root = checkpoints / self.request.lm_model if self.request.lm_model else checkpoints
            planner = PlannerJob(checkpoints=lm_root, device=self.device, quantization=options.quantization,
                                 offload=options.offload).load_lm(models, ctx)
        try:
            return pipeline(self.request, ctx, planner=planner)
        finally:  # cancelled or failed too: the shapes it began are built (the app's line reads them)
            publish_seen_shapes(pipeline)

    def load_pipeline(self, models: ModelCache, ctx: JobContext):
        """The cached (or freshly loaded) pipeline for this job, with its runtime options applied."""
        return cached_pipeline(models, ctx, Path(self.checkpoints), self.model, self.request.task, self.device,
                               self.dtype, self.runtime)

    def runtime_options(self, device):
        """The RuntimeOptions this job runs with on `device` (engine.runtime.options)."""
        return runtime_options(device, self.runtime, self.dtype)

    def _refuse_if_it_cannot_fit(self, pipeline) -> None:
        from engine.errors import ValidationError
        from engine.runtime.preflight import calibration_key, predict, seen_shapes, stored_calibration

        calib = stored_calibration(calibration_key(pipeline))
        if calib is None:
            return
        lm = None
        if self.request.effective_thinking:  # the planner's weights count too, when measured
            from engine.runtime.preflight_lm import stored_lm_for

            lm = stored_lm_for(pipeline, self.request.lm_model)
        result = predict(self.request, calib, pipeline.family, lm=lm, seen=seen_shapes(pipeline))
        if not result.fits:
            raise ValidationError(f"this request will not fit: {result.line} (force it to run anyway)")


def runtime_options(device, choices=None, dtype: str | None = None):
    """The RuntimeOptions for `device`: `choices` (None = the saved Settings'), `dtype` on top."""
    from engine.runtime.options import RuntimeChoices, resolve_options

    if choices is None:
        from engine.settings import load_settings

        choices = RuntimeChoices.from_settings(load_settings())
    if dtype:
        choices = choices.with_changes(dtype=dtype)
    return resolve_options(device, choices)


def cached_pipeline(models: ModelCache, ctx: JobContext, checkpoints: Path, model: str | None, task: str,
                    device: str = "auto", dtype: str | None = None, runtime=None):
    """The GenerationPipeline for (DiT folder, device, runtime options) from the worker's cache,
    loading it on first use. Shared by GenerateJob and ScoreJob, so scoring a fresh batch loads
    nothing (both resolve the same options from the saved Settings when `runtime` is None)."""
    from engine.runtime.device import pick_device
    from engine.tasks.components import resolve_model
    from engine.tasks.pipeline import GenerationPipeline

    folder = resolve_model(checkpoints, model, task)
    picked = pick_device(device)
    options = runtime_options(picked, runtime, dtype)
    torch_dtype = options.dtype
    key = ModelKey(str(folder.resolve()), str(picked), str(torch_dtype).removeprefix("torch."),
                   (PIPELINE_VARIANT, *options.variant()))

    def load() -> GenerationPipeline:
        ctx.progress("load models", 0, 1)
        # `folder` is absolute, so resolve_model inside keeps exactly this folder.
        pipe = GenerationPipeline.from_checkpoints(checkpoints, model=str(folder.resolve()), task=task,
                                                   device=str(picked), dtype=torch_dtype, runtime=options)
        ctx.progress("load models", 1, 1)
        return pipe

    ctx.check_cancelled()
    pipeline = models.get_or_load(key, load)
    ctx.check_cancelled()
    return pipeline


@dataclass(frozen=True, kw_only=True)
class CalibrateJob(GenerateJob):
    """Measure (once) this machine's per-stage costs for the job's model and options, for the
    preflight (engine.runtime.preflight). Returns the Calibration; a stored one is reused."""

    kind: ClassVar[str] = "calibrate"

    @property
    def display_label(self) -> str:
        return self.label or "Measuring this device for time and memory estimates"

    def run(self, models: ModelCache, ctx: JobContext):
        from engine.runtime.preflight import load_or_calibrate, publish_seen_shapes

        pipeline = self.load_pipeline(models, ctx)
        try:
            calib = load_or_calibrate(pipeline, ctx)
        finally:  # the calibration's own lengths are warm now
            publish_seen_shapes(pipeline)
        if self.request.effective_thinking:  # a thinking request also measures its planner LM
            from engine.runtime.preflight_lm import load_or_calibrate_lm

            load_or_calibrate_lm(pipeline, self.request.lm_model, ctx)
        return calib
