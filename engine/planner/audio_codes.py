"""Audio -> 5 Hz audio codes, for "understand from audio" and dataset auto-labelling.

Path (upstream_lm_tools.md §1.3): 48 kHz stereo -> VAE encode (25 Hz latents, 64 ch) -> the DiT's
audio tokenizer (pads to a multiple of 5 frames with the silence latent, attention pooling,
FSQ) -> one code per 0.2 s. The model pieces are engine.models' (AceStepDiT.tokenize, AudioVAE).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import CheckpointError, ValidationError
from engine.jobs.context import JobContext
from engine.planner.assist import AssistOptions, AssistResult, understand
from engine.planner.lm import PlannerLM

DIT_FOLDER_FOR_CODES = "acestep-v15-turbo"  # every DiT variant shares the audio tokenizer


def load_code_models(checkpoints: Path | str, device: str = "cpu") -> tuple[Any, Any]:
    """(DiT, VAE) from a checkpoints root: `acestep-v15-turbo/` (or any `acestep-v15-*`) and `vae/`.

    Raises:
        CheckpointError: a folder is missing.
    """
    from engine.models.dit_loader import load_dit
    from engine.models.vae import AudioVAE

    root = Path(checkpoints)
    dit_folder = root / DIT_FOLDER_FOR_CODES
    if not dit_folder.is_dir():
        others = sorted(p for p in root.glob("acestep-v15-*") if p.is_dir()) if root.is_dir() else []
        if not others:
            raise CheckpointError(
                f"no DiT checkpoint (acestep-v15-*) in {root}: audio codes need its tokenizer"
            )
        dit_folder = others[0]
    if not (root / "vae").is_dir():
        raise CheckpointError(f"no vae/ folder in {root}: audio codes need the VAE")
    return load_dit(dit_folder, device=device), AudioVAE.load(root / "vae", device=device)


def audio_to_codes(dit: Any, vae: Any, audio: np.ndarray | torch.Tensor, *, seed: int = 0) -> list[int]:
    """[2, samples] 48 kHz float audio -> codes 0..63999, one per 0.2 s (last window padded).

    The VAE posterior is sampled as upstream does, from a generator seeded with `seed`, so the
    same audio and seed give the same codes.
    """
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32) if not torch.is_tensor(audio) else audio)
    if x.ndim != 2 or x.shape[0] != 2:
        raise ValidationError(f"audio must be stereo [2, samples] at 48 kHz, got shape {tuple(x.shape)}")
    if x.shape[1] < 1920:
        raise ValidationError("audio is shorter than one latent frame (40 ms)")
    gen = torch.Generator(device=vae.device)
    gen.manual_seed(int(seed))
    latents = vae.encode(x.unsqueeze(0), sample=True, generator=gen)  # [1, T, 64]
    codes = dit.tokenize(latents).codes  # [1, T5, 1]
    return [int(c) for c in codes[0, :, 0].tolist()]


def understand_audio(
    lm: PlannerLM,
    dit: Any,
    vae: Any,
    audio: np.ndarray | torch.Tensor,
    *,
    options: AssistOptions | None = None,
    ctx: JobContext | None = None,
) -> tuple[AssistResult, list[int]]:
    """Audio -> codes -> Understand. Returns the LM's reading and the codes it read."""
    seed = options.seed if options is not None else 0
    codes = audio_to_codes(dit, vae, audio, seed=seed)
    return understand(lm, codes, options=options, ctx=ctx), codes
