"""Planner LM decode speed: tokens/s of our KV-cached loop (prefill + constrained code phase).

    .venv/bin/python benchmarks/bench_planner.py                  # tiny LM (writes tiny checkpoints)
    .venv/bin/python benchmarks/bench_planner.py --checkpoints DIR
    flock /tmp/legato-heavy.lock .venv/bin/python benchmarks/bench_planner.py --real-size --tokens 16
    .venv/bin/python benchmarks/bench_planner.py --real-size --device cuda --compile

--real-size builds the acestep-5Hz-lm-1.7B shape (hidden 2048, 28 layers, 16 heads / 8 KV heads,
head_dim 128, vocab 217204; upstream_lm_tools.md §1.1) with random weights: about 8 GB in fp32.
Its token ids come from the tiny tokenizer (same special/code layout), which does not change the
cost. Each measurement runs the codes phase: exactly N audio codes then EOS, batch 1, with and
without LM CFG (CFG doubles the rows).

--variants prints a table of time to first token (prefill + first pick) and decode tokens/s of
the raw cached token loop (the engine's `generate._forward`, greedy picks), per variant:
dynamic vs static KV cache, torch.compile off/on, and LM CFG as one batch of cond+uncond rows
(what `generate_rows` does) vs two batch-1 passes per token:

    .venv/bin/python benchmarks/bench_planner.py --variants                     # tiny LM
    flock /tmp/legato-heavy.lock .venv/bin/python benchmarks/bench_planner.py --variants \
        --real-size 0.6b --tokens 64
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.jobs.context import JobContext  # noqa: E402
from engine.planner import prompts  # noqa: E402
from engine.planner.fsm import DecodeSpec, MetadataFSM  # noqa: E402
from engine.planner.generate import RowState, generate_rows  # noqa: E402
from engine.planner.lm import PlannerLM  # noqa: E402
from engine.planner.metadata import Metadata  # noqa: E402
from engine.planner.sampling import SamplingParams  # noqa: E402

# Real planner shapes (upstream_lm_tools.md §1.1; Qwen3-0.6B / Qwen3-1.7B bodies), vocab 217204.
REAL_SHAPES = {
    "1.7b": {"hidden_size": 2048, "intermediate_size": 6144, "num_attention_heads": 16},
    "0.6b": {"hidden_size": 1024, "intermediate_size": 3072, "num_attention_heads": 16},
}


def real_size_lm(tiny: PlannerLM, device: str, dtype: torch.dtype, size: str = "1.7b") -> PlannerLM:
    """A random-weight model of a real planner's shape (frozen, as the loader leaves it),
    sharing the tiny tokenizer."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=217204,
        **REAL_SHAPES[size],
        num_hidden_layers=28,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=40960,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        pad_token_id=tiny.vocab.pad_id,
        eos_token_id=tiny.vocab.eos_id,
    )
    with torch.device("meta"):
        model = Qwen3ForCausalLM(config)
    model = model.to_empty(device=device).to(dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            else:
                param.normal_(0.0, 0.02, generator=gen)
    model.tie_weights()
    model.eval().requires_grad_(False)  # as PlannerLM.load: inference weights frozen (issue 17)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"real-size model: {n_params / 1e9:.2f} B parameters, {dtype}, {device}")
    return PlannerLM.from_components(model, tiny.tokenizer, max_duration=600, cache_mode=tiny.cache_mode)


def measure(lm: PlannerLM, n_codes: int, cfg: float, seed: int = 0) -> tuple[float, float, int]:
    """(prefill seconds, decode tokens/s, tokens) for one codes phase of `n_codes` codes + EOS."""
    meta = Metadata(
        bpm=120, caption="a calm piano ballad", duration=n_codes / 5, keyscale="C major", timesignature="4"
    )
    pair = prompts.think_phase2("a calm piano ballad", "[verse]\nla la la", meta)
    cond, uncond = lm.encode(pair.cond), lm.encode(pair.uncond)
    fsm = MetadataFSM(lm.vocab, DecodeSpec(mode="codes", code_target=n_codes))
    gen = torch.Generator(device=next(lm.model.parameters()).device).manual_seed(seed)
    row = RowState(fsm, gen, [])
    marks: list[float] = []
    ctx = JobContext(on_progress=lambda p: marks.append(time.perf_counter()))
    start = time.perf_counter()
    generate_rows(
        lm.model, lm.vocab, [cond], [uncond], [row], SamplingParams(cfg_scale=cfg), n_codes + 1, ctx,
        n_codes + 1, cache_mode=lm.cache_mode,
    )  # fmt: skip
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    assert fsm.code_count == n_codes, "constrained decoding broke the code count"
    prefill = marks[0] - start  # first token = prefill + one sampling step
    decode_tokens = len(marks) - 1
    decode_s = marks[-1] - marks[0]
    return prefill, decode_tokens / decode_s if decode_s > 0 else float("inf"), len(row.tokens)


def _loop(model, rows: int, prompt_len: int, new_tokens: int, cache_mode: str, passes: int) -> tuple[float, float]:
    """(time to first token s, decode tokens/s) of the raw cached loop: `passes` forwards of
    `rows // passes` rows per token (passes=2: cond and uncond one after the other)."""
    from transformers import DynamicCache, StaticCache

    from engine.planner.generate import _forward

    per = rows // passes
    ids = torch.randint(1000, 2000, (per, prompt_len), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    pos = torch.arange(prompt_len)[None].expand(per, -1)

    def new_cache():
        if cache_mode == "static":
            return StaticCache(config=model.config, max_cache_len=prompt_len + new_tokens + 1)
        return DynamicCache(config=model.config)

    from engine.runtime.threads import decode_threads, intra_op_threads

    # The engine's thread policy for decode (1 intra-op thread for a small model on the CPU).
    with torch.inference_mode(), intra_op_threads(decode_threads(model)):
        start = time.perf_counter()
        caches, picks = [], []
        for _ in range(passes):
            logits, cache = _forward(model, ids, mask, pos, new_cache())  # [per, V]
            caches.append(cache)
            picks.append(logits.argmax(-1, keepdim=True))  # [per, 1]
        first = time.perf_counter() - start
        step_mask, step_pos = mask, pos[:, -1:]
        start = time.perf_counter()
        for _ in range(new_tokens - 1):
            step_mask = torch.cat([step_mask, torch.ones_like(step_mask[:, :1])], dim=1)
            step_pos = step_pos + 1
            for k in range(passes):
                logits, caches[k] = _forward(model, picks[k], step_mask, step_pos, caches[k])
                picks[k] = logits.argmax(-1, keepdim=True)
        decode = time.perf_counter() - start
    return first, (new_tokens - 1) / decode


VARIANTS = (  # (label, cache, compile, rows, passes)
    ("dynamic, eager, no CFG (1 row)", "dynamic", False, 1, 1),
    ("dynamic, eager, CFG batched (2 rows)", "dynamic", False, 2, 1),
    ("dynamic, eager, CFG two passes", "dynamic", False, 2, 2),
    ("static, eager, CFG batched", "static", False, 2, 1),
    ("dynamic, compiled, CFG batched", "dynamic", True, 2, 1),
    ("static, compiled, CFG batched", "static", True, 2, 1),
)


def variants_table(lm: PlannerLM, new_tokens: int, prompt_len: int, skip_compile: bool) -> None:
    """Print TTFT and tokens/s per VARIANTS row (one warm-up run of each first)."""
    model = lm.model
    eager_forward = model.forward
    print(f"prompt {prompt_len} tokens, {new_tokens} new tokens, {torch.get_num_threads()} threads")
    print(f"{'variant':<38} {'TTFT ms':>8} {'tokens/s':>9} {'compile s':>9}")
    for label, cache_mode, compiled, rows, passes in VARIANTS:
        if compiled and skip_compile:
            print(f"{label:<38} {'skipped (--no-compile)':>28}")
            continue
        compile_s = 0.0
        if compiled:
            torch._dynamo.reset()
            model.forward = torch.compile(eager_forward, dynamic=True)
            t = time.perf_counter()
            _loop(model, rows, prompt_len, 3, cache_mode, passes)  # compiles prefill + decode graphs
            compile_s = time.perf_counter() - t
        else:
            model.forward = eager_forward
            _loop(model, rows, prompt_len, 3, cache_mode, passes)  # warm-up: allocations
        ttft, tps = _loop(model, rows, prompt_len, new_tokens, cache_mode, passes)
        extra = f"{compile_s:>9.1f}" if compiled else f"{'':>9}"
        print(f"{label:<38} {ttft * 1000:>8.0f} {tps:>9.1f} {extra}", flush=True)
    model.forward = eager_forward
    _stock_linear_rows(lm, new_tokens, prompt_len)


def _stock_linear_rows(lm: PlannerLM, new_tokens: int, prompt_len: int) -> None:
    """The eager rows again with every Linear on stock F.linear (engine/planner/skinny_linear.py
    undone), interleaved with the skinny ones, so the few-row matmul's gain is read in one run."""
    skinny = {m: vars(m)["forward"] for m in lm.model.modules() if "forward" in vars(m)}
    if not skinny:
        print("(no Linear takes the few-row path on this model: nothing to compare)")
        return
    print(f"few-row matmul (w @ x.T, {len(skinny)} Linears) vs stock F.linear, interleaved:")
    for label, rows, passes in (("no CFG (1 row)", 1, 1), ("CFG batched (2 rows)", 2, 1)):
        result = {}
        for name in ("stock", "few-row", "stock", "few-row"):
            for module, forward in skinny.items():
                if name == "stock":
                    vars(module).pop("forward", None)
                else:
                    module.forward = forward
            _loop(lm.model, rows, prompt_len, 3, "dynamic", passes)  # warm-up
            result.setdefault(name, []).append(_loop(lm.model, rows, prompt_len, new_tokens, "dynamic", passes)[1])
        stock, fast = max(result["stock"]), max(result["few-row"])
        print(f"  dynamic, eager, {label:<22} stock {stock:5.1f} tokens/s, few-row {fast:5.1f} tokens/s, "
              f"{fast / stock:.2f}x (best of 2 each)")
    for module, forward in skinny.items():
        module.forward = forward


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoints", type=Path, default=None, help="checkpoints root with the LM (default: tiny)"
    )
    parser.add_argument("--real-size", nargs="?", const="1.7b", default=None, choices=sorted(REAL_SHAPES),
                        help="random-weight model of a real planner's shape (default 1.7b)")
    parser.add_argument("--variants", action="store_true",
                        help="table: TTFT and tokens/s per cache / compile / CFG-batching variant")
    parser.add_argument("--prompt", type=int, default=48, help="prompt tokens for --variants (default 48)")
    parser.add_argument("--no-compile", action="store_true", help="--variants without the torch.compile rows")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--dtype", default=None, help="float32 / bfloat16 (default: bf16 on CUDA, fp32 on CPU)"
    )
    parser.add_argument("--compile", action="store_true", help="static cache + torch.compile (CUDA only)")
    parser.add_argument("--tokens", type=int, default=100, help="audio codes per run (default 100 = 20 s)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("skipped: --device cuda needs CUDA, which this machine does not have")
        return 0
    if args.compile and not args.variants and not torch.cuda.is_available():
        print("skipped: --compile / --device cuda need CUDA, which this machine does not have")
        return 0
    dtype = (
        getattr(torch, args.dtype)
        if args.dtype
        else (torch.bfloat16 if args.device.startswith("cuda") else torch.float32)
    )

    with tempfile.TemporaryDirectory() as tmp:
        root = args.checkpoints
        if root is None:
            from engine.models.tiny import write_tiny_checkpoints

            root = Path(tmp)
            write_tiny_checkpoints(root, seed=0)
        t0 = time.perf_counter()
        lm = PlannerLM.load(root, device=args.device, dtype=dtype, max_duration=600)
        print(
            f"loaded {lm.folder} in {time.perf_counter() - t0:.1f} s (tokenizer {len(lm.tokenizer)} tokens)"
        )
    if args.real_size:
        lm = real_size_lm(lm, args.device, dtype, args.real_size)
    if args.variants:
        label = f"real-size {args.real_size} (random)" if args.real_size else "tiny"
        print(f"{label} on {args.device}, {dtype}")
        variants_table(lm, args.tokens, args.prompt, args.no_compile)
        return 0
    if args.compile:
        lm.model.forward = torch.compile(lm.model.forward, dynamic=True)
        lm.cache_mode = "static"

    label = f"real-size {args.real_size} (random)" if args.real_size else "tiny"
    print(f"{label} on {args.device}, {torch.get_num_threads()} threads, cache={lm.cache_mode}")
    measure(lm, min(4, args.tokens), 1.0)  # warm-up (allocations, compile)
    for cfg in (1.0, 2.0):
        prefill, tps, n = measure(lm, args.tokens, cfg)
        print(
            f"  cfg {cfg}: prefill {prefill * 1000:.0f} ms, decode {tps:.1f} tokens/s ({n} tokens, batch 1)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
