"""`legato score AUDIO_OR_SIDECAR ...`: judge takes written by `legato generate`.

Writes the scores and the LRC into each take's sidecar and a `.lrc` beside its audio, and
prints one line per take (or JSON with --json):

    legato score out/3f2a....flac out/9c1b....json
    legato score out/*.json --sensitivity 0.3 --json
"""

from __future__ import annotations

import argparse
import json
import sys

from engine.cli.common import add_checkpoints_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("score", help="score takes (LM quality, lyric alignment) and write their LRC")
    parser.add_argument("paths", nargs="+", metavar="AUDIO_OR_SIDECAR", help="a take's audio file or its .json")
    add_checkpoints_argument(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16 or float16 (default: the device's)")
    parser.add_argument("--sensitivity", type=float, default=0.5,
                        help="score sensitivity, the PMI sigmoid's scale in (0, 1] (default 0.5)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.set_defaults(func=_score)


def _line(path: str, scores) -> str:
    def f(v):
        return "-" if v is None else f"{v:.3f}"

    lines = sum(1 for line in scores.lines if not line.is_tag)
    note = f"  ({'; '.join(scores.notes)})" if scores.notes else ""
    return f"{path}: quality {f(scores.quality)}  alignment {f(scores.alignment)}  lrc {lines} lines{note}"


def _score(args: argparse.Namespace) -> int:
    from engine.jobs import JobContext, ModelCache
    from engine.jobs.scoring import ScoreJob
    from engine.models.locations import checkpoints_dir
    from engine.scoring.files import take_from_files, write_scores

    loaded = [take_from_files(p) for p in args.paths]  # every path checked before models load
    job = ScoreJob(takes=tuple(take for _, take in loaded), checkpoints=checkpoints_dir(args.checkpoints),
                   device=args.device, dtype=args.dtype, sensitivity=args.sensitivity)

    def progress(p) -> None:
        print(f"\r{p.stage} {p.step}/{p.total}".ljust(60), end="", file=sys.stderr, flush=True)

    results = job.run(ModelCache(), JobContext(on_progress=progress))
    print(file=sys.stderr)
    report = []
    for path, (files, _), scores in zip(args.paths, loaded, results, strict=True):
        lrc = write_scores(files, scores)
        report.append({"path": path, "sidecar": str(files.sidecar_path), "lrc_file": str(lrc) if lrc else None,
                       **scores.to_meta(), "lrc": scores.lrc})
        if not args.json:
            print(_line(path, scores))
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0
