"""The generation pipeline: request -> takes (audio, latents, codes, provenance).

Shaped like a diffusers pipeline: `check_inputs`, `encode_prompt`, `prepare_latents`, then
`__call__` with numbered steps. It takes a `JobContext`: `ctx.check_cancelled()` before every
diffusion step, `ctx.progress(stage, step, total)` for "text encode", "lm", "vae encode",
"diffusion" and "vae decode".

Reproducibility: every random draw of item k comes from generators seeded by seed k alone
(initial noise, SDE noise, VAE posterior sampling, reference-window offsets), drawn in float32
on the CPU, so item k of a batch equals a single run with seed k and re-running a take's
request reproduces it (same device and dtype).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from engine.errors import ValidationError
from engine.jobs.context import JobContext
from engine.planner.constants import CAPTION_TOKEN_CAP
from engine.runtime.options import StageOffloader
from engine.sampling.dcw import DcwConfig
from engine.sampling.sampler import GuidanceConfig, SamplerOptions
from engine.sampling.schedules import base_schedule, nearest_schedule_index, turbo_schedule
from engine.tasks import constants as C
from engine.tasks.audio_inputs import assemble_reference, is_silent, load_audio
from engine.tasks.components import GenerationModels, load_generation_models, resolve_model
from engine.tasks.conditioning import TaskPlan, plan_task
from engine.tasks.diffusion import DiffusionInputs, TextConditioning, fit_frames, run_diffusion
from engine.tasks.regions import splice_mask, splice_waveform
from engine.tasks.request import (
    GenerationRequest,
    check_repaint_window,
    request_to_dict,
    resolve_seeds,
    validate_request,
)
from engine.tasks.results import GenerationResult, Provenance, Take, read_only

DEFAULT_TURBO_STEPS = 8
DEFAULT_BASE_STEPS = 32  # upstream UI default for base/SFT
ENCODE_CACHE_SIZE = 16


def derived_seed(seed: int, purpose: str) -> int:
    """An independent 63-bit seed for one random stream of one take."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@dataclass(frozen=True)
class EncodedPrompt:
    """Caption + lyric conditioning for the batch, and the non-cover variant if needed."""

    text: TextConditioning
    non_cover: TextConditioning | None


class GenerationPipeline:
    """Runs GenerationRequests on one loaded set of models (a DiT, the text encoder, the VAE).

    Build with `GenerationPipeline.from_checkpoints(...)` or from already loaded
    `GenerationModels` (the job worker keeps those in its ModelCache).
    """

    def __init__(self, models: GenerationModels, model_family: str, checkpoints: Path | None = None,
                 lm_caption_token_cap: int = CAPTION_TOKEN_CAP, runtime=None, offloader=None):
        self.models = models
        # The runtime options the models were prepared with (engine.runtime.options; None = plain
        # load) and the offloader that moves each model onto the accelerator for its stage only.
        self.runtime = runtime
        self.offloader = offloader or StageOffloader("cpu", enabled=False)
        self.checkpoints = checkpoints
        # Thinking phase 1 writes at most this many caption tokens (upstream 512). A weak LM
        # (e.g. the tiny test checkpoints) never ends its caption on its own, so phase 1 runs to
        # this cap on every item; tests lower it, users keep upstream's value.
        self.lm_caption_token_cap = lm_caption_token_cap
        self._planner = None
        self._planner_name: str | None = None
        self.family = model_family  # "turbo" | "base" | "sft"
        self._encode_cache: dict[str, torch.Tensor] = {}
        self._source_kind = ""  # per call: "cached" | "encoded" | "" (provenance source_latents)
        self._cancel_check = JobContext.inline().check_cancelled  # replaced per __call__

    @classmethod
    def from_checkpoints(cls, checkpoints: Path | str, model: str | None = None, task: str = "text2music",
                         device: str = "cpu", dtype: torch.dtype = torch.float32,
                         lm_caption_token_cap: int = CAPTION_TOKEN_CAP, runtime=None) -> GenerationPipeline:
        """`runtime`: RuntimeOptions to apply (its dtype replaces `dtype`); None = a plain load."""
        from engine.tasks.components import model_family

        checkpoints = Path(checkpoints)
        folder = resolve_model(checkpoints, model, task)
        if runtime is None:
            models = load_generation_models(checkpoints, folder, device, dtype)
            offloader = None
        else:
            from engine.tasks.runtime_setup import apply_runtime_options

            models = load_generation_models(checkpoints, folder, device, runtime.dtype,
                                            vae_device="cpu" if runtime.vae_on_cpu else None)
            offloader = apply_runtime_options(models, runtime)
        return cls(models, model_family(folder), checkpoints, lm_caption_token_cap=lm_caption_token_cap,
                   runtime=runtime, offloader=offloader)

    @property
    def dit(self):
        return self.models.dit

    @property
    def is_turbo(self) -> bool:
        return self.family == "turbo"

    # 1. ---------------------------------------------------------------------------------------
    def check_inputs(self, req: GenerationRequest, planner_given: bool = False) -> None:
        """Model-independent validation plus the rules that depend on the loaded model."""
        validate_request(req)
        if req.task in C.BASE_ONLY_TASKS and self.family != "base":
            raise ValidationError(
                f"model: task {req.task!r} needs a base-family model (e.g. acestep-v15-base); "
                f"the loaded model is {self.family}"
            )
        if self.is_turbo and req.steps not in (None, DEFAULT_TURBO_STEPS) and not req.timesteps:
            raise ValidationError(
                f"steps: turbo models run exactly {DEFAULT_TURBO_STEPS} steps, got {req.steps} "
                "(use timesteps for a custom turbo schedule)"
            )
        if self.is_turbo and req.timesteps and len([t for t in req.timesteps if t > 0]) > C.TURBO_MAX_STEPS:
            raise ValidationError(f"timesteps: turbo accepts at most {C.TURBO_MAX_STEPS} times")
        if req.effective_thinking and self.checkpoints is None and not planner_given:
            raise ValidationError(
                "thinking: the planner LM needs a checkpoints folder; build the pipeline with "
                "GenerationPipeline.from_checkpoints(...)"
            )

    def schedule_for(self, req: GenerationRequest) -> list[float]:
        dtype = self.models.dtype
        if self.is_turbo:
            return turbo_schedule(req.shift, list(req.timesteps) if req.timesteps else None, dtype=dtype)
        steps = req.steps or DEFAULT_BASE_STEPS
        return base_schedule(steps, req.shift, list(req.timesteps) if req.timesteps else None, dtype=dtype)

    def sampler_options(self, req: GenerationRequest, schedule: list[float]) -> SamplerOptions:
        scale = 1.0 if self.is_turbo else req.guidance_scale  # turbo is CFG-distilled (§4.1)
        return SamplerOptions(
            schedule=schedule,
            guidance=GuidanceConfig(scale=scale, method=req.guidance_method,
                                    interval=(req.cfg_interval_start, req.cfg_interval_end)),
            infer_method=req.infer_method,
            sampler_mode=req.sampler_mode,
            sde_ignores_shift=not self.is_turbo,
            dcw=DcwConfig(enabled=self.dcw_enabled_for(req), mode=req.dcw_mode, scaler=req.dcw_scaler,
                          high_scaler=req.dcw_high_scaler, wavelet=req.dcw_wavelet),
        )

    def dcw_enabled_for(self, req: GenerationRequest) -> bool:
        """DCW on or off for `req`: its own choice, else upstream's newest default (on for turbo)."""
        return self.is_turbo if req.dcw_enabled is None else bool(req.dcw_enabled)

    def resolved_request(self, req: GenerationRequest, seeds: tuple[int, ...]) -> dict:
        """The request as it ran, for provenance: resolved seeds and the DCW choice made for
        this model (so the sidecar says what happened, and a re-run does it again)."""
        return request_to_dict(req.with_changes(seeds=tuple(seeds), dcw_enabled=self.dcw_enabled_for(req)))

    # 2. ---------------------------------------------------------------------------------------
    def encode_prompt(self, plan: TaskPlan, batch: int) -> EncodedPrompt:
        """Encode the caption (full Qwen3) and lyrics (embedding table) once; repeat per item."""
        text_model = self.models.text
        captions = [plan.caption] + ([plan.non_cover_caption] if plan.non_cover_caption else [])
        encoded = text_model.encode_captions(captions)
        states, mask = encoded.hidden_states, encoded.attention_mask  # [1|2, Lt, D], [1|2, Lt]
        lyrics = text_model.embed_lyrics([plan.lyrics])
        lyric, lyric_mask = lyrics.hidden_states, lyrics.attention_mask  # [1, Ll, D], [1, Ll]

        def rows(t: torch.Tensor) -> torch.Tensor:
            return t.expand(batch, *t.shape[1:])

        def cond(i: int, length: int) -> TextConditioning:
            return TextConditioning(rows(states[i : i + 1, :length]), rows(mask[i : i + 1, :length]),
                                    rows(lyric), rows(lyric_mask))

        # The caption alone has no padding (upstream tokenizes one prompt at a time).
        cover_length = int(mask[0].sum())
        # Upstream pads (pad id, mask 0) or crops the non-cover ids to the cover prompt's length
        # before encoding them. The encoder is causal and runs without a mask, so row 1 of our
        # batch (right-padded with the pad id to the longest prompt) cut at that length gives
        # exactly those states. -> [B, Lt_cover, D] both.
        non_cover = cond(1, cover_length) if plan.non_cover_caption else None
        return EncodedPrompt(text=cond(0, cover_length), non_cover=non_cover)

    # 3. ---------------------------------------------------------------------------------------
    def prepare_latents(self, plan: TaskPlan, seeds: tuple[int, ...],
                        initial_noise: torch.Tensor | None = None,
                        req: GenerationRequest | None = None) -> torch.Tensor:
        """Initial noise [B, T, 64]: per item `randn(1, T, 64)` from Generator(seed), float32 CPU.

        With a retake (`req.retake_variance` v > 0), item k's noise is blended with the noise of
        `retake_seed + k`: cos(v·π/2)·n_seed + sin(v·π/2)·n_retake (upstream's retake)."""
        if initial_noise is not None:
            expected = (len(seeds), plan.frames, 64)
            if tuple(initial_noise.shape) != expected:
                raise ValidationError(f"initial_noise: shape must be {expected}, got {tuple(initial_noise.shape)}")
            return initial_noise

        def noise(seed: int) -> torch.Tensor:
            gen = torch.Generator("cpu").manual_seed(seed)
            return torch.randn(1, plan.frames, 64, generator=gen, dtype=torch.float32)  # [1, T, 64]

        rows = [noise(seed) for seed in seeds]
        if req is not None and req.retake_seed is not None and req.retake_variance > 0:
            angle = req.retake_variance * math.pi / 2
            rows = [math.cos(angle) * row + math.sin(angle) * noise((req.retake_seed + k) % 2**32)
                    for k, row in enumerate(rows)]
        return torch.cat(rows, dim=0)

    def _encode_audio(self, wav: np.ndarray, seeds: tuple[int, ...], purpose: str) -> torch.Tensor:
        """VAE posterior samples of one wav, one per item, each drawn with that item's generator
        (so item k never depends on the batch). Remembered for the last few (wav, seed) pairs: a
        musician repaints the same clip again and again. -> [B, T, 64] float32 CPU."""
        digest = hashlib.sha1(np.ascontiguousarray(wav).tobytes()).hexdigest()
        rows = []
        for seed in seeds:
            key = f"{digest}:{purpose}:{seed}"
            latents = self._encode_cache.get(key)
            if latents is None:
                gen = torch.Generator(self.models.vae.device).manual_seed(derived_seed(seed, purpose))
                audio = torch.from_numpy(np.ascontiguousarray(wav))[None]  # [1, 2, S]
                latents = self.models.vae.encode(audio, sample=True, generator=gen,
                                                 on_tile=self._cancel_check).float().cpu()
                self._encode_cache[key] = latents
                while len(self._encode_cache) > ENCODE_CACHE_SIZE:
                    self._encode_cache.pop(next(iter(self._encode_cache)))
            rows.append(latents)
        return torch.cat(rows, dim=0)

    def _source_latents(self, plan: TaskPlan, req: GenerationRequest, seeds: tuple[int, ...]) -> torch.Tensor:
        """Target/source latents [B, T, 64] (silence, VAE-encoded source, or decoded codes)."""
        dit, batch, frames = self.dit, len(seeds), plan.frames
        silence = dit.silence_frames(frames).float().cpu()  # [1, T, 64]
        if plan.use_codes:
            codes = torch.tensor(req.audio_codes, dtype=torch.long)[None, :, None]  # [1, T5, 1]
            hints = dit.detokenize(codes).latents_25hz.float().cpu()
            return fit_frames(hints, frames, silence).expand(batch, -1, -1)
        if plan.target_wav is None or is_silent(plan.target_wav):
            return silence.expand(batch, -1, -1)
        given = self._given_source_latents(req, plan, silence.shape[-1])
        if given is not None:  # the take's own latents: no VAE encode (engine.studio.latent_store)
            self._source_kind = "cached"
            return fit_frames(given, frames, silence).expand(batch, -1, -1)
        self._source_kind = "encoded"
        latents = self._encode_audio(plan.target_wav, seeds, "source")
        return fit_frames(latents, frames, silence)

    def _given_source_latents(self, req: GenerationRequest, plan: TaskPlan, channels: int) -> torch.Tensor | None:
        """req.source_latents as [1, T, C] when they fit this source and came from the loaded
        VAE; None (-> encode) otherwise. A wrong shape is the caller's error, not a fallback."""
        given = req.source_latents
        if given is None:
            return None
        from engine.tasks.source_latents import vae_identity

        vae = self.models.identities[2] if len(self.models.identities) > 2 else None
        if vae is None or vae_identity(vae.name, dict(vae.weight_sha256)) != given.vae:
            return None  # another VAE's latent space: encode instead (the provenance says so)
        # Frames of the source as upstream sizes them (padding included); intros pad the source.
        expected = plan.target_wav.shape[1] // C.HOP
        if given.latents.shape != (expected, channels):
            raise ValidationError(f"source_latents: shape must be ({expected}, {channels}) for this source, "
                                  f"got {tuple(given.latents.shape)}")
        return torch.from_numpy(np.array(given.latents, np.float32))[None]  # [1, T, C]

    def _reference_latents(self, req: GenerationRequest, seeds: tuple[int, ...]) -> torch.Tensor:
        """Timbre reference [B, 750, 64]: the 30 s assembly of the reference audio, or silence."""
        frames = C.REFERENCE_FRAMES
        if req.reference_audio is None:
            return self.dit.silence_frames(frames).float().cpu().expand(len(seeds), -1, -1)
        wav = load_audio(req.reference_audio, req.reference_sample_rate, "reference_audio")
        if is_silent(wav):
            raise ValidationError("reference_audio: the reference audio is silent")
        rows = []
        for seed in seeds:
            clip = assemble_reference(wav, np.random.default_rng(derived_seed(seed, "reference")))
            rows.append(self._encode_audio(clip, (seed,), "reference")[:, :frames])
        return torch.cat(rows, dim=0)

    def diffusion_inputs(self, plan: TaskPlan, req: GenerationRequest, seeds: tuple[int, ...],
                         prompt: EncodedPrompt, schedule: list[float]) -> tuple[DiffusionInputs, list[float]]:
        """Assemble src latents, chunk masks, repaint/cover settings (§3.2–§3.5)."""
        clean = self._source_latents(plan, req, seeds)  # [B, T, 64]
        reference = self._reference_latents(req, seeds)  # [B, Tr, 64]
        return self.assemble_diffusion_inputs(plan, req, prompt, schedule, clean, reference)

    def assemble_diffusion_inputs(self, plan: TaskPlan, req: GenerationRequest, prompt: EncodedPrompt,
                                  schedule: list[float], clean: torch.Tensor, reference: torch.Tensor
                                  ) -> tuple[DiffusionInputs, list[float]]:
        """The request -> DiffusionInputs mapping once the latents exist: chunk masks, repaint
        region, cover noise start, cover and injection steps. Kept apart from the VAE/text work
        so the conformance kit can drive it with its recorded latents.

        clean: [B, T, 64] source latents; reference: [B, Tr, 64] one timbre clip per item.
        Returns the inputs and the schedule (shortened when cover_noise_strength > 0).
        """
        batch, frames = clean.shape[0], plan.frames
        src = clean.clone()
        chunk = torch.full((batch, frames), plan.chunk_value, dtype=torch.float32)  # [B, T]
        repaint_mask = None
        if plan.region_frames is not None:
            s, e = plan.region_frames
            chunk.zero_()
            chunk[:, s:e] = 1.0  # explicit mode inside a window
            repaint_mask = torch.zeros(batch, frames, dtype=torch.bool)
            repaint_mask[:, s:e] = True
            if plan.silence_region:
                src[:, s:e] = self.dit.silence_frames(e - s, start=s).float().cpu()
        steps = len(schedule) - 1
        cover_noise_start = None
        if plan.is_cover and req.cover_noise_strength > 0:
            start = nearest_schedule_index(schedule, 1.0 - req.cover_noise_strength)
            schedule = schedule[start:]
            steps = len(schedule) - 1
            cover_noise_start = clean
        cover_steps = int(steps * req.audio_cover_strength) if prompt.non_cover is not None else None
        if cover_steps is not None and cover_steps >= steps:
            cover_steps = None
        inputs = DiffusionInputs(
            text=prompt.text,
            refer_latents_packed=reference,
            refer_order=torch.arange(batch),
            src_latents=src,
            chunk_masks=chunk,
            is_covers=torch.full((batch,), plan.is_cover, dtype=torch.bool),
            precomputed_hints=src if plan.use_codes else None,
            non_cover_text=prompt.non_cover if cover_steps is not None else None,
            cover_steps=cover_steps,
            repaint_mask=repaint_mask,
            clean_src_latents=clean if repaint_mask is not None else None,
            injection_steps=round(plan.injection_ratio * steps) if repaint_mask is not None else 0,
            crossfade_frames=plan.crossfade_frames,
            cover_noise_start=cover_noise_start,
        )
        return inputs, schedule

    # 4. ---------------------------------------------------------------------------------------
    def __call__(self, req: GenerationRequest, ctx: JobContext | None = None, *,
                 initial_noise: torch.Tensor | None = None, planner=None) -> GenerationResult:
        """Generate `req.batch_size` takes.

        `planner`: an already loaded PlannerLM for thinking (the job worker passes the one its
        ModelCache shares with ThinkJob); None = `self.planner(req.lm_model)`.

        Steps: 1 check inputs, 2 seeds and audio, 3 plan the task, 4 encode prompts, 5 encode
        source/reference audio, 6 initial noise, 7 diffusion, 8 VAE decode and post-process,
        9 takes with provenance.
        """
        ctx = ctx or JobContext.inline()
        # VAE encodes deep inside diffusion_inputs check this job's cancel before every tile.
        # The pipeline runs on one worker thread, one request at a time, so this is per call.
        self._cancel_check = ctx.check_cancelled
        self._source_kind = ""
        timings: dict[str, float] = {}
        started = time.perf_counter()

        # 1. validate
        self.check_inputs(req, planner_given=planner is not None)
        req = self._apply_loras(req)
        # 2. seeds and source audio
        seeds = resolve_seeds(req)
        if req.effective_thinking:
            return self._generate_with_planner(req, seeds, ctx, initial_noise, planner)
        source = None
        if req.source_audio is not None and not (isinstance(req.source_audio, str) and not req.source_audio):
            source = load_audio(req.source_audio, req.source_sample_rate, "source_audio")
            check_repaint_window(req, source.shape[1] / C.SAMPLE_RATE)
        ctx.check_cancelled()
        # 3. plan
        plan = plan_task(req, source)
        # 4. prompts
        ctx.progress("text encode", 0, 1)
        t0 = time.perf_counter()
        with self.offloader.use(self.models.text.model):
            prompt = self.encode_prompt(plan, len(seeds))
        timings["text_encode"] = time.perf_counter() - t0
        ctx.progress("text encode", 1, 1)
        ctx.check_cancelled()
        # 5. source / reference latents
        t0 = time.perf_counter()
        encodes_audio = plan.target_wav is not None or req.reference_audio is not None
        if encodes_audio:
            ctx.progress("vae encode", 0, 1)
        schedule = self.schedule_for(req)
        with self.offloader.use(self.models.vae.model), self.offloader.use(self.dit):
            inputs, schedule = self.diffusion_inputs(plan, req, seeds, prompt, schedule)
        if encodes_audio:
            ctx.progress("vae encode", 1, 1)
        timings["vae_encode"] = time.perf_counter() - t0
        ctx.check_cancelled()
        # 6. noise
        noise = self.prepare_latents(plan, seeds, initial_noise, req)
        sde_generators = [torch.Generator("cpu").manual_seed(derived_seed(s, "sde")) for s in seeds]

        def sde_noise(_step: int) -> torch.Tensor:
            return torch.cat([torch.randn(1, plan.frames, 64, generator=g) for g in sde_generators])

        # 7. diffusion
        options = self.sampler_options(req, schedule)
        steps = len(schedule) - 1

        def on_step(i: int, total: int) -> None:
            ctx.check_cancelled()
            ctx.progress("diffusion", i, total)

        t0 = time.perf_counter()
        with self.offloader.use(self.dit):
            latents = run_diffusion(self.dit, inputs, options, noise, sde_noise=sde_noise, on_step=on_step)
        ctx.progress("diffusion", steps, steps)
        timings["diffusion"] = time.perf_counter() - t0
        latents = latents.float()
        if not torch.isfinite(latents).all():
            raise ValidationError("the model produced NaN/Inf latents; try float32 or another seed")
        # 8. decode (items one at a time, as upstream) and post-process
        t0 = time.perf_counter()
        audios, gains = [], []
        with self.offloader.use(self.models.vae.model):
            for k in range(len(seeds)):
                ctx.check_cancelled()
                ctx.progress("vae decode", k, len(seeds))
                if req.decode_window_only and plan.region is not None and plan.target_wav is not None:
                    wav, gain = self._decode_window(latents[k : k + 1], plan, req, ctx)
                else:
                    wav = self.models.vae.decode(latents[k : k + 1], on_tile=ctx.check_cancelled)[0].cpu().numpy()  # [2, T·1920]
                    wav, gain = self._postprocess(wav * self._source_gain(req), plan, req)
                    gain *= self._source_gain(req)
                audios.append(wav)
                gains.append(gain)
        ctx.check_cancelled()  # a cancel during the last tile: no takes come out of a cancelled job
        ctx.progress("vae decode", len(seeds), len(seeds))
        timings["vae_decode"] = time.perf_counter() - t0
        with self.offloader.use(self.dit):
            codes = self._codes_of(latents)
        timings["total"] = time.perf_counter() - started
        # 9. takes
        return self._takes(req, seeds, audios, latents, codes, schedule, timings, gains)

    def _apply_loras(self, req: GenerationRequest) -> GenerationRequest:
        """Put the request's LoRA adapters on the decoder (none: remove any left from a previous
        request); the returned request names each with its sha256 for the provenance."""
        from engine.lora.inference import LOADED_ATTR

        if not req.loras and not getattr(self.dit.transformer, LOADED_ATTR, None):
            return req
        from engine.lora.inference import apply_loras

        return req.with_changes(loras=apply_loras(self.dit.transformer, req.loras))

    # -- thinking ------------------------------------------------------------------------------
    def planner(self, name: str | None = None):
        """The planner LM `name` (a folder under checkpoints; None = the default LM), loaded on
        first use and kept with the pipeline."""
        if self._planner is None or self._planner_name != name:
            from engine.planner.lm import PlannerLM

            folder = self.checkpoints / name if name else self.checkpoints
            self._planner = PlannerLM.load(folder, device=str(self.models.device))
            self._planner_name = name
        return self._planner

    def _generate_with_planner(self, req: GenerationRequest, seeds: tuple[int, ...], ctx: JobContext,
                               initial_noise: torch.Tensor | None, lm=None) -> GenerationResult:
        """text2music with thinking: the planner LM writes the metadata and CoT ONCE for the
        batch (phase 1, seeded by item 0's seed) and each item's 5 Hz codes with that item's seed
        (phase 2), as upstream; then the DiT renders each item's codes in cover mode (§3.3).

        Phase 2 and the DiT run item by item (batch_chunk_size=1), so item 0 is bit-identical to
        a single run with its seed, and item k depends only on seeds 0 and k. The take's
        provenance keeps the LM's metadata and, under "audio_codes", the planner's codes
        (take.codes are the codes of the generated latents, as for every take).
        """
        from engine.planner.metadata import Metadata
        from engine.planner.sampling import SamplingParams
        from engine.planner.think import ThinkRequest, think

        if initial_noise is not None:
            raise ValidationError("initial_noise: cannot be injected when thinking (lengths come from the LM)")
        t0 = time.perf_counter()
        lm = lm if lm is not None else self.planner(req.lm_model)
        user = Metadata(bpm=req.bpm, keyscale=req.keyscale or None, timesignature=req.timesignature or None,
                        duration=req.duration, language=None if req.vocal_language == "unknown" else req.vocal_language)
        sampling = SamplingParams(temperature=req.lm_temperature, top_k=req.lm_top_k or None,
                                  top_p=req.lm_top_p, cfg_scale=req.lm_cfg_scale)
        ctx.check_cancelled()
        with self.offloader.use(lm.model):
            planned_items = think(lm, ThinkRequest(
            caption=req.caption, lyrics=req.effective_lyrics, metadata=user, seeds=tuple(seeds),
            batch_chunk_size=1, sampling=sampling, negative_prompt=req.lm_negative_prompt,
            use_cot_metas=req.use_cot_metas, use_cot_caption=req.use_cot_caption,
            use_cot_language=req.use_cot_language, constrained=req.constrained_decoding,
            max_caption_tokens=self.lm_caption_token_cap), ctx).items
        lm_seconds = (time.perf_counter() - t0) / len(seeds)  # the LM's time, shared out per take
        takes: list[Take] = []
        resolved = self.resolved_request(req, seeds)
        for k, (seed, item) in enumerate(zip(seeds, planned_items, strict=True)):
            ctx.check_cancelled()
            meta = item.metadata
            if not item.codes:
                raise ValidationError("thinking: the planner LM produced no audio codes; try another seed")
            take = self(planned_item_request(req, seed, meta, item.codes), ctx).takes[0]
            prov = replace(take.provenance, request=resolved, item_index=k,
                           lm_metadata=tuple(sorted({**meta.to_dict(), "audio_codes": item.codes}.items())),
                           timings_s=tuple(sorted(dict(take.provenance.timings_s, lm=lm_seconds).items())))
            takes.append(replace(take, provenance=prov))
        return GenerationResult(takes=tuple(takes))

    def _source_gain(self, req: GenerationRequest) -> float:
        """Cached source latents decode to the source audio / gain (the take was normalised after
        decoding), so what is decoded from them is scaled by it to sit at the source's level."""
        return float(req.source_latents.gain) if self._source_kind == "cached" else 1.0

    def _decode_window(self, latents: torch.Tensor, plan: TaskPlan, req: GenerationRequest,
                       ctx: JobContext) -> tuple[np.ndarray, float]:
        """Bounded decode: only the window's frames plus DECODE_MARGIN_FRAMES (and the splice
        crossfade) each side go through the VAE; the rest of the output is the source audio.

        Why the margin makes this match a whole decode: the VAE decoder is convolutional, so a
        sample depends only on latent frames within its receptive field (about ±8 frames for
        ACE-Step's Oobleck decoder: a 7-tap input conv, then dilated 7-tap residual units at
        each upsampled rate). Decoding a crop changes only what lies within that field of the
        crop's edges, and the margin (1.28 s) keeps those samples outside the spliced region,
        where the splice weight is 0 and the output is the source anyway.
        latents: [1, T, C] -> ([2, T·1920] audio, gain applied to the decoded audio).
        """
        from engine.tasks.regions import decode_span

        frames = latents.shape[1]
        f0, f1 = decode_span(plan.region_frames, plan.wav_crossfade_s, frames)
        part = self.models.vae.decode(latents[:, f0:f1], on_tile=ctx.check_cancelled)[0].cpu().numpy()
        part = part * self._source_gain(req)
        peak = float(np.abs(part).max()) if part.size else 0.0
        gain = self._source_gain(req) / peak if peak > 1.0 else self._source_gain(req)  # + anti-clip
        out = np.zeros((2, frames * C.HOP), np.float32)  # [2, T·1920], the whole output
        n = min(out.shape[1], plan.target_wav.shape[1])
        out[:, :n] = plan.target_wav[:, :n]
        out[:, f0 * C.HOP : f0 * C.HOP + part.shape[1]] = part / peak if peak > 1.0 else part
        if req.repaint_mode != "aggressive":  # the same splice as _postprocess, on the same mask
            mask = splice_mask(out.shape[1], plan.region.start_s, plan.region.end_s, plan.wav_crossfade_s)
            out = splice_waveform(out, plan.target_wav, mask)
        # No loudness normalisation: the rest of the output is the source, and stays bit-identical.
        return out.astype(np.float32), gain

    def _postprocess(self, wav: np.ndarray, plan: TaskPlan, req: GenerationRequest) -> tuple[np.ndarray, float]:
        """Anti-clip, repaint/lego waveform splice, peak normalisation (§5 order).
        -> (audio, the gain applied to the decoded audio: take audio = decode(latents)·gain)."""
        gain = 1.0
        peak = float(np.abs(wav).max()) if wav.size else 0.0
        if peak > 1.0:
            wav = wav / peak
            gain /= peak
        spliced = False
        if plan.region is not None and req.repaint_mode != "aggressive" and plan.target_wav is not None:
            s, e = plan.region_frames
            if not (s == 0 and e >= plan.frames):  # whole-length regions are skipped (upstream)
                mask = splice_mask(wav.shape[1], plan.region.start_s, plan.region.end_s, plan.wav_crossfade_s)
                wav = splice_waveform(wav, plan.target_wav, mask)
                spliced = True
        # Normalising a spliced take would change the untouched audio around the window, so
        # repaint/lego takes keep their level (the original must stay bit-identical outside).
        if req.normalize and not spliced:
            peak = float(np.abs(wav).max())
            if peak >= 1e-6:
                wav = wav * (10 ** (req.normalization_db / 20) / peak)
                gain *= 10 ** (req.normalization_db / 20) / peak
        return wav.astype(np.float32), gain

    def _codes_of(self, latents: torch.Tensor) -> list[tuple[int, ...]]:
        if getattr(self.dit, "audio_tokenizer", None) is None:
            return [() for _ in range(latents.shape[0])]
        codes = self.dit.tokenize(latents).codes[..., 0].cpu()  # [B, T5]
        return [tuple(int(c) for c in row) for row in codes]

    def _takes(self, req, seeds, audios, latents, codes, schedule, timings, gains=None) -> GenerationResult:
        versions = tuple((pkg, _version(pkg)) for pkg in ("torch", "diffusers", "transformers"))
        takes = []
        # The recorded request carries the RESOLVED seeds of the whole batch: re-running it and
        # taking item k reproduces the take bit-for-bit (a batch-1 re-run with seed k matches
        # only to float rounding, because batched matmuls may sum in another order).
        resolved = self.resolved_request(req, seeds)
        for k, seed in enumerate(seeds):
            provenance = Provenance(
                request=resolved,
                seed=seed,
                item_index=k,
                task=req.task,
                models=self.models.identities,
                device=str(self.models.device),
                dtype=str(self.models.dtype).replace("torch.", ""),
                schedule=tuple(schedule),
                timings_s=tuple(sorted(timings.items())),
                versions=versions,
                runtime=tuple(sorted(self.runtime.to_record().items())) if self.runtime is not None else (),
                source_latents=self._source_kind,
            )
            takes.append(Take(audio=read_only(audios[k]), latents=read_only(latents[k].cpu().numpy()),
                              codes=codes[k], provenance=provenance,
                              latent_gain=float(gains[k]) if gains is not None else 1.0))
        return GenerationResult(takes=tuple(takes), timings_s=tuple(sorted(timings.items())))


def planned_item_request(req: GenerationRequest, seed: int, meta, codes) -> GenerationRequest:
    """The DiT request of one thinking item: cover-from-codes with the LM's metas and caption.

    `meta`: the item's engine.planner.metadata.Metadata; `codes`: its 5 Hz audio codes. Also
    what scoring rebuilds a planned take's decoder inputs from (its lm_metadata)."""
    low, high = C.DURATION_RANGE
    metas_duration = meta.duration if meta.duration and low <= meta.duration <= high else None
    return req.with_changes(
        thinking=False, batch_size=1, seeds=(seed,), audio_codes=tuple(codes),
        bpm=meta.bpm, keyscale=meta.keyscale or "", timesignature=meta.timesignature or "",
        # The length follows the codes; the duration (user's, else the LM's) goes into
        # the DiT metas, as upstream feeds the merged metadata to the DiT.
        duration=metas_duration,
        caption=meta.caption if (req.use_cot_caption and meta.caption) else req.caption,
        vocal_language=meta.language if (req.use_cot_language and meta.language) else req.vocal_language,
    )


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def generate(req: GenerationRequest, checkpoints: Path | str, *, model: str | None = None,
             device: str = "cpu", dtype: torch.dtype = torch.float32,
             ctx: JobContext | None = None) -> GenerationResult:
    """One-call convenience: load the right models and run `req`."""
    pipe = GenerationPipeline.from_checkpoints(checkpoints, model=model, task=req.task, device=device, dtype=dtype)
    return pipe(req, ctx)
