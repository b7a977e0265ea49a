"""`legato edit repaint|extend|intro|layer|extract|complete|remix PROJECT ...`: a generative edit
on a saved project, run inline with a progress bar, then saved in place.

Times are seconds on the project's timeline; clips and tracks are named by id or by their
(unique) name. The edit is the same `engine.studio.regions` call the app makes, so the project
gets the same takes, comp segments, tracks and provenance, as one undo step.
"""

from __future__ import annotations

import argparse
import sys

from engine.cli.common import add_checkpoints_argument
from engine.errors import ValidationError
from engine.timebase import SAMPLE_RATE

OPS = ("repaint", "extend", "intro", "layer", "extract", "complete", "remix")


def register(subparsers: argparse._SubParsersAction) -> None:
    edit = subparsers.add_parser("edit", help="a generative edit on a saved project (repaint, extend, ...)",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ops = edit.add_subparsers(dest="op", metavar="OP", required=True)
    for op in OPS:
        p = ops.add_parser(op, help=_HELP[op])
        p.add_argument("project", metavar="PROJECT", help="the .legato project folder (saved in place)")
        if op in ("repaint", "extend", "intro", "remix"):
            p.add_argument("--clip", required=True, help="clip id or name")
        if op in ("repaint", "layer", "extract", "complete"):
            p.add_argument("--start", type=float, required=True, help="seconds on the timeline")
            p.add_argument("--end", type=float, required=True, help="seconds on the timeline")
        if op == "repaint":
            p.add_argument("--mode", default="balanced", choices=("aggressive", "balanced", "conservative"))
            p.add_argument("--strength", type=float, default=0.5)
            p.add_argument("--crossfade-ms", type=float, default=None, help="comp crossfade length (default: the clip's)")
        if op in ("repaint", "extend"):
            p.add_argument("--context", choices=("bounded", "full"), default="bounded",
                           help="bounded (default): denoise and decode only the window plus --context-seconds "
                                "each side (a 10 s repaint of a 4-minute song costs a 30 s render); full: the "
                                "whole clip")
            p.add_argument("--context-seconds", type=float, default=None,
                           help="bounded: seconds of the clip heard each side of the window (repaint) or before "
                                "the extension (extend); default 10")
        if op in ("extend", "intro"):
            p.add_argument("--by", type=float, required=True, help="seconds to add (3-90)")
        if op == "intro":
            p.add_argument("--context-seconds", type=float, default=10.0, help="seconds of the clip the model hears")
        if op == "layer":
            p.add_argument("--instrument", required=True)
        if op == "extract":
            p.add_argument("--source", nargs="+", required=True, help="clip or track ids / names")
            p.add_argument("--stems", required=True, help="comma-separated, e.g. vocals,drums,bass")
        if op == "complete":
            p.add_argument("--tracks", nargs="+", required=True, help="track ids / names to complete")
            p.add_argument("--classes", required=True, help="comma-separated, e.g. drums,bass")
            p.add_argument("--together", action="store_true", help="one generation of all classes on one track")
        if op == "remix":
            p.add_argument("--strength", type=float, default=0.5, help="audio cover strength 0-1")
        p.add_argument("--caption", default="")
        if op != "extract":
            p.add_argument("--lyrics", default="")
        p.add_argument("--seed", type=int, default=None)
        p.add_argument("--steps", type=int, default=None)
        p.add_argument("--device", default="auto")
        p.add_argument("--dtype", default=None)
        p.add_argument("--model", default=None, help="DiT folder under the checkpoints (default: automatic)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        add_checkpoints_argument(p)
        p.set_defaults(func=run_edit_command)


_HELP = {
    "repaint": "repaint a 3-90 s window of a clip (a region take, crossfaded)",
    "extend": "lengthen a clip after its end",
    "intro": "add an intro before a clip's start",
    "layer": "add an instrument layer (lego) hearing the audible mix",
    "extract": "extract stems from clips/tracks (one job)",
    "complete": "generate accompaniment for tracks",
    "remix": "a cover of the whole clip as a new take",
}


def _frames(seconds: float, name: str) -> int:
    if seconds != seconds or seconds < 0:  # NaN or negative
        raise ValidationError(f"{name}: must be seconds >= 0, got {seconds}")
    return int(round(seconds * SAMPLE_RATE))


def _clip_id(project, ref: str) -> str:
    if project.has_clip(ref):
        return ref
    found = [c.id for c in project.clips() if c.name == ref]
    if len(found) != 1:
        raise ValidationError(f"--clip: {ref!r} is not a clip id and {'no' if not found else 'more than one'} "
                              "clip has that name")
    return found[0]


def _item_id(project, ref: str, what: str) -> str:
    if project.has_track(ref) or project.has_clip(ref):
        return ref
    found = [t.id for t in project.tracks if t.name == ref] or [c.id for c in project.clips() if c.name == ref]
    if len(found) != 1:
        raise ValidationError(f"{what}: {ref!r} names no single track or clip")
    return found[0]


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _margin(args: argparse.Namespace) -> float | None:
    if args.context == "full" and args.context_seconds is not None:
        raise ValidationError("--context-seconds: applies to --context bounded only; full hears the whole clip")
    return args.context_seconds


def build_edit(project, args: argparse.Namespace):
    from engine.studio import regions

    common = dict(caption=args.caption, seed=args.seed, checkpoints=args.checkpoints, model=args.model,
                  device=args.device, dtype=args.dtype)
    if args.steps is not None:
        common["steps"] = args.steps
    if args.op != "extract":
        common["lyrics"] = args.lyrics
    if args.op == "repaint":
        crossfade = None if args.crossfade_ms is None else _frames(args.crossfade_ms / 1000, "--crossfade-ms")
        return regions.repaint_region(project, _clip_id(project, args.clip), _frames(args.start, "--start"),
                                      _frames(args.end, "--end"), mode=args.mode, strength=args.strength,
                                      context=args.context, context_s=_margin(args), crossfade=crossfade, **common)
    if args.op == "extend":
        clip = project.clip(_clip_id(project, args.clip))
        return regions.extend_clip(project, clip.id, clip.end + _frames(args.by, "--by"), context=args.context,
                                   context_s=_margin(args), **common)
    if args.op == "intro":
        clip = project.clip(_clip_id(project, args.clip))
        by = _frames(args.by, "--by")
        if by > clip.position:
            raise ValidationError(f"--by: the clip starts at {clip.position / SAMPLE_RATE:g} s; an intro of "
                                  f"{args.by:g} s would start before the timeline")
        return regions.add_intro(project, clip.id, clip.position - by, context_s=args.context_seconds, **common)
    start, end = (_frames(args.start, "--start"), _frames(args.end, "--end")) if hasattr(args, "start") else (0, 0)
    if args.op == "layer":
        return regions.add_layer(project, start, end, args.instrument, **common)
    if args.op == "extract":
        ids = [_item_id(project, ref, "--source") for ref in args.source]
        return regions.extract_stems(project, ids, start, end, _names(args.stems), **common)
    if args.op == "complete":
        ids = [_item_id(project, ref, "--tracks") for ref in args.tracks]
        return regions.complete_tracks(project, ids, start, end, _names(args.classes), separate=not args.together,
                                       **common)
    return regions.remix_clip(project, _clip_id(project, args.clip), strength=args.strength, **common)


def run_edit_command(args: argparse.Namespace) -> int:
    from engine.cli.generate import ProgressBar
    from engine.jobs import JobContext
    from engine.project.io import load_project, save_project
    from engine.studio import run_edit

    project = load_project(args.project)
    edit = build_edit(project, args)
    bar = ProgressBar(enabled=not args.quiet)
    ctx = JobContext(on_progress=lambda p: bar.update(p.stage, p.step, p.total, p.eta_s))
    try:
        landed = run_edit(project, edit, ctx)
    finally:
        bar.close()
    save_project(project, project.path)
    print(f"{edit.label}: {len(landed.take_ids)} take(s) on {len(set(landed.track_ids))} track(s); "
          f"saved {project.path}", file=sys.stdout)
    for tid in dict.fromkeys(landed.track_ids):
        print(f"track {tid} {project.track(tid).name}")
    for cid in landed.clip_ids:
        print(f"clip {cid}")
    for take in landed.take_ids:
        print(f"take {take}")
    return 0
