"""Requests that used to pass validation and then hang, allocate hundreds of GiB or surface as a
bug report (issue 13 item 7): each is now a ValidationError naming the parameter, up front."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.errors import ValidationError
from engine.tasks.request import GenerationRequest, check_repaint_window, validate_request

SR = 48_000


def _repaint(**kw) -> GenerationRequest:
    return GenerationRequest(task="repaint", source_audio="song.wav", **kw)


@pytest.mark.parametrize(
    "kwargs, param",
    [
        (dict(repaint_start=1e6, repaint_end=1e6 + 10), "repaint_start"),
        (dict(repaint_start=0.0, repaint_end=1e9), "repaint_end"),
        (dict(repaint_start=-1e6, repaint_end=5.0), "repaint_start"),
        (dict(repaint_start=float("nan"), repaint_end=10.0), "repaint_start"),
        (dict(source_sample_rate=0), "source_sample_rate"),
        (dict(source_sample_rate=-44100), "source_sample_rate"),
        (dict(source_sample_rate=44100.5), "source_sample_rate"),
        (dict(reference_sample_rate=0), "reference_sample_rate"),
        (dict(seeds=(1.5,)), "seeds"),
        (dict(seeds=("7",)), "seeds"),
        (dict(seeds=(True,)), "seeds"),
    ],
)
def test_bad_repaint_rates_and_seeds_name_the_parameter(kwargs, param):
    base = dict(repaint_start=0.0, repaint_end=10.0)
    with pytest.raises(ValidationError, match=rf"^{param}: "):
        validate_request(_repaint(**{**base, **kwargs}))


@pytest.mark.parametrize("codes", [(1.5, 2), ("12", 3), (None,), (True, 1)])
def test_non_integer_audio_codes_name_the_parameter(codes):
    with pytest.raises(ValidationError, match=r"^audio_codes: codes must be whole numbers"):
        validate_request(GenerationRequest(task="cover", audio_codes=codes))


def test_numpy_integers_are_fine():
    validate_request(GenerationRequest(seeds=(np.int64(3),), audio_codes=(np.int32(5), 7), task="cover"))


@pytest.mark.parametrize(
    "start, end, param, words",
    [
        (100.0, 110.0, "repaint_start", "past the end of the source"),
        (10.0, 20.0, "repaint_start", "past the end of the source"),
        (-30.0, 580.0, "repaint_end", "would be 610 s; at most 600"),
        (-95.0, -1.0, "repaint_start", "to the end of the source is 105"),
    ],
)
def test_repaint_window_against_the_source_length(start, end, param, words):
    with pytest.raises(ValidationError, match=rf"^{param}: .*{words}"):
        check_repaint_window(_repaint(repaint_start=start, repaint_end=end), source_seconds=10.0)


def test_reasonable_windows_pass():
    for start, end in [(2.0, 8.0), (5.0, 15.0), (-5.0, 3.0), (0.0, -1.0)]:
        check_repaint_window(_repaint(repaint_start=start, repaint_end=end), source_seconds=10.0)


def test_pipeline_refuses_a_window_past_the_source_before_encoding(tiny_checkpoints):
    """The reported case: 100-110 s on a 10 s source sat in VAE encode for minutes."""
    from engine.tasks.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_checkpoints(tiny_checkpoints, task="repaint")
    encoded = []
    pipe.models.vae.encode = lambda *a, **k: encoded.append(1)
    source = np.zeros((2, 10 * SR), np.float32)
    req = GenerationRequest(task="repaint", source_audio=source, repaint_start=100.0, repaint_end=110.0,
                            duration=None)
    started = time.perf_counter()
    with pytest.raises(ValidationError, match=r"^repaint_start: 100 s is past the end of the source audio"):
        pipe(req)
    assert encoded == [] and time.perf_counter() - started < 5.0


@pytest.mark.parametrize(
    "text",
    ["[1, 2]", '{"format": "legato-take/1", "request": {}, "models": []}', "[" * 100_000,
     '{"format": "legato-take/1", "request": {"seeds": 5}, "models": [{"name": "x"}]}',
     '{"format": "legato-take/1", "item_index": ' + "9" * 5000 + ', "request": {}}'],
)
def test_damaged_sidecars_are_validation_errors(tmp_path, text):
    from engine.tasks.outputs import read_sidecar

    path = tmp_path / "take.json"
    path.write_text(text)
    with pytest.raises(ValidationError, match=r"^from_sidecar: .*take.json"):
        read_sidecar(path)


def test_checkpoints_root_with_a_hostile_config_still_resolves(tiny_checkpoints, tmp_path):
    """resolve_model scans every folder's config.json; a 100,000-deep one used to raise
    RecursionError before any loader's checks ran."""
    from engine.tasks.components import installed_dits

    root = tmp_path / "ckpt"
    root.mkdir()
    for child in tiny_checkpoints.iterdir():
        (root / child.name).symlink_to(child, target_is_directory=True)
    (root / "junk").mkdir()
    (root / "junk" / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "acestep-v15-turbo" in [p.name for p in installed_dits(root)]
