"""Arguments every subcommand shares, so each has the same name, default and help."""

from __future__ import annotations

import argparse

CHECKPOINTS_HELP = (
    "checkpoints folder or ACE-Step install root (default: the folder chosen in Settings, else "
    "$LEGATO_CHECKPOINTS, else $ACESTEP_CHECKPOINTS_DIR, else the app's models folder, else "
    "./checkpoints)"
)


def add_checkpoints_argument(parser: argparse.ArgumentParser, *, positional: bool = False) -> None:
    """`--checkpoints DIR` with the one shared default (None = engine.models.locations decides)."""
    if positional:
        parser.add_argument("checkpoints", nargs="?", default=None, metavar="DIR", help=CHECKPOINTS_HELP)
    else:
        parser.add_argument("--checkpoints", default=None, metavar="DIR", help=CHECKPOINTS_HELP)
