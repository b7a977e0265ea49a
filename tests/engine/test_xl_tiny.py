"""XL (4B class, asymmetric: decoder wider than the condition encoder / tokenizer side) as tiny
checkpoints in the original and the diffusers layout: both load and generate, identically."""

from __future__ import annotations

import numpy as np

from engine.tasks.request import GenerationRequest


def test_tiny_xl_loads_and_runs_in_both_layouts(tiny_checkpoints, tmp_path):
    from dataclasses import replace

    from engine.models.acestep_config import AceStepConfig
    from engine.models.dit_loader import detect_layout, load_dit, save_dit_diffusers
    from engine.models.tiny.dit_checkpoint import tiny_dit_config, write_dit_checkpoint
    from engine.tasks.pipeline import GenerationPipeline

    root = tmp_path / "checkpoints"
    root.mkdir()
    for shared in ("vae", "Qwen3-Embedding-0.6B"):  # the XL uses the same VAE and text encoder
        (root / shared).symlink_to(tiny_checkpoints / shared, target_is_directory=True)
    config = tiny_dit_config("xl_turbo", text_hidden_dim=32)
    parsed = AceStepConfig.from_dict(config)
    assert parsed.hidden_size == 96 and parsed.encoder_hidden_size == 64  # asymmetric, as the real XL
    write_dit_checkpoint(root / "acestep-v15-xl-turbo", config, seed=0)

    req = GenerationRequest(caption="xl test", duration=5.0, seeds=(3,))
    original = GenerationPipeline.from_checkpoints(root, model="acestep-v15-xl-turbo")
    assert original.family == "turbo"
    take = original(req).takes[0]
    assert take.audio.shape == (2, 128 * 1920) and np.isfinite(take.audio).all()
    assert original.dit.transformer.config.hidden_size == 96

    folder = save_dit_diffusers(original.dit, tmp_path / "acestep-v15-xl-turbo-diffusers")
    assert detect_layout(folder) == "diffusers"
    dit = load_dit(folder)
    assert dit.transformer.config.hidden_size == 96 and dit.null_condition_emb.shape[-1] == 64
    # The pipeline's model picker reads config.json (original layout); the loaded diffusers DiT
    # runs through the same pipeline with the same text encoder and VAE.
    diffusers_pipe = GenerationPipeline(replace(original.models, dit=dit), "turbo")
    again = diffusers_pipe(req).takes[0]
    np.testing.assert_allclose(again.latents, take.latents, atol=1e-5)
