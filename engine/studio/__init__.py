"""Where the model meets the document: generations land in a project as undoable takes.

Headless first: everything the app's Create panel and take inspector do goes through here, and
so does a script (`generate_into(project, request)`). Main-thread functions (they push commands
on the project's history); the heavy work runs in a job on the worker and hands back an
immutable `GenerationResult`, which `land_batch` turns into ONE undo step.
"""

from engine.studio.landing import LandedBatch, add_takes, batch_label, land_batch, take_meta, take_name
from engine.studio.placement import Placement
from engine.studio.regions import (
    LandedEdit,
    RegionDefaults,
    RegionEdit,
    add_intro,
    add_layer,
    base_model_needed,
    complete_tracks,
    extend_clip,
    extract_stems,
    prefill,
    remix_clip,
    repaint_region,
    retake,
    run_edit,
)
from engine.studio.scoring import (
    apply_scores,
    score_job,
    score_job_for_batch,
    score_takes_into,
    takes_by_score,
)
from engine.studio.session import (
    export_take,
    generate_into,
    recipe_of,
    request_from_take,
    rerender_into,
    rerender_job,
    with_project_audio,
)

__all__ = [
    "LandedBatch",
    "LandedEdit",
    "RegionDefaults",
    "RegionEdit",
    "add_intro",
    "add_layer",
    "base_model_needed",
    "complete_tracks",
    "extend_clip",
    "extract_stems",
    "prefill",
    "remix_clip",
    "repaint_region",
    "retake",
    "run_edit",
    "Placement",
    "add_takes",
    "apply_scores",
    "score_job",
    "score_job_for_batch",
    "score_takes_into",
    "takes_by_score",
    "batch_label",
    "export_take",
    "generate_into",
    "land_batch",
    "request_from_take",
    "recipe_of",
    "rerender_into",
    "rerender_job",
    "with_project_audio",
    "take_meta",
    "take_name",
]
