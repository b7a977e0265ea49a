"""Planner LM on the tiny checkpoint: vocabulary facts, the constrained-decoding state machine,
the generation loop (cache, seeds, cancel) and the four tasks, with RANDOM weights.

Random weights write noise, so these tests assert structure: every output is well-formed and in
range, code counts are exact, seeds reproduce, cancel stops within one token.
"""

from __future__ import annotations

import json

import pytest
import torch

from engine.errors import Cancelled, CheckpointError, ValidationError
from engine.jobs.context import JobContext
from engine.planner import prompts
from engine.planner.assist import AssistOptions, create_sample, format_sample, understand
from engine.planner.constants import BPM_RANGE, CODEBOOK_SIZE, KEYSCALES, LANGUAGES, TIME_SIGNATURES
from engine.planner.fsm import DecodeSpec, MetadataFSM
from engine.planner.generate import RowState, generate_rows
from engine.planner.lm import PlannerLM
from engine.planner.metadata import Metadata, validate_metadata
from engine.planner.sampling import SamplingParams
from engine.planner.think import ThinkRequest, think
from engine.planner.vocab import PlannerVocab

MAX_DURATION = 12  # LM-chosen durations 10..12 s keep the code phase short (50..60 codes)


@pytest.fixture(scope="module")
def lm(tiny_checkpoints_any) -> PlannerLM:
    """The tiny planner on our small tokenizer, then on Qwen3's real one (every test runs twice)."""
    torch.set_num_threads(1)
    return PlannerLM.load(tiny_checkpoints_any, max_duration=MAX_DURATION)


def _runs(lm: PlannerLM, small: int) -> int:
    """How many seeded runs a fuzz makes: all of them on the small tokenizer, a third on Qwen3's
    (3.3x wider logits; the suite must stay fast on 2 cores)."""
    return small if lm.model.config.vocab_size < 100_000 else max(small // 3, 8)


def _gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _check_metadata(meta: Metadata, *, skip=(), max_duration=MAX_DURATION, genres=None) -> None:
    assert BPM_RANGE[0] <= meta.bpm <= BPM_RANGE[1]
    assert meta.keyscale in KEYSCALES
    assert meta.timesignature in TIME_SIGNATURES
    if "duration" not in skip:
        assert 10 <= meta.duration <= max_duration
    if "language" not in skip:
        assert meta.language in LANGUAGES
    if "caption" not in skip:
        assert meta.caption and meta.caption.strip() and "\n" not in meta.caption
    if genres is not None:
        assert meta.genres in genres


# ---- vocabulary and token ids ------------------------------------------------------------------
def test_special_and_code_token_ids_follow_the_real_layout(lm):
    v = lm.vocab
    base = v.pad_id  # <|endoftext|> is 151643 in the real vocabulary
    assert (v.im_start_id - base, v.eos_id - base) == (1, 2)  # 151644, 151645
    assert (v.think_open_id - base, v.think_close_id - base) == (24, 25)  # 151667, 151668
    assert (
        int(v.code_ids[0]) - base == 26 and int(v.code_ids[-1]) - base == 26 + CODEBOOK_SIZE - 1
    )  # 151669 + N
    # Codes 64000..65534 exist in the vocabulary but are never allowed.
    invalid = lm.tokenizer.convert_tokens_to_ids("<|audio_code_64000|>")
    assert invalid != lm.tokenizer.unk_token_id and not v.masks_cpu["codes"][invalid]
    assert int(v.masks_cpu["codes"].sum()) == CODEBOOK_SIZE


def test_prompt_token_ids_use_single_special_tokens_and_match_the_chat_template(lm):
    v = lm.vocab
    meta = Metadata(
        bpm=120, caption="soft piano", duration=30, keyscale="C major", language="en", timesignature="4"
    )
    pair = prompts.think_phase2("soft piano", "la la", meta)
    ids = lm.encode(pair.cond)
    assert ids[0] == v.im_start_id and ids[-2:] == [v.eos_id, v.newline_id]
    assert ids.count(v.think_open_id) == 1 and ids.count(v.think_close_id) == 1  # not BPE text
    assert lm.tokenizer.decode(ids, skip_special_tokens=False) == pair.cond
    if getattr(lm.tokenizer, "chat_template", None):  # cross-check with the checkpoint's own template
        system = {"role": "system", "content": "# Instruction\n" + prompts.INSTRUCTION_GENERATE + "\n\n"}
        user = {"role": "user", "content": "# Caption\nsoft piano\n\n# Lyric\nla la\n"}
        gen = lm.tokenizer.apply_chat_template([system, user], tokenize=False, add_generation_prompt=True)
        assert gen == prompts.think_phase1("soft piano", "la la").cond
        done = lm.tokenizer.apply_chat_template(
            [system, user, {"role": "assistant", "content": "<think>\n\n</think>"}], tokenize=False
        )
        assert done == prompts.think_phase2("soft piano", "la la", Metadata()).uncond


def _paths(node, prefix=()):
    if node.is_leaf:
        yield prefix
    for token, child in node.children.items():
        yield from _paths(child, (*prefix, token))


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("bpm", [str(b) for b in range(30, 301)]),
        ("keyscale", list(KEYSCALES)),
        ("language", list(LANGUAGES)),
        ("timesignature", list(TIME_SIGNATURES)),
    ],
)
def test_value_trees_hold_exactly_the_allowed_values(lm, field, values):
    trie = lm.vocab.value_trie(field, values)
    decoded = {lm.tokenizer.decode(list(p)) for p in _paths(trie.root)}
    assert decoded == {f" {v}\n" for v in values}


def test_tokenizer_without_code_tokens_is_a_checkpoint_error(lm):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    raw = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    raw.add_tokens([AddedToken("<think>", normalized=False), AddedToken("</think>", normalized=False)])
    tok = PreTrainedTokenizerFast(tokenizer_object=raw)
    with pytest.raises(CheckpointError, match="audio-code tokens"):
        PlannerVocab(tok, len(tok))
    with pytest.raises(CheckpointError, match="<think>"):
        raw2 = Tokenizer(models.BPE())
        raw2.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        PlannerVocab(PreTrainedTokenizerFast(tokenizer_object=raw2), 10)


# ---- the state machine on random logits (no model: thousands of steps per second) ----------------
def _drive(fsm: MetadataFSM, vocab: PlannerVocab, gen: torch.Generator, max_steps: int = 2000) -> list[int]:
    """Sample from random logits through the FSM until EOS; returns the tokens."""
    out = []
    for _ in range(max_steps):
        logits = torch.randn(vocab.size, generator=gen) * 3
        logits[vocab.eos_id] += 4  # tempt it to stop early
        allowed = torch.isfinite(fsm.constrain(logits)).nonzero().squeeze(1)
        token = int(allowed[torch.randint(len(allowed), (1,), generator=gen)])
        fsm.feed(token)
        out.append(token)
        if token == vocab.eos_id:
            return out
    raise AssertionError("the FSM never reached EOS")


def test_fsm_random_logits_always_give_well_formed_metadata(lm):
    v = lm.vocab
    genres = ("pop", "hip hop", "lo-fi, chill")
    for seed in range(_runs(lm, 60)):
        gen = _gen(seed)
        mode = ("cot", "understand")[seed % 2]
        with_genres = seed % 4 == 1
        spec = DecodeSpec(
            mode=mode,
            skip=frozenset({"genres"}) if mode == "cot" else frozenset(),
            max_duration=MAX_DURATION,
            caption_cap=6,
            text_cap=5,
            genres=genres if with_genres else None,
        )
        fsm = MetadataFSM(v, spec)
        tokens = _drive(fsm, v, gen)
        meta = fsm.metadata()
        _check_metadata(meta, genres=genres if with_genres else None)
        assert tokens[:2] == [v.think_open_id, v.newline_id]
        if mode == "cot":  # phase 1 stops with EOS right after the last value, before </think>
            assert v.think_close_id not in tokens and meta.genres is None
        else:
            assert tokens.count(v.think_close_id) == 1 and meta.genres
            after = tokens[tokens.index(v.think_close_id) + 1 :]
            assert len(after) <= 6 and not any(v.code_index(t) is not None for t in after)


def _single(lm: PlannerLM, text: str) -> int | None:
    ids = lm.encode(text)
    return ids[0] if len(ids) == 1 else None


@pytest.fixture(scope="module")
def qwen_lm(tiny_checkpoints_qwen3) -> PlannerLM:
    """The tiny planner on Qwen3's real tokenizer only: our small BPE splits punctuation from
    newlines (GPT-2 pre-tokenizer), so it has no `.\n`-like tokens to test with."""
    return PlannerLM.load(tiny_checkpoints_qwen3, max_duration=MAX_DURATION)


def _newline_tokens(lm: PlannerLM, ending: str) -> list[int]:
    """The single Qwen token `ending` (`.\n`, `,\n`)."""
    wanted = _single(lm, ending)
    assert wanted is not None, f"{ending!r} is not one token"
    return [wanted]


def _caption_script(fsm: MetadataFSM, v: PlannerVocab, script: list[int], after: int) -> list[int]:
    """Drive a cot FSM: random values everywhere, the caption from `script`; once the script is
    used up the model "wants" token `after` (as upstream's arg-max look-ahead sees it)."""
    gen, tokens = _gen(0), []
    at = next(i for i, s in enumerate(fsm.steps) if s.field == "caption")
    name, caption = fsm.steps[at - 1], fsm.steps[at]  # the forced "caption:" and the value
    for _ in range(400):
        logits = torch.randn(v.size, generator=gen)
        if name.pos >= len(name.ids) and fsm.index <= at:  # writing (or about to write) the caption
            logits[script[caption.count] if caption.count < len(script) else after] += 100.0
        allowed = torch.isfinite(fsm.constrain(logits)).nonzero().squeeze(1)
        token = int(allowed[torch.argmax(logits[allowed])])
        fsm.feed(token)
        tokens.append(token)
        if token == v.eos_id:
            return tokens
    raise AssertionError("the FSM never finished")


def test_a_token_containing_a_newline_ends_the_caption_as_upstream(qwen_lm):
    """Upstream ends (or wraps) the caption on ANY token containing a newline, e.g. Qwen's
    single tokens `.\n` and `,\n`; allowing only the bare `\n` made captions run on to the cap."""
    lm = qwen_lm
    v = lm.vocab
    ends = _newline_tokens(lm, ".\n")
    words = lm.encode(" soft piano")
    next_field = lm.encode("duration")[0]  # not indented: the caption is over
    spec = DecodeSpec(mode="cot", skip=frozenset({"genres"}), max_duration=MAX_DURATION, caption_cap=40)
    fsm = MetadataFSM(v, spec)
    _caption_script(fsm, v, [*words, ends[0]], after=next_field)
    meta = fsm.metadata()
    end_text = v.texts[ends[0]].split("\n")[0].strip()
    assert meta.caption == ("soft piano" + end_text).strip()
    caption_step = next(s for s in fsm.steps if s.field == "caption")
    assert caption_step.count == len(words) + 1  # ended right after the newline token
    _check_metadata(meta)


def test_a_newline_token_followed_by_an_indented_line_wraps_the_caption(qwen_lm):
    lm = qwen_lm
    v = lm.vocab
    wraps = _newline_tokens(lm, ",\n")
    ends = _newline_tokens(lm, ".\n")
    first, second = lm.encode(" soft"), lm.encode(" warm piano")
    assert v.texts[second[0]][:1] == " "  # indented continuation (PyYAML wraps with spaces)
    spec = DecodeSpec(mode="cot", skip=frozenset({"genres"}), max_duration=MAX_DURATION, caption_cap=40)
    fsm = MetadataFSM(v, spec)
    _caption_script(fsm, v, [*first, wraps[0], *second, ends[0]], after=lm.encode("duration")[0])
    meta = fsm.metadata()
    wrap_text = v.texts[wraps[0]].split("\n")[0].strip()
    end_text = v.texts[ends[0]].split("\n")[0].strip()
    assert meta.caption == f"soft{wrap_text} warm piano{end_text}"
    _check_metadata(meta)


def test_field_names_are_forced_by_the_longest_single_token_prefix(lm):
    """Upstream forces each fixed string by its longest single-token prefix, step by step; on
    Qwen3's vocabulary that gives `bp`+`m`+`:` for `bpm:` where plain encoding gives `b`+`pm`+`:`."""
    v = lm.vocab

    def longest_prefix(text):
        ids, pos = [], 0
        while pos < len(text):
            end = max(e for e in range(1, len(text) - pos + 1) if len(lm.encode(text[pos : pos + e])) == 1)
            ids.append(lm.encode(text[pos : pos + end])[0])
            pos += end
        return ids

    fsm = MetadataFSM(v, DecodeSpec(mode="understand", max_duration=MAX_DURATION))
    forced = [s.ids.tolist() for s in fsm.steps[1:] if s.field is None and s.__class__.__name__ == "_Force"]
    expected = [longest_prefix(f"{n}:") for n in ("bpm", "caption", "duration", "genres", "keyscale",
                                                   "language", "timesignature")]
    assert forced[:7] == expected  # the names after <think>\n, in field order
    assert [lm.tokenizer.decode(ids) for ids in forced[:2]] == ["bpm:", "caption:"]
    if lm.model.config.vocab_size > 100_000:  # Qwen3: the rule really differs from encode()
        assert [v.texts[i] for i in expected[0]] == ["bp", "m", ":"] and lm.encode("bpm:") != expected[0]


def test_fsm_forces_user_values_verbatim_and_skips_fields(lm):
    v = lm.vocab
    user = validate_metadata(
        {"bpm": 97, "keyscale": "B♭ minor", "duration": 3, "language": "ja"}, max_duration=600
    )
    for seed in range(_runs(lm, 20)):
        spec = DecodeSpec(
            mode="cot", forced=user, skip=frozenset({"genres", "caption"}), max_duration=MAX_DURATION
        )
        fsm = MetadataFSM(v, spec)
        _drive(fsm, v, _gen(seed))
        meta = fsm.metadata()
        assert (meta.bpm, meta.keyscale, meta.duration, meta.language) == (97, "B♭ minor", 3, "ja")
        assert meta.caption is None and meta.timesignature in TIME_SIGNATURES


def test_codes_phase_exact_count_eos_blocked_then_forced(lm):
    v = lm.vocab
    for target in (1, 7, 20):
        fsm = MetadataFSM(v, DecodeSpec(mode="codes", code_target=target))
        gen = _gen(target)
        for i in range(target + 1):
            logits = torch.randn(v.size, generator=gen)
            logits[v.eos_id] = 100.0  # the model "wants" to stop at once
            logits[lm.tokenizer.convert_tokens_to_ids("<|audio_code_65000|>")] = 90.0  # invalid code
            allowed = torch.isfinite(fsm.constrain(logits)).nonzero().squeeze(1)
            if i < target:
                assert v.eos_id not in allowed.tolist() and len(allowed) == CODEBOOK_SIZE
                assert set(allowed.tolist()) == set(v.code_ids.tolist())
            else:
                assert allowed.tolist() == [v.eos_id]
            fsm.feed(int(allowed[torch.argmax(logits[allowed])]))
        assert fsm.code_count == target and fsm.finished


# ---- the model: fuzz, seeds, cache, cancel -----------------------------------------------------
def test_random_weight_fuzz_100_seeds_well_formed_metadata_and_exact_code_counts(lm):
    """100 seeded runs of both phases (batched as 100 rows), half with user values forced."""
    v = lm.vocab
    params = SamplingParams(temperature=1.0, top_p=0.95, top_k=50, repetition_penalty=1.1, cfg_scale=2.0)
    pair = prompts.think_phase1("dreamy synth pop", "[verse]\nneon lights")
    rows, users = [], []
    for seed in range(_runs(lm, 100)):
        user = Metadata()
        if seed % 2:
            user = validate_metadata(
                {"duration": 1 + seed % 4, "bpm": 60 + seed, "timesignature": "3/4"}, max_duration=600
            )
        users.append(user)
        spec = DecodeSpec(
            mode="cot", forced=user, skip=frozenset({"genres"}), max_duration=MAX_DURATION, caption_cap=6
        )
        rows.append(RowState(MetadataFSM(v, spec), _gen(seed), []))
    ctx = JobContext.inline()
    n = len(rows)
    generate_rows(
        lm.model, v, [lm.encode(pair.cond)] * n, [lm.encode(pair.uncond)] * n, rows, params, 200, ctx, 60
    )
    metas = []
    for row, user in zip(rows, users, strict=True):
        assert row.done and row.tokens[-1] == v.eos_id
        meta = row.fsm.metadata()
        if user.duration is not None:
            assert (meta.bpm, meta.duration, meta.timesignature) == (user.bpm, user.duration, "3")
            _check_metadata(meta, skip=("duration",))
        else:
            _check_metadata(meta)
        metas.append(meta)
    assert len({m.bpm for m in metas if m.duration and m.duration >= 10}) > 1  # seeds differ

    # Phase 2 for every row: exactly duration x 5 codes, also when the LM chose the duration.
    code_rows, cond, uncond = [], [], []
    for seed, meta in enumerate(metas):
        p2 = prompts.think_phase2("dreamy synth pop", "[verse]\nneon lights", meta)
        cond.append(lm.encode(p2.cond))
        uncond.append(lm.encode(p2.uncond))
        spec = DecodeSpec(mode="codes", code_target=meta.code_count)
        code_rows.append(RowState(MetadataFSM(v, spec), _gen(1000 + seed), []))
    # No CFG here (think() tests cover phase-2 CFG): halves the 200-row lm_head cost.
    no_cfg = SamplingParams(temperature=1.0, top_p=0.95, top_k=50, repetition_penalty=1.1)
    generate_rows(lm.model, v, cond, uncond, code_rows, no_cfg, MAX_DURATION * 5 + 1, ctx, 60)
    for row, meta in zip(code_rows, metas, strict=True):
        codes = [v.code_index(t) for t in row.tokens[:-1]]
        assert row.tokens[-1] == v.eos_id and len(codes) == int(meta.duration * 5)
        assert all(c is not None and 0 <= c < CODEBOOK_SIZE for c in codes)


def _think_request(**kw) -> ThinkRequest:
    base = dict(caption="calm piano", lyrics="[verse]\nla", max_caption_tokens=6, metadata={"duration": 2})
    base.update(kw)
    return ThinkRequest(**base)


def test_think_same_seed_same_output_and_lm_duration_sets_code_count(lm):
    a = think(lm, _think_request(seed=5)).items[0]
    b = think(lm, _think_request(seed=5)).items[0]
    c = think(lm, _think_request(seed=6)).items[0]
    assert a == b and len(a.codes) == 10 and a.metadata.duration == 2
    assert (a.codes, a.metadata) != (c.codes, c.metadata)
    free = think(lm, _think_request(seed=1, metadata={}, sampling=SamplingParams(cfg_scale=1.0),
                                    codes_from_lm_duration=True)).items[0]
    _check_metadata(free.metadata)
    assert len(free.codes) == int(free.metadata.duration * 5)  # the option: the LM's duration counts


def test_by_default_only_the_users_duration_fixes_the_code_count(lm, monkeypatch):
    """Upstream's rule (§3.6): without a user duration the codes phase has no target (the LM
    stops with EOS); the LM's own CoT duration is not forced on the code count."""
    import engine.planner.think as think_module

    specs = []
    original = think_module.MetadataFSM

    def spy(vocab, spec):
        specs.append(spec)
        return original(vocab, spec)

    monkeypatch.setattr(think_module, "MetadataFSM", spy)
    from dataclasses import replace

    lm_small = replace(lm, max_duration=2)  # max_codes = 10: a short run
    item = think(lm_small, _think_request(seed=1, metadata={}, sampling=SamplingParams(cfg_scale=1.0),
                                          max_caption_tokens=4)).items[0]
    codes_spec = next(s for s in specs if s.mode == "codes")
    assert codes_spec.code_target is None and codes_spec.max_codes == 10
    assert 1 <= len(item.codes) <= 10
    user = think(lm, _think_request(seed=1, metadata={"duration": 2.6})).items[0]
    assert len(user.codes) == 13  # int(2.6 x 5) from the user's duration


def test_think_batch_chunking_and_progress(lm):
    events = []
    ctx = JobContext(on_progress=events.append)
    result = think(lm, _think_request(seed=10, batch_size=3, batch_chunk_size=2), ctx)
    assert [it.seed for it in result.items] == [10, 11, 12]
    assert all(len(it.codes) == 10 for it in result.items)
    # Phase 1 runs once for the whole batch (as upstream): every chunk shares its metadata.
    assert result.items[0].lm_metadata == result.items[1].lm_metadata == result.items[2].lm_metadata
    assert result.items[0].codes != result.items[2].codes  # codes are per item
    assert len([e for e in events if e.stage == "lm" and e.step == 1]) == 1  # one phase-1 run
    explicit = think(lm, _think_request(seeds=(10, 99), batch_size=1))  # explicit seeds win
    assert [it.seed for it in explicit.items] == [10, 99]
    assert explicit.items[0].codes == result.items[0].codes
    assert {e.stage for e in events} == {"lm", "lm codes"}
    codes_events = [e for e in events if e.stage == "lm codes"]
    assert codes_events[-1].step == codes_events[-1].total == 11  # 10 codes + EOS


def test_think_skips_phase1_when_the_user_gave_all_four(lm):
    meta = {"bpm": 100, "keyscale": "D minor", "timesignature": "4", "duration": 1}
    item = think(lm, _think_request(metadata=meta)).items[0]
    assert item.lm_metadata == Metadata() and len(item.codes) == 5
    assert item.metadata == Metadata(bpm=100, keyscale="D minor", timesignature="4", duration=1)


@pytest.mark.parametrize("cache_mode", ["none", "static"])
def test_kv_cache_modes_give_identical_tokens(lm, cache_mode):
    v = lm.vocab
    pair = prompts.think_phase1("a much longer caption than the lyrics", "la")  # left padding in play
    params = SamplingParams(temperature=1.0, cfg_scale=2.5)
    out = {}
    for mode in ("dynamic", cache_mode):
        spec = DecodeSpec(mode="cot", skip=frozenset({"genres"}), max_duration=MAX_DURATION, caption_cap=8)
        rows = [RowState(MetadataFSM(v, spec), _gen(s), []) for s in (1, 2)]
        generate_rows(
            lm.model, v, [lm.encode(pair.cond)] * 2, [lm.encode(pair.uncond)] * 2, rows, params, 80,
            JobContext.inline(), 40, cache_mode=mode,
        )  # fmt: skip
        out[mode] = [r.tokens for r in rows]
    assert out["dynamic"] == out[cache_mode]


def test_cancel_stops_within_one_token(lm):
    forwards = []
    handle = lm.model.register_forward_hook(lambda *a: forwards.append(1))
    ctx = JobContext()

    def on_progress(p):
        if p.step == 5:
            ctx.cancel_token.cancel()

    ctx.on_progress = on_progress
    try:
        with pytest.raises(Cancelled):
            think(lm, _think_request(sampling=SamplingParams(cfg_scale=1.0)), ctx)
    finally:
        handle.remove()
    assert len(forwards) == 5  # prefill + 4 steps: no forward after the 5th token was reported


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metadata": {"bpm": 1000}}, "bpm 1000"),
        ({"metadata": {"duration": 0}}, "duration must be more than 0"),
        ({"metadata": {"key": "C major"}}, "unknown metadata field"),
        ({"metadata": {"keyscale": "X major"}}, "unknown key"),
        ({"metadata": {"duration": MAX_DURATION + 1}}, "longer than this device allows"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_think_bad_input_is_a_validation_error(lm, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        think(lm, _think_request(**kwargs))


# ---- simple / format / understand -----------------------------------------------------------------
OPTS = AssistOptions(seed=3, max_caption_tokens=6, max_lyrics_tokens=8)


def test_create_sample_forces_language_and_is_reproducible(lm):
    a = create_sample(lm, "a lofi beat for studying", instrumental=True, language="de", options=OPTS)
    b = create_sample(lm, "a lofi beat for studying", instrumental=True, language="de", options=OPTS)
    assert a == b and a.metadata.language == "de" and a.instrumental is True
    _check_metadata(a.metadata, max_duration=MAX_DURATION)
    assert a.caption == a.metadata.caption and a.lyrics and "<|audio_code_" not in a.lyrics
    with pytest.raises(ValidationError, match="description is empty"):
        create_sample(lm, "   ", options=OPTS)
    with pytest.raises(ValidationError, match="unknown language"):
        create_sample(lm, "song", language="xx", options=OPTS)


def test_format_keeps_user_metadata(lm):
    result = format_sample(
        lm, "rock song", "[chorus]\nyeah", metadata={"bpm": 140, "language": "en"}, options=OPTS
    )
    assert result.metadata.bpm == 140 and result.metadata.language == "en"
    _check_metadata(result.metadata)
    assert result.lyrics


def test_understand_codes(lm):
    result = understand(lm, [1, 2, 3, 63999], options=OPTS)
    _check_metadata(result.metadata)
    assert isinstance(result.lyrics, str)
    with pytest.raises(ValidationError, match="outside 0..63999"):
        understand(lm, [64000], options=OPTS)


def test_cli_plan_think_prints_json(tiny_checkpoints, capsys):
    from engine.cli import main

    argv = [
        "plan",
        "think",
        "--checkpoints",
        str(tiny_checkpoints),
        "--caption",
        "calm piano",
        "--lyrics",
        "la",
    ]
    argv += [
        "--duration",
        "2",
        "--seed",
        "3",
        "--max-caption-tokens",
        "6",
        "--max-duration",
        str(MAX_DURATION),
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metadata"]["duration"] == 2 and len(out["codes"]) == 10 and out["seed"] == 3
    assert out["metadata"]["keyscale"] in KEYSCALES
    assert main([*argv[:-2], "--max-duration", str(MAX_DURATION), "--bpm", "1000"]) == 1
    assert "bpm 1000" in capsys.readouterr().err


def test_understand_from_audio_through_vae_and_dit_tokenizer(tiny_checkpoints):
    """The audio -> codes path (VAE + DiT tokenizer); the tokenizer side is covered by
    test_understand_codes on both tokenizers, so this runs on the small one only."""
    from engine.planner.audio_codes import audio_to_codes, load_code_models, understand_audio

    lm = PlannerLM.load(tiny_checkpoints, max_duration=MAX_DURATION)

    dit, vae = load_code_models(tiny_checkpoints)
    audio = torch.randn(2, 48000, generator=_gen(0)) * 0.1  # 1 s -> 25 latent frames -> 5 codes
    codes = audio_to_codes(dit, vae, audio, seed=1)
    assert len(codes) == 5 and all(0 <= c < CODEBOOK_SIZE for c in codes)
    assert audio_to_codes(dit, vae, audio, seed=1) == codes
    result, used = understand_audio(lm, dit, vae, audio, options=OPTS)
    assert used == audio_to_codes(dit, vae, audio, seed=OPTS.seed)
    _check_metadata(result.metadata)
    with pytest.raises(ValidationError, match="stereo"):
        audio_to_codes(dit, vae, torch.zeros(48000))


def test_unconstrained_think_still_parses(lm):
    item = think(lm, _think_request(constrained=False, generate_codes=False, seed=2)).items[0]
    assert item.metadata.duration == 2  # the user's value always wins
    assert item.codes == ()


def test_loading_errors_and_genre_vocabulary(tmp_path):
    from engine.planner.lm import find_lm_folder, read_genres_vocab

    with pytest.raises(CheckpointError, match="does not exist"):
        find_lm_folder(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="no planner LM"):
        find_lm_folder(tmp_path)
    vocab_file = tmp_path / "genres_vocab.txt"
    vocab_file.write_text("# comment\nPop\nhip hop\n\nlo-fi, chill\npop\n", encoding="utf-8")
    assert read_genres_vocab(vocab_file) == ("pop", "hip hop", "lo-fi, chill")
    assert read_genres_vocab(tmp_path / "missing.txt") is None


def test_the_genre_list_ships_with_the_engine_and_installs_as_package_data(tiny_checkpoints, tmp_path, repo_root):
    """Real LM folders hold no genres_vocab.txt (upstream reads it from its code repository), so
    the planner must use the list shipped in engine/planner/data, and pyproject must install it."""
    import tomllib
    from fnmatch import fnmatch

    from engine.planner.lm import genres_vocab_for, shipped_genres_vocab

    lm = PlannerLM.load(tiny_checkpoints, max_duration=MAX_DURATION)
    assert not (lm.folder / "genres_vocab.txt").exists()
    assert lm.genres == shipped_genres_vocab() and len(lm.genres) > 200
    assert {"pop", "hip hop", "k-pop", "lo-fi"} <= set(lm.genres)
    assert all(g == g.lower().strip() and not g.startswith("#") for g in lm.genres)
    own = tmp_path / "lm"
    own.mkdir()
    (own / "genres_vocab.txt").write_text("Pop\nshoegaze\n", encoding="utf-8")
    assert genres_vocab_for(own) == ("pop", "shoegaze")  # an LM folder's own list wins
    package_data = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = "planner/data/genres_vocab.txt"
    assert (repo_root / "engine" / shipped).is_file()
    assert any(fnmatch(shipped, pattern) for pattern in package_data["engine"])
