"""LoRA jobs: auto-label a dataset, and train (preprocess -> estimate -> train -> export).

    queue.submit(TrainJob(dataset="My Songs", checkpoints=root, out_dir="My Songs/lora",
                          config=TrainConfig(rank=16, epochs=50)))
    # JobProgress stages "load models", "preprocess", "estimate", "train"; JobFinished(TrainJobResult)

The models (DiT, text encoder, VAE) come through the worker's ModelCache under their own key
(never the INT8 generation pipeline: upstream's training needs full weights too, §6.1). The
training adapter is removed from the decoder when the job ends, however it ends. `on_loss` is
called on the worker thread after every optimizer step and `on_estimate` once before training
(the app re-emits both as queued Qt signals for the live plot); they never change the job's
identity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from engine.jobs.model_cache import ModelKey
from engine.jobs.planning import PlannerJob
from engine.jobs.spec import JobSpec

if TYPE_CHECKING:
    from engine.jobs.context import JobContext
    from engine.jobs.model_cache import ModelCache
    from engine.lora.dataset import Dataset
    from engine.lora.estimate import TrainEstimate
    from engine.lora.train import TrainConfig

TRAIN_VARIANT = "lora-train"


@dataclass(frozen=True)
class TrainJobResult:
    adapter_path: Path | None  # None when only the estimate was asked for
    steps: int
    resumed_from: int
    losses: tuple[tuple[int, float], ...]
    estimate: TrainEstimate
    family: str


def _train_config_default():
    from engine.lora.train import TrainConfig

    return TrainConfig()


@dataclass(frozen=True, kw_only=True)
class TrainJob(JobSpec):
    """Train a LoRA on a dataset folder (its dataset.json).

    Attributes:
        dataset: the dataset folder (or its dataset.json).
        checkpoints: the checkpoints root.
        model: DiT folder under `checkpoints` (None: the default turbo model).
        out_dir: where checkpoints/, final/adapter/ and losses.jsonl go.
        config: TrainConfig.
        resume: continue from the last checkpoint in `out_dir` if there is one.
        estimate_only: stop after the estimate (nothing is trained).
    """

    kind: ClassVar[str] = "lora-train"

    dataset: str | Path
    checkpoints: str | Path
    out_dir: str | Path
    model: str | None = None
    config: TrainConfig = field(default_factory=_train_config_default)
    device: str = "auto"
    resume: bool = True
    estimate_only: bool = False
    on_loss: Callable[[int, float], None] | None = field(default=None, compare=False, repr=False)
    on_estimate: Callable[[TrainEstimate], None] | None = field(default=None, compare=False, repr=False)

    @property
    def display_label(self) -> str:
        return self.label or "Train LoRA"

    def load_models(self, models: ModelCache, ctx: JobContext):
        import torch

        from engine.runtime.device import pick_device
        from engine.tasks.components import load_generation_models, resolve_model

        checkpoints = Path(self.checkpoints)
        folder = resolve_model(checkpoints, self.model, "text2music").resolve()
        device = pick_device(self.device)
        # Full-precision weights on a CPU (bf16 matmuls are ~4x slower there); bf16 weights on a
        # GPU that has it (the LoRA weights themselves always train in fp32).
        dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        key = ModelKey(str(folder), str(device), str(dtype).removeprefix("torch."), (TRAIN_VARIANT,))

        def load():
            ctx.progress("load models", 0, 1)
            loaded = load_generation_models(checkpoints, folder, str(device), dtype)
            ctx.progress("load models", 1, 1)
            return loaded

        return folder, models.get_or_load(key, load)

    def run(self, models: ModelCache, ctx: JobContext) -> TrainJobResult:
        from engine.lora.dataset import load_dataset
        from engine.lora.estimate import estimate_training
        from engine.lora.preprocess import preprocess_dataset
        from engine.lora.train import checkpoint_dirs, total_steps, train_lora
        from engine.tasks.components import model_family

        self.config.validate()
        dataset = load_dataset(self.dataset)
        ctx.check_cancelled()
        folder, loaded = self.load_models(models, ctx)
        family = model_family(folder)
        prepared = preprocess_dataset(dataset, loaded, ctx)
        ctx.check_cancelled()
        ctx.progress("estimate", 0, 1)
        out = Path(self.out_dir)
        done = 0
        if self.resume and checkpoint_dirs(out):
            done = int(checkpoint_dirs(out)[-1].name.removeprefix("step_"))
        remaining = max(0, total_steps(len(prepared.files), self.config) - done)
        estimate = estimate_training(loaded.dit, prepared.files, self.config, family, remaining_steps=remaining)
        ctx.progress("estimate", 1, 1)
        if self.on_estimate is not None:
            self.on_estimate(estimate)
        if self.estimate_only:
            return TrainJobResult(None, 0, done, (), estimate, family)
        result = train_lora(loaded.dit, prepared.files, self.config, out, ctx, family=family, resume=self.resume,
                            base_model=folder.name, on_loss=self.on_loss)
        return TrainJobResult(result.adapter_path, result.steps, result.resumed_from, result.losses, estimate, family)


@dataclass(frozen=True, kw_only=True)
class AutoLabelJob(PlannerJob):
    """Label a dataset's samples with the planner LM (understand from audio); saves dataset.json."""

    kind: ClassVar[str] = "lora-autolabel"

    dataset: str | Path
    only_unlabeled: bool = True
    transcribe_lyrics: bool = False
    max_caption_tokens: int | None = None
    max_lyrics_tokens: int | None = None

    @property
    def display_label(self) -> str:
        return self.label or "Auto-label the dataset"

    def run(self, models: ModelCache, ctx: JobContext) -> Dataset:
        from engine.lora.autolabel import autolabel
        from engine.lora.dataset import load_dataset, save_dataset
        from engine.planner.audio_codes import load_code_models

        dataset = load_dataset(self.dataset)
        lm = self.load_lm(models, ctx)
        root = Path(self.checkpoints)
        if (root / "config.json").is_file():  # an LM folder was given: its parent is the checkpoints root
            root = root.parent
        device = str(next(lm.model.parameters()).device)
        dit, vae = models.get_or_load(ModelKey(str(root.resolve()), device, "float32", ("code-models",)),
                                      lambda: load_code_models(root, device=device))
        labelled = autolabel(dataset, lm, dit, vae, ctx, only_unlabeled=self.only_unlabeled,
                             transcribe_lyrics=self.transcribe_lyrics, max_caption_tokens=self.max_caption_tokens,
                             max_lyrics_tokens=self.max_lyrics_tokens)
        save_dataset(labelled)
        return labelled
