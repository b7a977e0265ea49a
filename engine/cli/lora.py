"""`legato lora ...`: adapters, datasets and training, headless.

legato lora list [FOLDER]                  adapters in FOLDER (default: the app's LoRA folder)
legato lora info PATH                      rank, alpha, targets, model size, sha256 (JSON)
legato lora dataset / autolabel / train / export   see engine/cli/lora_train.py
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("lora", help="LoRA adapters: list, inspect, build datasets, train",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="lora_command", metavar="ACTION")
    ls = sub.add_parser("list", help="adapters in a folder")
    ls.add_argument("folder", nargs="?", default=None, help="default: the app's LoRA folder")
    ls.set_defaults(func=_list)
    info = sub.add_parser("info", help="what an adapter is (JSON)")
    info.add_argument("path", help="adapter folder or .safetensors file")
    info.set_defaults(func=_info)
    from engine.cli import lora_train

    lora_train.register(sub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _list(args: argparse.Namespace) -> int:
    from engine.errors import AdapterError
    from engine.lora.formats import read_adapter, summary_line
    from engine.lora.library import default_lora_dir, find_adapters

    folder = args.folder or default_lora_dir()
    paths = find_adapters(folder)
    if not paths:
        print(f"no adapters in {folder}")
        return 0
    for path in paths:
        try:
            print(f"{path}\n  {summary_line(read_adapter(path))}")
        except AdapterError as exc:
            print(f"{path}\n  unreadable: {exc}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from engine.lora.formats import describe, read_adapter

    print(json.dumps(describe(read_adapter(args.path)), indent=2))
    return 0
