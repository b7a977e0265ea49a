"""`legato <subcommand>`: the engine's command line. Qt-free, so it runs on a headless server.

Each subcommand lives in its own module in this package and exposes
`register(subparsers) -> None`, which adds its parser and sets `func` (called with the parsed
args, returning an exit code). Add a module's name to SUBCOMMAND_MODULES to expose it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from engine.errors import LegatoError as UserFacingError
from engine.quiet_imports import quiet_third_party_imports

SUBCOMMAND_MODULES: tuple[str, ...] = ("models", "plan", "generate", "edit", "score", "lora")

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="legato",
        description="Legato: a music workstation around ACE-Step 1.5. "
        "Run with no arguments to open the app.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"engine.cli.{name}").register(subparsers)
    return parser

def main(argv: list[str] | None = None) -> int:
    quiet_third_party_imports()
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ncancelled", file=sys.stderr)
        return 130
    except UserFacingError as exc:  # a clear message, not a traceback
        print(f"legato: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error. Point stdout at devnull so
        # the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141

if __name__ == "__main__":
    sys.exit(main())
