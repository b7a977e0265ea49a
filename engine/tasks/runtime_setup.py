"""Apply the runtime options (engine.runtime.options) to loaded generation models.

    opts = resolve_options(device, choices)
    models = load_generation_models(root, folder, device, opts.dtype, vae_device="cpu" if opts.vae_on_cpu else None)
    offloader = apply_runtime_options(models, opts)     # quantise, compile, park for offload
    pipeline = GenerationPipeline(models, family, root, runtime=opts, offloader=offloader)

What each option touches, and why:
- quantization: the DiT's decoder and condition encoder (nearly all its weights); "int8-dynamic"
  (weights and activations) the decoder only, see `quantize_dit`. The audio
  tokenizer/detokenizer stay in full precision, so the 5 Hz codes of a take are not moved by
  quantisation noise. The planner LM is quantised where it is loaded (engine.jobs.planning).
- compile: the decoder only (`nn.Module.compile`, in place); it runs steps x CFG times per take,
  the rest runs once and would only pay compile time.
- offload: every model is parked on the CPU after loading; the pipeline moves one at a time onto
  the accelerator for its stage (StageOffloader.use), as upstream's offload_to_cpu does.
"""

from __future__ import annotations

from engine.runtime.options import RuntimeOptions, StageOffloader, apply_quantization, maybe_compile


def apply_runtime_options(models, options: RuntimeOptions):
    """Quantise / compile / park `models` (engine.tasks.components.GenerationModels) in place.

    Returns the StageOffloader the pipeline uses around each stage (a no-op when offload is off).
    """
    dit = models.dit
    quantize_dit(dit, options.quantization)
    maybe_compile(dit.transformer, options.compile)
    offloader = StageOffloader(models.device, enabled=options.offload)
    if options.vae_on_cpu:
        offloader.pin(models.vae.model)
    for module in (dit, models.text.model, models.vae.model):
        offloader.park(module)
    return offloader


def quantize_dit(dit, mode: str) -> None:
    """Quantise the DiT's decoder and (weights-only modes) its condition encoder in place.

    "int8-dynamic" leaves the condition encoder in full precision: it runs once per request, so
    int8 activations there buy no time, and its rounding error reaches every step through the
    cross-attention (tiny DiT, one forward: 5.6 % output error with the encoder quantised too,
    vs ~1.5 % with the decoder alone).
    """
    if mode == "none":
        return
    apply_quantization(dit.transformer, mode)
    if mode != "int8-dynamic":
        apply_quantization(dit.condition_encoder, mode)
