"""The audio VAE (diffusers AutoencoderOobleck): 48 kHz stereo <-> 25 Hz x 64 latents.

Facts (upstream_dit.md §1.3, §5): hop 1920 samples per latent frame; no scaling factor or shift;
encode SAMPLES the posterior (mean + (softplus(scale)+1e-4) * randn), it is not the mean; the DiT
works on time-major [B, T, 64]. Tiled encode: 30 s chunks (15 s when the GPU has <= 8 GB), 2 s
overlap, overlap-discard. Tiled decode: 512-frame chunks (env ACESTEP_VAE_DECODE_CHUNK_SIZE
overrides; MPS 32), 64-frame overlap (MPS 8; ours on the CPU: 16, see CPU_DECODE_OVERLAP), one
batch item at a time; halve the overlap (floor 4) while chunk - 2*overlap <= 0. After decode:
NaN/Inf/all-zero latents are an error; each item whose peak exceeds 1 is divided by its peak
("anti-clip"). On out-of-memory we retry with smaller tiles,
then on the CPU (our addition; upstream has no fallback).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import LegatoError, ValidationError
from engine.runtime.device import empty_cache, is_out_of_memory

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
HOP = 1920  # samples per latent frame (2*4*4*6*10)
ENCODE_CHUNK_S = 30.0
ENCODE_CHUNK_SMALL_GPU_S = 15.0
ENCODE_OVERLAP_S = 2.0
DECODE_CHUNK = 512
DECODE_OVERLAP = 64  # upstream's, kept on GPUs
# CPU: the decoder's receptive field is 8.3 latent frames each side (measured by
# benchmarks/bench_vae.py --parts tiles; the test suite checks it on the tiny VAE, which has the
# same strides and dilations), so 16 frames of overlap already decode exactly like one window,
# and 64 only re-decodes a quarter of every 512-frame tile: 512/16 is 94 % useful work vs 75 %.
# 1024-frame tiles would be 97 % useful and hold twice the memory (at 48 kHz one 128-channel
# activation of a 512-frame tile is 0.5 GB).
CPU_DECODE_CHUNK, CPU_DECODE_OVERLAP = 512, 16
MPS_DECODE_CHUNK, MPS_DECODE_OVERLAP = 32, 8
MIN_DECODE_CHUNK = 16


@dataclass(frozen=True)
class Tiling:
    """Decode tiling in latent frames."""

    chunk: int
    overlap: int

    def normalised(self) -> Tiling:
        overlap = self.overlap
        while self.chunk - 2 * overlap <= 0 and overlap > 4:  # upstream: halve, floor 4
            overlap = max(4, overlap // 2)
        if self.chunk - 2 * overlap <= 0:
            overlap = max(0, (self.chunk - 1) // 2)
        return Tiling(self.chunk, overlap)


def default_decode_tiling(device: torch.device) -> Tiling:
    if device.type == "mps":
        return Tiling(MPS_DECODE_CHUNK, MPS_DECODE_OVERLAP)
    cpu = device.type == "cpu"
    chunk = CPU_DECODE_CHUNK if cpu else DECODE_CHUNK
    env = os.environ.get("ACESTEP_VAE_DECODE_CHUNK_SIZE")
    if env and env.isdigit() and int(env) > 0:
        chunk = min(int(env), chunk)
    return Tiling(chunk, CPU_DECODE_OVERLAP if cpu else DECODE_OVERLAP).normalised()


def anti_clip(audio: torch.Tensor) -> torch.Tensor:
    """Per item [B, C, S]: divide by the peak where the peak exceeds 1 (upstream's anti-clip)."""
    peak = audio.abs().amax(dim=(1, 2), keepdim=True)  # [B, 1, 1]
    return torch.where(peak > 1.0, audio / peak.clamp_min(1e-12), audio)


def peak_normalize(audio: torch.Tensor, db: float = -1.0, floor: float = 1e-6) -> torch.Tensor:
    """Per item: scale to `db` dBFS peak (upstream `enable_normalization`); near-silent items untouched."""
    peak = audio.abs().amax(dim=(1, 2), keepdim=True)
    gain = torch.where(peak >= floor, (10 ** (db / 20.0)) / peak.clamp_min(floor), torch.ones_like(peak))
    return audio * gain


class AudioVAE:
    """Wraps a diffusers AutoencoderOobleck with upstream's tiling, checks and OOM fallbacks."""

    def __init__(self, model, fast: bool = True):
        """`fast`: fold weight norm and swap in frozen Snakes once (models/vae_speed.py); the
        model is frozen (requires_grad False) either way, as every inference weight must be."""
        if fast:
            from engine.models.vae_speed import prepare_for_inference

            model = prepare_for_inference(model)
        self.model = model.eval().requires_grad_(False)
        # Window lengths (latent frames) decoded so far: the preflight charges a length's
        # first-time extra (oneDNN primitives per shape, ~1x a tiny tile's warm cost) only once.
        self.window_lengths_seen: set[int] = set()

    @classmethod
    def load(
        cls, folder: Path, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> AudioVAE:
        """Load `vae/` (config.json + diffusion_pytorch_model.safetensors) offline, strictly."""
        from diffusers import AutoencoderOobleck

        from engine.models.checkpoint_files import load_diffusers_module

        model = load_diffusers_module(AutoencoderOobleck, Path(folder), dtype, what="VAE")
        return cls(model.to(device))

    @property
    def latent_channels(self) -> int:
        """C of the latents [B, T, C] (config `decoder_input_channels`: 64 in the real VAE)."""
        return int(self.model.config.decoder_input_channels)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    # --- encode -------------------------------------------------------------------------------

    @torch.no_grad()
    def encode(
        self,
        audio: torch.Tensor,
        sample: bool = True,
        generator: torch.Generator | None = None,
        chunk_s: float | None = None,
        overlap_s: float = ENCODE_OVERLAP_S,
        on_tile: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """48 kHz stereo audio [B, 2, S] (or [2, S]) -> latents [B, floor(S/1920), 64].

        Args:
            sample: draw from the posterior as upstream does (True), or return its mean.
            generator: RNG for the draw (upstream uses the unseeded global RNG).
            chunk_s: tile length in seconds (default 30 s; 15 s on GPUs with <= 8 GB).
            overlap_s: context added on each side of a tile and discarded (default 2 s).
            on_tile: called before every tile; a job passes its cancel check here, so a cancel
                during a long encode stops within one tile (it raises `Cancelled`).
        """
        if audio.ndim == 2:
            audio = audio.unsqueeze(0)
        if audio.ndim != 3 or audio.shape[1] != 2:
            raise ValidationError(f"VAE input must be stereo [B, 2, samples], got {tuple(audio.shape)}")
        chunk = int(round((chunk_s or self._encode_chunk_s()) * SAMPLE_RATE))
        overlap = int(round(overlap_s * SAMPLE_RATE))
        if chunk - 2 * overlap <= 0:
            raise ValidationError(f"VAE encode tile ({chunk_s} s) must be longer than twice the overlap")
        x = audio.to(self.device, self.dtype)
        if x.shape[-1] <= chunk:
            if on_tile is not None:
                on_tile()
            latents = self._encode_window(x, sample, generator)
        else:
            latents = self._encode_tiled(x, chunk, overlap, sample, generator, on_tile)
        return latents.transpose(1, 2).float()  # [B, 64, T] -> [B, T, 64]

    def _encode_chunk_s(self) -> float:
        from engine.runtime.memory_tier import accelerator_memory_gb

        vram = accelerator_memory_gb(self.device)
        return ENCODE_CHUNK_SMALL_GPU_S if vram is not None and vram <= 8 else ENCODE_CHUNK_S

    def _encode_window(self, x: torch.Tensor, sample: bool, generator) -> torch.Tensor:
        dist = self.model.encode(x).latent_dist
        return dist.sample(generator=generator) if sample else dist.mean  # [B, 64, frames]

    def _encode_tiled(self, x, chunk: int, overlap: int, sample: bool, generator, on_tile=None) -> torch.Tensor:
        total = x.shape[-1]
        stride = chunk - 2 * overlap
        pieces = []
        for core in range(0, total, stride):
            if on_tile is not None:
                on_tile()
            core_end = min(core + stride, total)
            start, end = max(0, core - overlap), min(total, core_end + overlap)
            z = self._encode_window(x[..., start:end], sample, generator)  # [B, 64, f]
            left = int(round((core - start) / HOP))
            right = int(round((end - core_end) / HOP))
            pieces.append(z[..., left : z.shape[-1] - right])
        return torch.cat(pieces, dim=-1)[..., : total // HOP]

    # --- decode -------------------------------------------------------------------------------

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, tiling: Tiling | None = None,
               on_tile: Callable[[], None] | None = None) -> torch.Tensor:
        """Latents [B, T, 64] -> float32 audio [B, 2, T*1920], anti-clipped per item.

        `on_tile` is called before every decoded tile (a job's cancel check: a cancel during a
        long decode stops within one tile by raising `Cancelled`).

        Raises:
            ValidationError: latents contain NaN/Inf or are all zero (a failed generation).
            LegatoError: memory runs out even with the smallest tiles on the CPU.
        """
        if latents.ndim != 3:
            raise ValidationError(f"latents must be [B, T, 64], got {tuple(latents.shape)}")
        if not torch.isfinite(latents).all():
            raise ValidationError("latents contain NaN or Inf; the generation diverged")
        if not latents.abs().amax() > 0:
            raise ValidationError("latents are all zero; nothing to decode")
        tiling = (tiling or default_decode_tiling(self.device)).normalised()
        items = [self._decode_item_with_fallback(latents[i : i + 1], tiling, on_tile)
                 for i in range(latents.shape[0])]
        return anti_clip(torch.cat(items, dim=0))

    def _decode_item_with_fallback(self, z: torch.Tensor, tiling: Tiling, on_tile=None) -> torch.Tensor:
        while True:
            try:
                return self._decode_tiled(z, tiling, on_tile).float().cpu()
            except Exception as exc:  # noqa: BLE001 - only OOM is handled, others re-raised
                if not is_out_of_memory(exc):
                    raise
                empty_cache(self.device)
                if tiling.chunk > MIN_DECODE_CHUNK:
                    tiling = Tiling(max(MIN_DECODE_CHUNK, tiling.chunk // 2), tiling.overlap).normalised()
                    log.warning("VAE decode ran out of memory; retrying with %d-frame tiles", tiling.chunk)
                    continue
                if self.device.type != "cpu":
                    log.warning("VAE decode ran out of memory on %s; falling back to the CPU", self.device)
                    self.model = self.model.to("cpu", torch.float32)
                    continue
                raise LegatoError(
                    "out of memory while decoding audio, even in small tiles on the CPU; "
                    "try a shorter duration or close other applications"
                ) from exc

    def _decode_window(self, z: torch.Tensor) -> torch.Tensor:
        """[1, T, 64] -> [1, 2, T*1920] in the VAE dtype."""
        self.window_lengths_seen.add(z.shape[1])
        return self.model.decode(z.transpose(1, 2).to(self.device, self.dtype)).sample

    def _decode_tiled(self, z: torch.Tensor, tiling: Tiling, on_tile=None) -> torch.Tensor:
        frames = z.shape[1]
        if frames <= tiling.chunk:
            if on_tile is not None:
                on_tile()
            return self._decode_window(z)
        stride = tiling.chunk - 2 * tiling.overlap
        pieces = []
        for core in range(0, frames, stride):
            if on_tile is not None:
                on_tile()
            core_end = min(core + stride, frames)
            start, end = max(0, core - tiling.overlap), min(frames, core_end + tiling.overlap)
            wav = self._decode_window(z[:, start:end])  # [1, 2, (end-start)*1920]
            left = (core - start) * HOP
            pieces.append(wav[..., left : left + (core_end - core) * HOP])
        return torch.cat(pieces, dim=-1)  # [1, 2, frames*1920]
