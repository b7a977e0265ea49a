"""`legato plan ...`: run the planner LM headless and print JSON.

legato plan think --caption "..." --lyrics "..." --duration 10 --seed 3
legato plan simple --description "lofi beat for studying" --instrumental
legato plan format --caption "..." --lyrics "..." [--bpm 120 ...]
legato plan understand --codes 12,345,6789   (or --codes-file FILE)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import add_checkpoints_argument


def _add_common(parser: argparse.ArgumentParser) -> None:
    add_checkpoints_argument(parser)
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--temperature", type=float, default=None, help="LM temperature")
    parser.add_argument("--top-k", type=int, default=None, help="top-k filter (0 = off)")
    parser.add_argument("--top-p", type=float, default=None, help="top-p filter (1 = off)")
    parser.add_argument("--repetition-penalty", type=float, default=1.0)
    parser.add_argument(
        "--max-duration", type=int, default=None, help="longest song in s (default: device tier)"
    )
    parser.add_argument("--max-caption-tokens", type=int, default=512)
    parser.add_argument("--unconstrained", action="store_true", help="turn constrained decoding off")


def _add_metadata(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bpm", default=None)
    parser.add_argument("--keyscale", default=None, help="e.g. 'F# minor'")
    parser.add_argument("--timesignature", default=None, help="2, 3, 4 or 6 (or 4/4, 6/8, ...)")
    parser.add_argument("--language", default=None, help="language code, e.g. en")
    parser.add_argument("--duration", default=None, help="seconds")


def register(subparsers: argparse._SubParsersAction) -> None:
    plan = subparsers.add_parser("plan", help="run the planner LM (think / simple / format / understand)")
    sub = plan.add_subparsers(dest="plan_command", metavar="TASK")

    think = sub.add_parser("think", help="metadata + caption rewrite, then audio codes")
    _add_common(think)
    _add_metadata(think)
    think.add_argument("--caption", default="")
    think.add_argument("--lyrics", default="")
    think.add_argument("--cfg-scale", type=float, default=2.0, help="LM CFG scale (1 = off; default 2.0)")
    think.add_argument("--negative-prompt", default="NO USER INPUT")
    think.add_argument("--batch-size", type=int, default=1)
    think.add_argument("--batch-chunk-size", type=int, default=8)
    think.add_argument("--no-codes", action="store_true", help="phase 1 only (metadata)")
    think.add_argument("--no-cot-caption", action="store_true", help="keep the user's caption")
    think.add_argument("--no-cot-language", action="store_true", help="do not let the LM pick the language")
    think.set_defaults(func=_think)

    simple = sub.add_parser("simple", help="simple mode: a description -> caption, lyrics, metadata")
    _add_common(simple)
    simple.add_argument("--description", required=True)
    simple.add_argument("--instrumental", action="store_true")
    simple.add_argument("--language", default=None)
    simple.add_argument("--max-lyrics-tokens", type=int, default=1024)
    simple.set_defaults(func=_simple)

    fmt = sub.add_parser("format", help="enhance a caption and lyrics")
    _add_common(fmt)
    _add_metadata(fmt)
    fmt.add_argument("--caption", default="")
    fmt.add_argument("--lyrics", default="")
    fmt.add_argument("--max-lyrics-tokens", type=int, default=1024)
    fmt.set_defaults(func=_format)

    und = sub.add_parser("understand", help="audio codes -> caption, lyrics, metadata")
    _add_common(und)
    und.add_argument("--codes", default="", help="comma-separated codes, or a <|audio_code_N|> string")
    und.add_argument("--codes-file", type=Path, default=None, help="file holding codes (same formats)")
    und.add_argument(
        "--audio", type=Path, default=None, help="audio file: encoded to codes with the VAE + DiT tokenizer"
    )
    und.add_argument("--max-lyrics-tokens", type=int, default=1024)
    und.set_defaults(func=_understand)

    plan.set_defaults(func=lambda args: plan.print_help() or 2)


def _checkpoints(args: argparse.Namespace) -> Path:
    from engine.models.locations import checkpoints_dir

    return checkpoints_dir(args.checkpoints)


def _load(args: argparse.Namespace):
    from engine.planner.lm import PlannerLM

    return PlannerLM.load(_checkpoints(args), device=args.device, max_duration=args.max_duration)


def _sampling(args: argparse.Namespace, temperature: float, top_p: float | None, cfg: float = 1.0):
    from engine.planner.sampling import SamplingParams

    return SamplingParams(
        temperature=temperature if args.temperature is None else args.temperature,
        top_k=args.top_k,
        top_p=top_p if args.top_p is None else args.top_p,
        repetition_penalty=args.repetition_penalty,
        cfg_scale=cfg,
    )


def _metadata(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("bpm", "keyscale", "timesignature", "language", "duration")
    return {k: getattr(args, k) for k in keys if getattr(args, k) is not None}


def _print(payload: dict[str, Any]) -> int:
    json.dump(payload, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _think(args: argparse.Namespace) -> int:
    from engine.planner.think import ThinkRequest, think

    request = ThinkRequest(
        caption=args.caption,
        lyrics=args.lyrics,
        metadata=_metadata(args),
        seed=args.seed,
        batch_size=args.batch_size,
        batch_chunk_size=args.batch_chunk_size,
        sampling=_sampling(args, 0.85, 0.9, args.cfg_scale),
        negative_prompt=args.negative_prompt,
        use_cot_caption=not args.no_cot_caption,
        use_cot_language=not args.no_cot_language,
        generate_codes=not args.no_codes,
        constrained=not args.unconstrained,
        max_caption_tokens=args.max_caption_tokens,
    )
    result = think(_load(args), request)
    items = [
        {
            "metadata": it.metadata.to_dict(),
            "lm_metadata": it.lm_metadata.to_dict(),
            "codes": list(it.codes),
            "seed": it.seed,
        }
        for it in result.items
    ]
    if len(items) == 1:
        return _print(items[0])
    return _print({"items": items})


def _assist_options(args: argparse.Namespace, temperature: float):
    from engine.planner.assist import AssistOptions

    return AssistOptions(
        sampling=_sampling(args, temperature, None),
        seed=args.seed,
        constrained=not args.unconstrained,
        max_caption_tokens=args.max_caption_tokens,
        max_lyrics_tokens=args.max_lyrics_tokens,
    )


def _result(result) -> dict[str, Any]:
    out = {"caption": result.caption, "lyrics": result.lyrics, "metadata": result.metadata.to_dict()}
    if result.instrumental is not None:
        out["instrumental"] = result.instrumental
    return out


def _simple(args: argparse.Namespace) -> int:
    from engine.planner.assist import create_sample

    lm = _load(args)
    result = create_sample(
        lm,
        args.description,
        instrumental=args.instrumental,
        language=args.language,
        options=_assist_options(args, 0.85),
    )
    return _print(_result(result))


def _format(args: argparse.Namespace) -> int:
    from engine.planner.assist import format_sample

    lm = _load(args)
    result = format_sample(
        lm, args.caption, args.lyrics, metadata=_metadata(args), options=_assist_options(args, 0.85)
    )
    return _print(_result(result))


def parse_codes(text: str) -> list[int]:
    """Codes from '1,2,3' / '1 2 3' or a `<|audio_code_N|>` string."""
    from engine.tasks.text_fields import codes

    return list(codes(text, "codes"))


def _understand(args: argparse.Namespace) -> int:
    from engine.errors import ValidationError
    from engine.planner.assist import understand

    if args.audio is not None:
        from engine.audio.files import read_audio
        from engine.planner.audio_codes import load_code_models, understand_audio

        audio = read_audio(args.audio)
        lm = _load(args)
        dit, vae = load_code_models(_checkpoints(args), device=args.device)
        result, codes = understand_audio(lm, dit, vae, audio, options=_assist_options(args, 0.3))
        return _print({**_result(result), "codes": codes})
    text = args.codes
    if args.codes_file is not None:
        try:
            text = args.codes_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(f"cannot read codes file {args.codes_file}: {exc}") from exc
    codes = parse_codes(text)
    lm = _load(args)
    return _print(_result(understand(lm, codes, options=_assist_options(args, 0.3))))
