"""`legato lora dataset|autolabel|train|export` (the training half of `legato lora`).

legato lora dataset scan FOLDER                      build FOLDER/dataset.json from its audio
legato lora dataset from-project SONG.legato --clip ID [--clip ID ...] --out FOLDER
legato lora dataset show FOLDER                      the samples and their labels (JSON)
legato lora dataset label FOLDER SAMPLE_ID --caption "..." [--bpm 90 --key "C major" ...]
legato lora autolabel FOLDER [--all] [--transcribe-lyrics]
legato lora train FOLDER --out OUT [--rank 64 --alpha 128 --lr 3e-4 --epochs 100 --batch 1
                  --max-steps N --save-every 200 --model acestep-v15-base] [--estimate-only] [--fresh]
legato lora export OUT DEST                          copy OUT's final adapter (PEFT folder) to DEST
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from engine.cli.common import add_checkpoints_argument


def register(sub: argparse._SubParsersAction) -> None:
    ds = sub.add_parser("dataset", help="build and edit a training dataset")
    dsub = ds.add_subparsers(dest="dataset_command", metavar="ACTION")
    scan = dsub.add_parser("scan", help="a dataset from a folder of audio")
    scan.add_argument("folder")
    scan.add_argument("--name", default="")
    scan.set_defaults(func=_scan)
    proj = dsub.add_parser("from-project", help="a dataset from clips of a project (their captions and lyrics)")
    proj.add_argument("project", help="a .legato project folder")
    proj.add_argument("--clip", dest="clips", action="append", required=True, help="clip id (repeatable)")
    proj.add_argument("--out", required=True, help="dataset folder to write the clips' audio into")
    proj.set_defaults(func=_from_project)
    show = dsub.add_parser("show", help="print the dataset (JSON)")
    show.add_argument("folder")
    show.set_defaults(func=_show)
    label = dsub.add_parser("label", help="edit one sample's labels")
    label.add_argument("folder")
    label.add_argument("sample_id")
    for name in ("caption", "genre", "lyrics", "keyscale", "timesignature", "language", "custom_tag"):
        label.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None)
    label.add_argument("--key", dest="keyscale", default=None)
    label.add_argument("--bpm", type=int, default=None)
    label.add_argument("--instrumental", dest="is_instrumental", action="store_true", default=None)
    label.set_defaults(func=_label)
    ds.set_defaults(func=lambda args: (ds.print_help(), 2)[1])

    auto = sub.add_parser("autolabel", help="label samples with the planner LM (understand)")
    auto.add_argument("folder")
    add_checkpoints_argument(auto)
    auto.add_argument("--all", action="store_true", help="relabel every sample, not only unlabelled ones")
    auto.add_argument("--transcribe-lyrics", action="store_true", help="use the LM's lyrics")
    auto.add_argument("--device", default="auto")
    auto.set_defaults(func=_autolabel)

    train = sub.add_parser("train", help="train a LoRA on a dataset (resumes by default)")
    train.add_argument("folder", help="dataset folder")
    train.add_argument("--out", required=True, help="output folder (checkpoints/, final/adapter/)")
    add_checkpoints_argument(train)
    train.add_argument("--model", default=None, help="DiT folder (default turbo; e.g. acestep-v15-base)")
    train.add_argument("--device", default="auto")
    train.add_argument("--rank", type=int, default=64)
    train.add_argument("--alpha", type=float, default=128.0)
    train.add_argument("--dropout", type=float, default=0.1)
    train.add_argument("--lr", type=float, default=3e-4)
    train.add_argument("--epochs", type=int, default=100)
    train.add_argument("--batch", type=int, default=1)
    train.add_argument("--grad-accumulation", type=int, default=1)
    train.add_argument("--max-steps", type=int, default=None)
    train.add_argument("--save-every", type=int, default=200)
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    train.add_argument("--no-gradient-checkpointing", action="store_true")
    train.add_argument("--estimate-only", action="store_true", help="print the time/memory estimate and stop")
    train.add_argument("--fresh", action="store_true", help="ignore existing checkpoints in --out")
    train.set_defaults(func=_train)

    export = sub.add_parser("export", help="copy a trained adapter (upstream PEFT format) elsewhere")
    export.add_argument("out", help="a training output folder, or an adapter folder")
    export.add_argument("dest")
    export.set_defaults(func=_export)


def _print_dataset(ds) -> None:
    from engine.lora.dataset import dataset_to_dict

    print(json.dumps(dataset_to_dict(ds), indent=2, ensure_ascii=False))


def _scan(args) -> int:
    from engine.lora.dataset import dataset_from_folder, save_dataset

    ds = dataset_from_folder(args.folder, name=args.name)
    path = save_dataset(ds)
    print(f"{len(ds.samples)} samples, {sum(s.labeled for s in ds.samples)} labelled -> {path}")
    return 0


def _from_project(args) -> int:
    from engine.lora.dataset import dataset_from_clips, save_dataset
    from engine.project.io import load_project

    project = load_project(args.project)
    ds = dataset_from_clips(project, args.clips, args.out)
    print(f"{len(ds.samples)} clips -> {save_dataset(ds)}")
    return 0


def _show(args) -> int:
    from engine.lora.dataset import load_dataset

    _print_dataset(load_dataset(args.folder))
    return 0


def _label(args) -> int:
    from engine.lora.dataset import EDITABLE_LABELS, load_dataset, save_dataset

    changes = {k: getattr(args, k) for k in EDITABLE_LABELS if getattr(args, k, None) is not None}
    ds = load_dataset(args.folder).with_sample(args.sample_id, **changes)
    save_dataset(ds)
    print(json.dumps(asdict(ds.sample(args.sample_id)), indent=2, ensure_ascii=False))
    return 0


def _progress_sink(stream=None):
    def on_progress(p) -> None:
        eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
        # sys.stderr is looked up per call: a default bound at import time would keep writing to
        # a stream that was replaced (and closed) since, e.g. by a caller capturing output.
        print(f"\r{p.stage}: {p.step}/{p.total}{eta}   ", end="", file=stream or sys.stderr, flush=True)
    return on_progress


def _autolabel(args) -> int:
    from engine.jobs import JobContext, ModelCache
    from engine.jobs.lora import AutoLabelJob
    from engine.models.locations import checkpoints_dir

    job = AutoLabelJob(dataset=args.folder, checkpoints=checkpoints_dir(args.checkpoints), device=args.device,
                       only_unlabeled=not args.all, transcribe_lyrics=args.transcribe_lyrics)
    ds = job.run(ModelCache(), JobContext(on_progress=_progress_sink()))
    print(file=sys.stderr)
    _print_dataset(ds)
    return 0


def _train(args) -> int:
    from engine.jobs import JobContext, ModelCache
    from engine.jobs.lora import TrainJob
    from engine.lora.train import TrainConfig
    from engine.models.locations import checkpoints_dir

    config = TrainConfig(rank=args.rank, alpha=args.alpha, dropout=args.dropout, learning_rate=args.lr,
                         epochs=args.epochs, batch_size=args.batch, grad_accumulation=args.grad_accumulation,
                         max_steps=args.max_steps, save_every=args.save_every, seed=args.seed,
                         precision=args.precision, gradient_checkpointing=not args.no_gradient_checkpointing)
    job = TrainJob(dataset=args.folder, checkpoints=checkpoints_dir(args.checkpoints), out_dir=args.out,
                   model=args.model, config=config, device=args.device, resume=not args.fresh,
                   estimate_only=args.estimate_only,
                   on_loss=lambda step, loss: print(f"\rstep {step}: loss {loss:.4f}   ", end="", file=sys.stderr))
    result = job.run(ModelCache(), JobContext(on_progress=_progress_sink()))
    print(file=sys.stderr)
    print(f"estimate: {result.estimate.line}")
    if result.adapter_path is not None:
        last = result.losses[-1][1] if result.losses else float("nan")
        print(f"trained {result.steps} steps ({result.family}; resumed from {result.resumed_from}), "
              f"last loss {last:.4f}\nadapter: {result.adapter_path}")
    return 0


def _export(args) -> int:
    from engine.errors import AdapterError
    from engine.lora.formats import read_adapter

    src = Path(args.out)
    if (src / "final" / "adapter").is_dir():
        src = src / "final" / "adapter"
    read_adapter(src)  # a readable LoRA, or a clear error naming the file
    dest = Path(args.dest)
    if dest.exists() and any(dest.iterdir()):
        raise AdapterError(f"{dest}: exists and is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy2(src / name, dest / name)
    print(f"exported {src} -> {dest}")
    return 0
