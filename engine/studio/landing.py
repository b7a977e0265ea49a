"""Turning a finished generation into document edits: one clip with N takes, one undo step.

Each take keeps its full provenance in `Take.meta` (saved in project.json): the request with
the batch's resolved seeds, the seed and batch index, model name + weight hashes, device,
dtype, schedule, timings, LM metadata and the 5 Hz codes. That is enough to show it in the
inspector, load it back into the Create panel, and re-render it bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import ValidationError
from engine.project.assets import Asset
from engine.project.commands import AddClip, AddTake, AddTrack
from engine.studio.placement import Placement

if TYPE_CHECKING:
    from engine.project import Project
    from engine.tasks.results import GenerationResult
    from engine.tasks.results import Take as GeneratedTake

NAME_CAPTION_CHARS = 40
TAKE_META_FORMAT = "legato-take/1"  # the same format as a CLI sidecar


@dataclass(frozen=True)
class LandedBatch:
    """What landing made: the clip, its track and the new take ids (batch order)."""

    clip_id: str
    track_id: str
    take_ids: tuple[str, ...]


def short_caption(caption: str, limit: int = NAME_CAPTION_CHARS) -> str:
    text = " ".join(caption.split()) or "untitled"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def take_name(caption: str, number: int, seed: int) -> str:
    """A readable take name: 'lofi piano · take 2 · seed 1234'."""
    return f"{short_caption(caption)} · take {number} · seed {seed}"


def batch_label(caption: str, count: int, verb: str = "Generate") -> str:
    """The undo text: "Generate 'lofi piano' (4 takes)"."""
    return f"{verb} '{short_caption(caption)}' ({count} take{'s' if count != 1 else ''})"


def take_meta(take: GeneratedTake, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-able provenance a project take keeps (the CLI sidecar's fields + `extra`)."""
    meta = take.provenance.to_dict()
    meta["codes"] = list(take.codes)
    meta["duration_s"] = round(take.duration_s, 6)
    meta.update(extra or {})
    return meta


def _remember_latents(takes, assets) -> None:
    """Each take's latents under its asset's id, so a bounded repaint/extend of it skips the VAE
    encode (engine.studio.latent_store; bounded, memory only)."""
    from engine.studio.latent_store import remember_take

    for take, asset in zip(takes, assets, strict=True):
        remember_take(asset.id, take)


def _caption_of(result: GenerationResult) -> str:
    return str(result.takes[0].provenance.request.get("caption", ""))


def prepare_assets(result: GenerationResult, first_number: int = 1) -> tuple[Asset, ...]:
    """The takes' audio as named, hashed assets. Thread: any (pure). Hashing 30 s of stereo audio
    costs ~65 ms, so the app does this off the UI thread and hands the assets to `land_batch`."""
    caption = _caption_of(result)
    return tuple(Asset.from_samples(t.audio, take_name(caption, first_number + i, t.seed))
                 for i, t in enumerate(result.takes))


def land_batch(project: Project, result: GenerationResult, placement: Placement | None = None, *,
               extra_meta: Mapping[str, Any] | None = None, verb: str = "Generate",
               assets: tuple[Asset, ...] | None = None) -> LandedBatch:
    """Put a finished batch on the timeline as ONE clip with N takes (take 1 active), one undo step.

    `assets`: the result's `prepare_assets` when already computed (off the UI thread).
    Thread: main. Raises ValidationError for an empty result or an unknown track.
    """
    if not result.takes:
        raise ValidationError("the generation returned no takes")
    placement = placement or Placement.new_track()
    caption = _caption_of(result)
    if placement.track_id is not None:
        project.track(placement.track_id)  # KeyError -> caller bug; check before any edit
    assets = [project.assets.add_asset(a) for a in (assets or prepare_assets(result))]
    _remember_latents(result.takes, assets)
    history = project.history
    take_ids: list[str] = []
    with history.group(batch_label(caption, len(result.takes), verb)):
        track_id = placement.track_id
        if track_id is None:
            track_id = history.push(AddTrack(placement.track_name or short_caption(caption, 32))).track_id
        first, *rest = result.takes
        add = history.push(AddClip(track_id, assets[0].id, placement.position, name=short_caption(caption),
                                   take_meta=take_meta(first, extra_meta),
                                   take_name=take_name(caption, 1, first.seed)))
        take_ids.append(project.clip(add.clip_id).takes[0].id)
        for i, (take, asset) in enumerate(zip(rest, assets[1:], strict=True), start=2):
            cmd = history.push(AddTake(add.clip_id, asset.id, name=take_name(caption, i, take.seed),
                                       meta=take_meta(take, extra_meta), make_active=False))
            take_ids.append(cmd.take_id)
    return LandedBatch(add.clip_id, track_id, tuple(take_ids))


def add_takes(project: Project, clip_id: str, result: GenerationResult, *, first_number: int | None = None,
              extra_meta: Mapping[str, Any] | None = None, make_active: bool = False,
              verb: str = "Add", assets: tuple[Asset, ...] | None = None) -> tuple[str, ...]:
    """Add a batch as further takes of an existing clip (AutoGen, Re-render), one undo step.

    `assets`: precomputed `prepare_assets(result, first_number)` (their names carry the numbers)."""
    if not result.takes:
        raise ValidationError("the generation returned no takes")
    clip = project.clip(clip_id)
    caption = _caption_of(result)
    number = first_number if first_number is not None else len(clip.takes) + 1
    prepared = assets or prepare_assets(result, number)
    ids: list[str] = []
    with project.history.group(batch_label(caption, len(result.takes), verb)):
        for i, (take, prepared_asset) in enumerate(zip(result.takes, prepared, strict=True)):
            name = take_name(caption, number + i, take.seed)
            asset = project.assets.add_asset(prepared_asset)
            _remember_latents((take,), (asset,))
            cmd = project.history.push(AddTake(clip_id, asset.id, name=name, meta=take_meta(take, extra_meta),
                                               make_active=make_active and i == 0))
            ids.append(cmd.take_id)
    return tuple(ids)
