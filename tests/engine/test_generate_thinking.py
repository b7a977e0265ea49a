"""Thinking (`GenerationRequest(thinking=True)`) through the public pipeline, the job and the CLI.

The planner LM writes metadata (phase 1) and exactly duration x 5 audio codes (phase 2) per
item; the DiT then renders those codes in cover mode with the LM's metas. The tiny LM has random
weights, so it never ends its caption by itself: phase 1 would always run to the caption cap.
Upstream's cap is 512 tokens (the pipeline's default); these tests build the pipeline with a
small cap (`lm_caption_token_cap`) so phase 1 costs tens of tokens, not hundreds. The cap's own
semantics (newline forced after N caption tokens) are tested in test_planner_decoding.py, and
thinking being ignored for lego through the pipeline in test_generate_pipeline.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import Cancelled
from engine.jobs.context import CancelToken, JobContext
from engine.planner.constants import CAPTION_TOKEN_CAP, CODEBOOK_SIZE, KEYSCALES, TIME_SIGNATURES
from engine.tasks import constants as C
from engine.tasks.request import GenerationRequest

CAPTION_CAP = 12  # tokens; upstream (and the pipeline default) is 512
DURATION = 6.0
SEED = 11
REQUEST = GenerationRequest(caption="warm lofi piano", thinking=True, duration=DURATION, seeds=(SEED,))


@pytest.fixture(scope="module")
def pipe(tiny_checkpoints):
    from engine.tasks.pipeline import GenerationPipeline

    return GenerationPipeline.from_checkpoints(tiny_checkpoints, lm_caption_token_cap=CAPTION_CAP)


class PlanSpy:
    """Records every (request, TaskPlan) the pipeline builds its DiT conditioning from."""

    def __init__(self, monkeypatch):
        import engine.tasks.pipeline as pipeline_module

        original = pipeline_module.plan_task
        self.calls = []

        def spy(req, source, *args, **kwargs):
            plan = original(req, source, *args, **kwargs)
            self.calls.append((req, plan))
            return plan

        monkeypatch.setattr(pipeline_module, "plan_task", spy)


@pytest.fixture(scope="module")
def thought(pipe):
    """REQUEST run once, with the requests/plans that reached the DiT."""
    with pytest.MonkeyPatch.context() as mp:
        spy = PlanSpy(mp)
        result = pipe(REQUEST)
    return result, spy.calls


def lm_metadata(take) -> dict:
    return dict(take.provenance.lm_metadata)


def test_thinking_take_has_the_requested_length_and_the_lms_provenance(thought):
    result, _ = thought
    (take,) = result.takes
    assert take.audio.shape == (2, int(DURATION * C.SAMPLE_RATE))
    meta = lm_metadata(take)
    # The user's duration wins; the rest was chosen by the LM inside its constrained ranges.
    assert meta["duration"] == DURATION
    assert 30 <= meta["bpm"] <= 300
    assert meta["keyscale"] in KEYSCALES
    assert meta["timesignature"] in TIME_SIGNATURES
    codes = meta["audio_codes"]
    assert len(codes) == DURATION * 5  # phase 2: exactly duration x 5 codes
    assert all(0 <= c < CODEBOOK_SIZE for c in codes)
    prov = take.provenance
    assert prov.request["thinking"] is True and prov.request["seeds"] == [SEED]
    assert prov.seed == SEED and dict(prov.timings_s)["lm"] > 0
    # The sidecar form carries them too.
    sidecar = json.loads(json.dumps(prov.to_dict()))
    assert sidecar["lm_metadata"]["audio_codes"] == list(codes)


def test_the_planners_metadata_and_codes_condition_the_dit(pipe, thought, tiny_checkpoints):
    from engine.planner.metadata import Metadata
    from engine.planner.sampling import SamplingParams
    from engine.planner.think import ThinkRequest, think
    from engine.tasks.prompts import format_metas

    result, calls = thought
    meta = lm_metadata(result.takes[0])
    ((planned, plan),) = calls  # one DiT run for the one item
    # The codes the DiT is conditioned on are the planner's, as cover hints of the same length.
    assert planned.audio_codes == meta["audio_codes"]
    assert plan.use_codes and plan.is_cover
    assert plan.frames == len(meta["audio_codes"]) * 5
    # The metas block of the DiT caption prompt is the LM's, and the caption is its rewrite.
    assert format_metas(meta["bpm"], meta["timesignature"], meta["keyscale"], DURATION) in plan.caption
    assert planned.caption == meta["caption"] and meta["caption"] in plan.caption
    # The planner on its own, with the same seed and options, writes exactly these.
    direct = think(
        pipe.planner(),
        ThinkRequest(
            caption=REQUEST.caption,
            lyrics=REQUEST.effective_lyrics,
            metadata=Metadata(duration=DURATION),
            seed=SEED,
            sampling=SamplingParams(
                temperature=REQUEST.lm_temperature, top_p=REQUEST.lm_top_p, cfg_scale=REQUEST.lm_cfg_scale
            ),
            max_caption_tokens=CAPTION_CAP,
        ),
    ).items[0]
    assert direct.codes == meta["audio_codes"]
    assert {k: v for k, v in direct.metadata.to_dict().items()} == {
        k: v for k, v in meta.items() if k != "audio_codes"
    }


def test_same_seed_same_take_and_batch_items_match_single_runs(pipe, thought):
    single = thought[0].takes[0]
    batch = pipe(REQUEST.with_changes(batch_size=2, seeds=(SEED, SEED + 1))).takes
    assert len(batch) == 2
    first, second = batch
    np.testing.assert_array_equal(first.audio, single.audio)
    assert first.codes == single.codes
    assert lm_metadata(first) == lm_metadata(single)
    # Another seed plans another song (codes differ), still of the requested length.
    assert lm_metadata(second)["audio_codes"] != lm_metadata(single)["audio_codes"]
    assert second.audio.shape == single.audio.shape
    assert [t.provenance.item_index for t in batch] == [0, 1]


def test_phase1_runs_once_per_batch_and_every_take_shares_its_metadata(pipe, monkeypatch):
    """Upstream plans the metadata and CoT once for the whole batch and samples only the codes
    per item; running phase 1 per take made takes of one batch differ in BPM, key and caption."""
    import engine.planner.think as think_module

    stages = []
    original = think_module.generate_rows

    def counting(*args, **kwargs):
        stages.append(kwargs.get("stage"))
        return original(*args, **kwargs)

    monkeypatch.setattr(think_module, "generate_rows", counting)
    takes = pipe(REQUEST.with_changes(batch_size=3, seeds=(SEED, 40, 77))).takes
    assert stages.count("lm") == 1  # phase 1 once for the batch
    assert stages.count("lm codes") >= 1
    metas = [{k: v for k, v in lm_metadata(t).items() if k != "audio_codes"} for t in takes]
    assert metas[0] == metas[1] == metas[2]  # same BPM, key, caption, language
    assert metas[0]["bpm"] and metas[0]["keyscale"] and metas[0]["caption"]
    codes = [lm_metadata(t)["audio_codes"] for t in takes]
    assert len({tuple(c) for c in codes}) == 3  # codes are sampled per item, with its own seed
    assert all(len(c) == len(codes[0]) for c in codes)
    assert [t.provenance.seed for t in takes] == [SEED, 40, 77]


@pytest.mark.parametrize("stage", ["lm", "lm codes"])  # phase 1 (metadata), phase 2 (codes)
def test_cancel_during_the_lm_stops_within_one_token(pipe, stage, monkeypatch):
    lm = pipe.planner()
    token = CancelToken()
    forwards = {"total": 0, "after_cancel": 0}
    original = lm.model.forward

    def counting(*args, **kwargs):
        forwards["total"] += 1
        forwards["after_cancel"] += token.cancelled
        return original(*args, **kwargs)

    def on_progress(p):
        if p.stage == stage and p.step == 3:
            token.cancel()

    monkeypatch.setattr(lm.model, "forward", counting)
    denoise = []
    monkeypatch.setattr(pipe.dit, "denoise", lambda *a, **k: denoise.append(1))
    with pytest.raises(Cancelled):
        pipe(REQUEST.with_changes(seeds=(5,)), JobContext(cancel_token=token, on_progress=on_progress))
    assert token.cancelled and forwards["total"] >= 3  # prefill + 2 steps made the 3 tokens
    assert forwards["after_cancel"] <= 1  # at most the token in flight finishes
    assert not denoise  # the DiT never started


@pytest.mark.parametrize("task", ["lego", "extract", "complete"])
def test_thinking_is_forced_off_for_tasks_that_follow_the_source(task):
    # The pipeline-level lego run is in test_generate_pipeline.py; the rule itself is here.
    req = GenerationRequest(task=task, source_audio="song.wav", tracks=("drums",), thinking=True)
    assert not req.effective_thinking
    assert GenerationRequest(thinking=True).effective_thinking


def test_generate_job_shares_the_planner_with_think_job(tiny_checkpoints):
    from engine.jobs.generation import PIPELINE_VARIANT, GenerateJob
    from engine.jobs.model_cache import ModelCache
    from engine.jobs.planning import ThinkJob
    from engine.planner.think import ThinkRequest

    models = ModelCache()
    ctx = JobContext.inline()
    metas = {"duration": 10, "bpm": 90, "keyscale": "C major", "timesignature": "4"}
    ThinkJob(
        request=ThinkRequest(metadata=metas, generate_codes=False), checkpoints=tiny_checkpoints, device="cpu"
    ).run(models, ctx)
    assert models.stats().loads == 1  # the LM
    req = REQUEST.with_changes(bpm=90, keyscale="C major", timesignature="4")  # all metas: no phase 1
    take = GenerateJob(request=req, checkpoints=tiny_checkpoints, device="cpu").run(models, ctx).takes[0]
    assert take.audio.shape == (2, int(DURATION * C.SAMPLE_RATE))
    assert lm_metadata(take)["bpm"] == 90 and len(lm_metadata(take)["audio_codes"]) == DURATION * 5
    stats = models.stats()
    assert (stats.loads, stats.hits) == (2, 1), "the planner LM should come from ThinkJob's cache entry"
    (pipeline_key,) = [k for k in stats.loaded if PIPELINE_VARIANT in k.variant]
    job_pipeline = models.get(pipeline_key)
    assert job_pipeline._planner is None  # the pipeline never loaded its own copy
    assert job_pipeline.lm_caption_token_cap == CAPTION_TOKEN_CAP == 512  # users get upstream's cap


def test_cli_generate_thinking_writes_takes_with_lm_provenance(tiny_checkpoints, tmp_path, capsys):
    from engine.cli import main

    # All metas given: phase 1 is skipped, the LM writes only the 30 codes.
    code = main(
        [
            "generate",
            "--thinking",
            "--caption",
            "dub techno",
            "--duration",
            "6",
            "--bpm",
            "120",
            "--key",
            "A minor",
            "--time-signature",
            "4",
            "--seeds",
            "3",
            "--format",
            "wav",
            "--checkpoints",
            str(tiny_checkpoints),
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    audio_path, sidecar_path, seed = capsys.readouterr().out.strip().split("\t")
    assert seed == "seed=3"
    import soundfile

    info = soundfile.info(audio_path)
    assert info.frames == int(DURATION * C.SAMPLE_RATE)
    sidecar = json.loads(open(sidecar_path, encoding="utf-8").read())
    assert sidecar["request"]["thinking"] is True
    meta = sidecar["lm_metadata"]
    assert meta["bpm"] == 120 and meta["keyscale"] == "A minor" and meta["timesignature"] == "4"
    assert len(meta["audio_codes"]) == DURATION * 5


def test_planner_tokenizer_is_loaded_once_per_process_and_reloaded_when_its_files_change(
    tiny_checkpoints, tmp_path
):
    import os
    import shutil

    from engine.planner.lm import PlannerLM, _tokenizer_key, find_lm_folder

    folder = find_lm_folder(tiny_checkpoints)
    # Two loads of the same LM (the pipeline's and a ThinkJob's) share one tokenizer object:
    # building it costs seconds (transformers deep-copies ~65k added tokens).
    assert PlannerLM.load(folder).tokenizer is PlannerLM.load(folder).tokenizer
    copy = tmp_path / "lm"
    copy.mkdir()
    shutil.copy(folder / "tokenizer_config.json", copy / "tokenizer_config.json")
    before = _tokenizer_key(copy)
    stat = os.stat(copy / "tokenizer_config.json")
    os.utime(copy / "tokenizer_config.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert _tokenizer_key(copy) != before  # an edited tokenizer is a cache miss
