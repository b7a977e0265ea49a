"""The headless face of generating inside a project (what the app's panels call, and scripts).

    project = load_project("Song.legato")
    landed = generate_into(project, GenerationRequest(caption="lofi piano", duration=30, batch_size=4))
    save_project(project, "Song.legato")

`generate_into` runs the job inline on the calling thread (the app submits the same
`GenerateJob` to its worker instead and calls `land_batch` when it finishes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ValidationError
from engine.studio.landing import LandedBatch, add_takes, land_batch
from engine.studio.placement import Placement

if TYPE_CHECKING:
    from engine.jobs import JobContext, ModelCache
    from engine.jobs.generation import GenerateJob
    from engine.project import Project
    from engine.project.model import Take as ProjectTake
    from engine.tasks.outputs import WrittenTake
    from engine.tasks.request import GenerationRequest
    from engine.tasks.results import GenerationResult

SOURCE_ASSET_KEY = "source_asset"  # take meta: the project asset a cover/repaint used as source
REFERENCE_ASSET_KEY = "reference_asset"


def with_project_audio(project: Project, request: GenerationRequest, *, source_asset: str | None = None,
                       reference_asset: str | None = None) -> tuple[GenerationRequest, dict[str, Any]]:
    """Give `request` project assets as source / reference audio.

    Returns the request and the take meta that records which assets they were (so a take made
    from a project clip can be re-rendered after save/reopen: arrays are not in the sidecar).
    """
    changes: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for key, asset_id, field_name in ((SOURCE_ASSET_KEY, source_asset, "source_audio"),
                                      (REFERENCE_ASSET_KEY, reference_asset, "reference_audio")):
        if asset_id is None:
            continue
        asset = project.assets.get(asset_id)
        if asset is None:
            raise ValidationError(f"{field_name}: asset {asset_id!r} is not in the project")
        changes[field_name] = asset.samples
        meta[key] = asset_id
    return (request.with_changes(**changes) if changes else request), meta


def generation_job(request: GenerationRequest, *, checkpoints: str | Path | None = None, model: str | None = None,
                   device: str = "auto", dtype: str | None = None, label: str = "") -> GenerateJob:
    """The GenerateJob for `request`, with the checkpoints folder found by the one shared rule."""
    from engine.jobs.generation import GenerateJob
    from engine.models.locations import checkpoints_dir

    return GenerateJob(request=request, checkpoints=checkpoints_dir(checkpoints), model=model, device=device,
                       dtype=dtype, label=label)


def run_job(job: GenerateJob, ctx: JobContext | None = None, models: ModelCache | None = None) -> GenerationResult:
    from engine.jobs import JobContext, ModelCache

    return job.run(models or ModelCache(), ctx or JobContext.inline())


def generate_into(project: Project, request: GenerationRequest, *, placement: Placement | None = None,
                  checkpoints: str | Path | None = None, model: str | None = None, device: str = "auto",
                  dtype: str | None = None, ctx: JobContext | None = None, models: ModelCache | None = None,
                  extra_meta: Mapping[str, Any] | None = None) -> LandedBatch:
    """Generate `request` and land it in `project` as one clip with N takes (one undo step)."""
    job = generation_job(request, checkpoints=checkpoints, model=model, device=device, dtype=dtype)
    result = run_job(job, ctx, models)
    return land_batch(project, result, placement, extra_meta=extra_meta)


# ------------------------------------------------------------------ a take's own request


@dataclass(frozen=True)
class TakeRecipe:
    """How to make a take again: the batch request, which item it was, and where and how."""

    request: GenerationRequest
    item_index: int
    model_path: str
    device: str
    dtype: str
    extra_meta: dict[str, Any]


def recipe_of(project: Project, take: ProjectTake) -> TakeRecipe:
    """The exact request (all seeds of its batch) that made `take`, with project audio restored.

    Raises ValidationError for a take that was not generated (an imported clip).
    """
    from engine.tasks.request import request_from_dict

    meta = dict(take.meta)
    if "request" not in meta:
        raise ValidationError(f"take {take.name or take.id!r} was not generated, so it has no settings")
    data = dict(meta["request"])
    for field_name in ("source_audio", "reference_audio"):
        if isinstance(data.get(field_name), dict):
            data[field_name] = None  # an in-memory array: restored from the project below
    request = request_from_dict(data)
    request, extra = with_project_audio(project, request, source_asset=meta.get(SOURCE_ASSET_KEY),
                                        reference_asset=meta.get(REFERENCE_ASSET_KEY))
    edit = meta.get("edit")
    if isinstance(edit, dict) and edit.get("latents"):  # a bounded edit that reused a take's latents
        from engine.studio.latent_store import latents_from_record

        request = request.with_changes(source_latents=latents_from_record(edit["latents"]))  # None: encode
    models = meta.get("models") or [{}]
    return TakeRecipe(request, int(meta.get("item_index", 0)), str(models[0].get("path", "")),
                      str(meta.get("device", "auto")), str(meta.get("dtype", "")), extra)


def request_from_take(project: Project, take: ProjectTake) -> GenerationRequest:
    """The take's settings as a single-item request with its own seed ("Apply settings")."""
    recipe = recipe_of(project, take)
    seed = int(take.meta.get("seed", -1))
    return recipe.request.with_changes(batch_size=1, seeds=(seed,))


def rerender_job(project: Project, take: ProjectTake, *, checkpoints: str | Path | None = None,
                 label: str = "") -> tuple[GenerateJob, TakeRecipe]:
    """The job that re-renders `take` bit for bit: its whole batch, on the recorded model, device
    and dtype (batch item k is only ~1e-6 close to a single seed-k run, so we re-run the batch)."""
    recipe = recipe_of(project, take)
    model = recipe.model_path if recipe.model_path and Path(recipe.model_path).is_dir() else None
    job = generation_job(recipe.request, checkpoints=checkpoints, model=model, device=recipe.device,
                         dtype=recipe.dtype or None, label=label or f"Re-render {take.name}")
    return job, recipe


def pick_item(result: GenerationResult, index: int) -> GenerationResult:
    from dataclasses import replace

    if not 0 <= index < len(result.takes):
        raise ValidationError(f"item_index: the batch has {len(result.takes)} takes, not item {index}")
    return replace(result, takes=(result.takes[index],))


def rerender_into(project: Project, clip_id: str, take_id: str, *, checkpoints: str | Path | None = None,
                  ctx: JobContext | None = None, models: ModelCache | None = None) -> str:
    """Re-render a take as a new take of the same clip (one undo step); returns the new take id.
    A region take lands as a region take of the same region (engine.studio.regions.reland)."""
    take = project.clip(clip_id).take(take_id)
    job, recipe = rerender_job(project, take, checkpoints=checkpoints)
    result = pick_item(run_job(job, ctx, models), recipe.item_index)
    if "edit" in take.meta:  # a region edit's take: cropped and landed like the original
        from engine.studio.regions import reland

        return reland(project, clip_id, take, result, extra_meta=recipe.extra_meta)
    (new_id,) = add_takes(project, clip_id, result, extra_meta=recipe.extra_meta, make_active=True,
                          verb="Re-render")
    return new_id


def export_take(project: Project, take: ProjectTake, out_dir: str | Path, fmt: str = "flac") -> WrittenTake:
    """Write the take's audio plus a sidecar, exactly like `legato generate` does."""
    from engine.tasks.outputs import write_take_files

    if "request" not in take.meta:
        raise ValidationError(f"take {take.name or take.id!r} was not generated; export the clip instead")
    asset = project.assets[take.asset_id]
    return write_take_files(asset.samples, dict(take.meta), out_dir, fmt)
