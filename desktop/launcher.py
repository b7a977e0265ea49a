"""The `legato` console entry point.

`legato` with no arguments opens the app; `legato <subcommand> ...` runs the engine's CLI, which
never loads Qt (so the command line works on a server without a display).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] not in ("--open",):
        from engine.cli import main as cli_main

        return cli_main(args)
    from desktop.app import run_app

    return run_app(args[1:] if args else [])


if __name__ == "__main__":
    sys.exit(main())
