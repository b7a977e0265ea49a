"""The runtime options reach the real loading path: GenerateJob resolves them (Settings or its own
choices), the cached pipeline is prepared with them (INT8, compile, CPU VAE, offload) and each
take's provenance records them. Offload is checked with a recording offloader, since this CPU
has no accelerator to move models to."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from engine.jobs import JobContext, ModelCache
from engine.jobs.generation import PIPELINE_VARIANT, GenerateJob
from engine.runtime.options import RuntimeChoices, StageOffloader, resolve_options
from engine.tasks.request import GenerationRequest

REQ = GenerationRequest(caption="warm rhodes", duration=6.0, seeds=(3,))


def _int8_linears(module) -> int:
    return sum(type(m.weight).__name__ == "Int8Tensor" for m in module.modules() if isinstance(m, torch.nn.Linear))


def test_settings_choices_reach_the_job_and_the_cache_key(tiny_checkpoints):
    models = ModelCache()
    job = GenerateJob(request=REQ, checkpoints=tiny_checkpoints, device="cpu",
                      runtime=RuntimeChoices(quantization="int8", vae_device="cpu"))
    take = job.run(models, JobContext.inline()).takes[0]
    (key,) = models.stats().loaded
    assert key.variant[0] == PIPELINE_VARIANT and "quant=int8" in key.variant and "vae_cpu=True" in key.variant
    pipe = models.get(key)
    assert _int8_linears(pipe.dit.transformer) > 0 and _int8_linears(pipe.dit.condition_encoder) > 0
    # The tokenizer stays full precision: a take's 5 Hz codes are not moved by quantisation noise.
    assert _int8_linears(pipe.dit.audio_tokenizer) == 0
    record = dict(take.provenance.runtime)
    assert record == {"offload": "off", "quantization": "int8", "compile": "off", "vae_device": "cpu",
                      "dtype": "float32"}
    assert take.provenance.to_dict()["runtime"]["quantization"] == "int8"

    plain = GenerateJob(request=REQ, checkpoints=tiny_checkpoints, device="cpu",
                        runtime=RuntimeChoices(quantization="none")).run(models, JobContext.inline()).takes[0]
    assert len(models.stats().loaded) == 2  # another choice is another loaded pipeline
    error = float(np.linalg.norm(take.latents - plain.latents) / np.linalg.norm(plain.latents))
    assert 0 < error < 0.05, error  # the stated INT8 tolerance (test_runtime_options)


def test_the_saved_settings_are_used_when_the_job_names_no_choices(monkeypatch):
    from engine.settings import Settings

    monkeypatch.setattr("engine.settings.load_settings", lambda *a, **k: Settings(compile="on", offload="off"))
    opts = GenerateJob(request=REQ, checkpoints=".", device="cpu").runtime_options(torch.device("cpu"))
    assert opts.compile and not opts.offload
    explicit = GenerateJob(request=REQ, checkpoints=".", device="cpu", dtype="bfloat16",
                           runtime=RuntimeChoices(compile="off")).runtime_options(torch.device("cpu"))
    assert not explicit.compile and explicit.dtype == torch.bfloat16


def test_compile_is_applied_in_place_to_the_decoder(tiny_checkpoints):
    from engine.tasks.pipeline import GenerationPipeline

    opts = resolve_options("cpu", RuntimeChoices(compile="on", dtype="float32"))
    pipe = GenerationPipeline.from_checkpoints(tiny_checkpoints, runtime=opts)
    # nn.Module.compile keeps the type and the attributes the DiT wrapper reads.
    assert pipe.dit.transformer._compiled_call_impl is not None
    assert pipe.dit.transformer.proj_in_conv.weight.dtype == torch.float32
    assert pipe.runtime is opts


class RecordingOffloader(StageOffloader):
    """Records which models are 'on the accelerator' (inside `use`) at each progress event."""

    def __init__(self, names: dict[int, str]) -> None:
        super().__init__("cpu", enabled=False)
        self.names = names
        self.active: list[str] = []
        self.seen: list[tuple[str, tuple[str, ...]]] = []

    @contextlib.contextmanager
    def use(self, module):
        self.active.append(self.names.get(id(module), "?"))
        try:
            yield module
        finally:
            self.active.pop()


def test_offload_moves_each_model_only_for_its_own_stage(tiny_checkpoints):
    from engine.tasks.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_checkpoints(tiny_checkpoints)
    m = pipe.models
    spy = RecordingOffloader({id(m.dit): "dit", id(m.text.model): "text", id(m.vae.model): "vae"})
    pipe.offloader = spy

    class Ctx(JobContext):
        def progress(self, stage, step, total, *a, **k):
            spy.seen.append((stage, tuple(spy.active)))

    pipe(REQ, Ctx.inline())
    during = {}
    for stage, active in spy.seen:
        during.setdefault(stage, set()).update(active)
    assert during["diffusion"] == {"dit"}
    assert during["vae decode"] == {"vae"}
    # "text encode" progress is reported just outside its block; the encoder is not held then.
    assert during["text encode"] <= {"text"}
