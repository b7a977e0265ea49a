"""Planner LM jobs: thinking (metadata + audio codes), simple mode, format and understand.

    job_id = queue.submit(ThinkJob(request=ThinkRequest(caption="lofi"), checkpoints="checkpoints"))
    # ... JobFinished(job_id, result=ThinkResult(items=(ThinkItem, ...)))

The LM for a (folder, device, dtype) is loaded once into the worker's `ModelCache`; the
planner's token loops check the job's cancel token before every token. torch and the planner
are imported inside `run`, on the worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from engine.jobs.model_cache import ModelKey
from engine.jobs.spec import JobSpec

if TYPE_CHECKING:
    from engine.jobs.context import JobContext
    from engine.jobs.model_cache import ModelCache
    from engine.planner.assist import AssistOptions, AssistResult
    from engine.planner.lm import PlannerLM
    from engine.planner.metadata import Metadata
    from engine.planner.think import ThinkRequest, ThinkResult

PLANNER_VARIANT = "planner-lm"  # ModelKey.variant for a loaded PlannerLM


@dataclass(frozen=True, kw_only=True)
class PlannerJob(JobSpec):
    """Base of the planner jobs: where the LM is and how to load it.

    Attributes:
        checkpoints: A checkpoints root (the `acestep-5Hz-lm-*` folder in it is used, 1.7B
            preferred) or an LM folder itself.
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        dtype: "float32", "bfloat16", "float16"; None = bfloat16 on CUDA, float32 elsewhere (upstream).
        max_duration: The memory tier's longest song with the LM, seconds; None = the planner's default.
        quantization: "none" or a runtime quantisation mode (engine.runtime.options.QUANTIZERS)
            applied to the LM's weights after loading.
        offload: park the LM on the CPU between uses (the pipeline moves it for its stage).
    """

    checkpoints: str | Path
    device: str = "auto"
    dtype: str | None = None
    max_duration: int | None = None
    quantization: str = "none"
    offload: bool = False

    def load_lm(self, models: ModelCache, ctx: JobContext) -> PlannerLM:
        """The PlannerLM from the cache, loading it on first use."""
        import torch

        from engine.planner.lm import PlannerLM, find_lm_folder
        from engine.runtime.device import parse_dtype, pick_device

        folder = find_lm_folder(self.checkpoints).resolve()
        device = pick_device(self.device)
        if self.dtype is not None:
            dtype = parse_dtype(self.dtype)
        else:
            dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        key = ModelKey(
            str(folder),
            str(device),
            str(dtype).removeprefix("torch."),
            (PLANNER_VARIANT, str(self.max_duration), f"quant={self.quantization}", f"offload={self.offload}"),
        )

        def load() -> PlannerLM:
            ctx.progress("load planner", 0, 1)
            extra: dict[str, Any] = {} if self.max_duration is None else {"max_duration": self.max_duration}
            lm = PlannerLM.load(folder, device=str(device), dtype=dtype, **extra)
            if self.quantization != "none":
                from engine.runtime.options import apply_quantization

                apply_quantization(lm.model, self.quantization)
            if self.offload:
                from engine.runtime.options import StageOffloader

                StageOffloader(device, enabled=True).park(lm.model)
            ctx.progress("load planner", 1, 1)
            return lm

        ctx.check_cancelled()
        lm = models.get_or_load(key, load)
        ctx.check_cancelled()
        return lm


@dataclass(frozen=True, kw_only=True)
class ThinkJob(PlannerJob):
    """Text2music thinking: the LM writes metadata (and a caption) and audio codes per take."""

    kind: ClassVar[str] = "think"
    request: ThinkRequest

    @property
    def display_label(self) -> str:
        return self.label or "Planning the song"

    def run(self, models: ModelCache, ctx: JobContext) -> ThinkResult:
        from engine.planner.think import think

        return think(self.load_lm(models, ctx), self.request, ctx)


@dataclass(frozen=True, kw_only=True)
class CreateSampleJob(PlannerJob):
    """Simple mode: a one-line description -> caption, lyrics and metadata for review."""

    kind: ClassVar[str] = "create-sample"
    description: str
    instrumental: bool = False
    language: str | None = None
    options: AssistOptions | None = None

    @property
    def display_label(self) -> str:
        return self.label or "Writing caption and lyrics"

    def run(self, models: ModelCache, ctx: JobContext) -> AssistResult:
        from engine.planner.assist import create_sample

        lm = self.load_lm(models, ctx)
        return create_sample(
            lm,
            self.description,
            instrumental=self.instrumental,
            language=self.language,
            options=self.options,
            ctx=ctx,
        )


@dataclass(frozen=True, kw_only=True)
class FormatSampleJob(PlannerJob):
    """Format: the LM polishes a caption and lyrics; the user's metadata is kept."""

    kind: ClassVar[str] = "format-sample"
    caption: str
    lyrics: str
    metadata: Metadata | None = None
    options: AssistOptions | None = None

    @property
    def display_label(self) -> str:
        return self.label or "Formatting caption and lyrics"

    def run(self, models: ModelCache, ctx: JobContext) -> AssistResult:
        from engine.planner.assist import format_sample

        lm = self.load_lm(models, ctx)
        return format_sample(
            lm, self.caption, self.lyrics, metadata=self.metadata, options=self.options, ctx=ctx
        )


@dataclass(frozen=True, kw_only=True)
class UnderstandJob(PlannerJob):
    """Understand: 5 Hz audio codes (e.g. of a take) -> caption, lyrics and metadata."""

    kind: ClassVar[str] = "understand"
    codes: tuple[int, ...]
    options: AssistOptions | None = None

    @property
    def display_label(self) -> str:
        return self.label or "Describing the audio"

    def run(self, models: ModelCache, ctx: JobContext) -> AssistResult:
        from engine.planner.assist import understand

        return understand(self.load_lm(models, ctx), self.codes, options=self.options, ctx=ctx)
