"""`AceStepDiT`: the ACE-Step 1.5 generation model as one object with a small per-step API.

Built on diffusers' modules (AceStepTransformer1DModel, AceStepConditionEncoder,
AceStepAudioTokenizer, AceStepAudioTokenDetokenizer). The sampler (engine/sampling, engine/tasks)
calls, per generation:

    dit = load_dit(folder)                                  # engine.models.dit_loader
    cond = dit.encode_conditions(text_states, text_mask, lyric_embeds, lyric_mask,
                                 refer_latents_packed, refer_order)    # once per condition
    v = dit.denoise(x_t, t, r, context_latents, cond.encoder_hidden_states,
                    cond.encoder_attention_mask)            # once per diffusion step -> velocity
    uncond_states = dit.null_condition(cond.encoder_hidden_states)   # CFG branch (§4.3)
    codes = dit.tokenize(latents_25hz, mask).codes          # audio -> 5 Hz codes
    hints = dit.detokenize(codes).latents_25hz              # codes -> 25 Hz latents
    silence = dit.silence_frames(n)                         # [1, n, 64], tiled as upstream

Shapes: B batch, T latent frames at 25 Hz, C latent channels (64 in the real models; `latent_channels`), H hidden, L condition length.
Upstream quirks reproduced (kit MANIFEST "Conventions"; upstream_dit.md §2.6): the decoder ignores
the encoder attention mask; the timbre encoder takes position 0 of each reference clip (its
`special_token` is unused); encoders run `layers[:num_hidden_layers]`; RMSNorm in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.models.acestep_config import AceStepConfig


@dataclass(frozen=True)
class Conditions:
    """Output of `AceStepDiT.encode_conditions` (the cond_encoder case semantics)."""

    encoder_hidden_states: torch.Tensor  # [B, L, He] packed: valid rows first
    encoder_attention_mask: torch.Tensor  # [B, L] int64 (1 = valid)
    text_projected: torch.Tensor  # [B, Lt, He]
    lyric_encoded: torch.Tensor  # [B, Ll, He] (padded rows computed too)
    timbre_embeddings: torch.Tensor  # [B, max_refs, He]
    timbre_mask: torch.Tensor  # [B, max_refs] int64


@dataclass(frozen=True)
class TokenizerOutput:
    """Output of `AceStepDiT.tokenize` (the audio_tokenizer case semantics)."""

    codes: torch.Tensor  # [B, T5, num_quantizers] int64 in [0, 64000)
    quantized_5hz: torch.Tensor  # [B, T5, He]
    mask_5hz: torch.Tensor  # [B, T5] float (max-pooled validity)
    pooled_5hz: torch.Tensor  # [B, T5, He] attention-pooler output
    fsq_input: torch.Tensor  # [B, T5, n_levels] value entering rounding (after soft clamp)


@dataclass(frozen=True)
class DetokenizerOutput:
    """Output of `AceStepDiT.detokenize` (the audio_detokenizer case semantics)."""

    latents_25hz: torch.Tensor  # [B, 5*T5, 64]
    quantized_5hz: torch.Tensor  # [B, T5, He]


@dataclass(frozen=True)
class TimeConditioning:
    """The decoder's summed timestep embeddings E_t(t) + E_r(t - r)."""

    temb: torch.Tensor  # [B, H]
    timestep_proj: torch.Tensor  # [B, 6, H]


def apply_layer_types(module: torch.nn.Module, layer_types: list[str], sliding_window: int) -> None:
    """Make an encoder stack pick sliding/full attention by `layer_types[i]`, as upstream does.

    diffusers' AceStepConditionEncoder does not forward `layer_types` to its timbre encoder (it
    falls back to the alternating default). Upstream indexes the config's shared list for every
    encoder (upstream_dit.md §2.1), so we set it explicitly; identical for stock configs.
    """
    layer_types = list(layer_types[: len(module.layers)])
    module._layer_types = layer_types
    for layer, kind in zip(module.layers, layer_types, strict=True):
        layer.self_attn.sliding_window = sliding_window if kind == "sliding_attention" else None


class AceStepDiT(torch.nn.Module):
    """The DiT decoder, condition encoder, audio tokenizer/detokenizer, null embedding and silence.

    Args:
        config: the checkpoint's config.
        transformer: diffusers AceStepTransformer1DModel (the decoder).
        condition_encoder: diffusers AceStepConditionEncoder (holds `null_condition_emb`).
        audio_tokenizer: diffusers AceStepAudioTokenizer, or None if the checkpoint lacks it.
        audio_token_detokenizer: diffusers AceStepAudioTokenDetokenizer, or None.
        silence_latent: [1, Ls, 64] time-major silence latent (VAE-encoded digital silence).
    """

    def __init__(
        self,
        config: AceStepConfig,
        transformer,
        condition_encoder,
        audio_tokenizer,
        audio_token_detokenizer,
        silence_latent: torch.Tensor,
    ):
        super().__init__()
        self.config = config
        self.transformer = transformer
        self.condition_encoder = condition_encoder
        self.audio_tokenizer = audio_tokenizer
        self.audio_token_detokenizer = audio_token_detokenizer
        # Kept outside condition_encoder's fixed-size buffer so any length works; tiled on demand.
        self.register_buffer("silence_latent", silence_latent, persistent=False)  # [1, Ls, 64]
        apply_layer_types(condition_encoder.timbre_encoder, list(config.layer_types), config.sliding_window)
        # Inference weights are frozen wherever a model is built (the loader and benchmarks alike):
        # with requires_grad True, bf16 linears take a slower path on this CPU (issue 17).
        # LoRA training adds its own trainable adapter parameters afterwards.
        self.requires_grad_(False)
        from engine.models.dit_cross_cache import install_cross_attention_cache

        self.cross_cache = install_cross_attention_cache(transformer)
        from engine.models.dit_layout import install_token_major_stream

        self.token_major_hook = install_token_major_stream(transformer)  # models/dit_layout.py
        # (rows, latent frames) this model has denoised: a shape met before costs no oneDNN
        # primitive building again, which the preflight's cost model needs to know.
        self.shapes_seen: set[tuple[int, int]] = set()

    def cross_attention_scope(self):
        """Within the block, cross-attention K/V are computed once per condition tensor and
        reused at every step (models/dit_cross_cache.py); released on exit."""
        return self.cross_cache.scope()

    # --- properties ---------------------------------------------------------------------------

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.proj_in_conv.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.transformer.proj_in_conv.weight.device

    @property
    def is_turbo(self) -> bool:
        return self.config.is_turbo

    @property
    def latent_channels(self) -> int:
        """C: the VAE latent channels this DiT reads and writes (config `audio_acoustic_hidden_dim`;
        64 for every released model, fewer in our tiny test checkpoints)."""
        return self.config.audio_acoustic_hidden_dim

    @property
    def null_condition_emb(self) -> torch.Tensor:
        return self.condition_encoder.null_condition_emb  # [1, 1, He]

    # --- conditioning -------------------------------------------------------------------------

    @torch.no_grad()
    def encode_conditions(
        self,
        text_hidden_states,
        text_attention_mask,
        lyric_hidden_states,
        lyric_attention_mask,
        refer_audio_acoustic_hidden_states_packed,
        refer_audio_order_mask,
    ) -> Conditions:
        """Encode caption states, lyric embeddings and reference latents into packed condition rows.

        Args:
            text_hidden_states: [B, Lt, text_hidden_dim] Qwen3-Embedding last_hidden_state.
            text_attention_mask: [B, Lt] 1 = valid.
            lyric_hidden_states: [B, Ll, text_hidden_dim] Qwen3 INPUT embeddings of lyric ids.
            lyric_attention_mask: [B, Ll] 1 = valid.
            refer_audio_acoustic_hidden_states_packed: [N, Tr, 64] reference latents, one row per clip.
            refer_audio_order_mask: [N] batch index of each reference row.
        """
        from diffusers.pipelines.ace_step.modeling_ace_step import _pack_sequences

        enc = self.condition_encoder
        dev, dt = self.device, self.dtype
        text_mask = text_attention_mask.to(dev).long()
        lyric_mask = lyric_attention_mask.to(dev).long()
        text_projected = enc.text_projector(text_hidden_states.to(dev, dt))  # [B, Lt, He]
        lyric_encoded = enc.lyric_encoder(
            inputs_embeds=lyric_hidden_states.to(dev, dt), attention_mask=lyric_mask
        )  # [B, Ll, He]
        timbre, timbre_mask = enc.timbre_encoder(  # [B, R, He], [B, R]
            refer_audio_acoustic_hidden_states_packed.to(dev, dt), refer_audio_order_mask.to(dev).long()
        )
        # Stable sort puts valid rows first: [lyric..., timbre..., text...] then the padding.
        packed, packed_mask = _pack_sequences(lyric_encoded, timbre, lyric_mask, timbre_mask.long())
        packed, packed_mask = _pack_sequences(packed, text_projected, packed_mask.long(), text_mask)
        return Conditions(
            encoder_hidden_states=packed,
            encoder_attention_mask=packed_mask.long(),
            text_projected=text_projected,
            lyric_encoded=lyric_encoded,
            timbre_embeddings=timbre,
            timbre_mask=timbre_mask.long(),
        )

    def null_condition(self, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        """CFG's unconditional states: `null_condition_emb` broadcast to the full [B, L, He] (§4.3)."""
        return self.null_condition_emb.to(encoder_hidden_states.dtype).expand_as(encoder_hidden_states)

    # --- denoiser -----------------------------------------------------------------------------

    def _as_timesteps(self, t, batch: int) -> torch.Tensor:
        t = torch.as_tensor(t, device=self.device)
        if t.ndim == 0:
            t = t.expand(batch)
        # Upstream passes t in the MODEL dtype (bf16 on GPU), so 1000*t is rounded there too (§2.5).
        return t.to(self.dtype)

    @torch.no_grad()
    def time_conditioning(self, t, r) -> TimeConditioning:
        """E_t(t) + E_r(t - r); at inference r = t, and E_r(0) must still be added (§2.5)."""
        tt = self._as_timesteps(t, 1)
        rr = self._as_timesteps(r, tt.shape[0])
        temb_t, proj_t = self.transformer.time_embed(tt)
        temb_r, proj_r = self.transformer.time_embed_r(tt - rr)
        return TimeConditioning(temb=temb_t + temb_r, timestep_proj=proj_t + proj_r)

    @torch.no_grad()
    def denoise(
        self,
        x_t: torch.Tensor,
        t,
        r,
        context_latents: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One DiT evaluation: the flow velocity v ~ noise - x0.

        Args:
            x_t: [B, T, 64] noisy latents.
            t: flow time(s), scalar or [B]; t=1 is noise.
            r: mean-flow second time, scalar or [B]; generation passes r = t.
            context_latents: [B, T, 128] = concat(src_latents, chunk_mask) on channels.
            encoder_hidden_states: [B, L, He] packed conditions (or `null_condition(...)`).
            encoder_attention_mask: accepted for API symmetry and IGNORED, as upstream's decoder
                overwrites it with None (upstream_dit.md §2.6): cross-attention sees every row.

        Returns:
            [B, T, 64] velocity in the model dtype.
        """
        del encoder_attention_mask  # upstream quirk, see docstring
        batch = x_t.shape[0]
        self.shapes_seen.add((batch, x_t.shape[1]))
        out = self.transformer(
            hidden_states=x_t.to(self.device, self.dtype),
            timestep=self._as_timesteps(t, batch),
            timestep_r=self._as_timesteps(r, batch),
            encoder_hidden_states=encoder_hidden_states.to(self.device, self.dtype),
            context_latents=context_latents.to(self.device, self.dtype),
            return_dict=False,
        )
        return out[0]

    # --- silence ------------------------------------------------------------------------------

    def silence_frames(self, n: int, start: int = 0) -> torch.Tensor:
        """Frames [start, start+n) of the silence latent, tiled along time when longer (§1.1): [1, n, 64]."""
        sil = self.silence_latent
        need = start + n
        if need > sil.shape[1]:
            sil = sil.repeat(1, -(-need // sil.shape[1]), 1)
        return sil[:, start:need, :]

    # --- tokenizer / detokenizer --------------------------------------------------------------

    def _require(self, module, name: str):
        if module is None:
            from engine.errors import CheckpointError

            raise CheckpointError(f"this checkpoint has no {name}; audio codes need it")
        return module

    @torch.no_grad()
    def tokenize(
        self, latents_25hz: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> TokenizerOutput:
        """25 Hz latents -> 5 Hz FSQ codes (upstream `tokenize`, upstream_dit.md §2.3).

        T is padded up to a multiple of pool_window_size with the FIRST frames of the silence latent.

        Args:
            latents_25hz: [B, T, 64].
            attention_mask: [B, T] validity (1/0); all ones if None. Max-pooled per window.
        """
        tok = self._require(self.audio_tokenizer, "audio tokenizer")
        window = self.config.pool_window_size
        x = latents_25hz.to(self.device, self.dtype)
        batch, frames, channels = x.shape
        mask = (
            torch.ones(batch, frames, device=self.device)
            if attention_mask is None
            else attention_mask.to(self.device).float()
        )
        pad = (-frames) % window
        if pad:
            silence = self.silence_frames(pad).to(self.device, self.dtype).expand(batch, -1, -1)
            x = torch.cat([x, silence], dim=1)
            mask = F.pad(mask, (0, pad), value=0.0)
        groups = x.shape[1] // window
        x = x.reshape(batch, groups, window, channels)  # [B, T5, 5, 64]
        mask_5hz = mask.reshape(batch, groups, window).amax(dim=-1)  # [B, T5]
        pooled = tok.attention_pooler(tok.audio_acoustic_proj(x))  # [B, T5, He]
        quantized, codes = tok.quantizer(pooled)  # [B, T5, He], [B, T5, Q]
        return TokenizerOutput(
            codes=codes.long(),
            quantized_5hz=quantized.to(self.dtype),
            mask_5hz=mask_5hz,
            pooled_5hz=pooled,
            fsq_input=fsq_soft_clamped_input(tok.quantizer, pooled),
        )

    @torch.no_grad()
    def codes_to_quantized(self, codes: torch.Tensor) -> torch.Tensor:
        """[B, T5] or [B, T5, Q] int codes -> [B, T5, He] FSQ output (project_out, fp32 inside)."""
        tok = self._require(self.audio_tokenizer, "audio tokenizer")
        codes = codes.to(self.device).long()
        if codes.ndim == 2:
            codes = codes.unsqueeze(-1)
        size = tok.quantizer.codebook_size
        # Upstream clamps out-of-range LM codes into [0, size-1] (upstream_dit.md §2.3).
        codes = codes.clamp(0, size - 1)
        return tok.quantizer.get_output_from_indices(codes).to(self.dtype)

    @torch.no_grad()
    def detokenize(self, codes: torch.Tensor) -> DetokenizerOutput:
        """5 Hz codes -> 25 Hz latents ("LM hints"), [B, 5*T5, 64]; callers crop/pad to T (§2.4)."""
        detok = self._require(self.audio_token_detokenizer, "audio detokenizer")
        quantized = self.codes_to_quantized(codes)  # [B, T5, He]
        return DetokenizerOutput(latents_25hz=detok(quantized), quantized_5hz=quantized)

    @torch.no_grad()
    def quantized_to_latents(self, quantized_5hz: torch.Tensor) -> torch.Tensor:
        """FSQ output [B, T5, He] -> detokenized 25 Hz latents [B, 5*T5, 64] (the cover FSQ roundtrip)."""
        detok = self._require(self.audio_token_detokenizer, "audio detokenizer")
        return detok(quantized_5hz.to(self.device, self.dtype))


def fsq_soft_clamped_input(quantizer, pooled: torch.Tensor) -> torch.Tensor:
    """The value entering FSQ rounding: project_in (fp32) then z = tanh(z/c)*c, c = 1 + 1/(L-1).

    Mirrors diffusers' `_AceStepResidualFSQ.forward` prefix (vector-quantize-pytorch >= 1.27 FSQ);
    exposed for conformance diagnostics and for the FSQ rounding-margin check.
    """
    z = F.linear(
        pooled.float(),
        quantizer.project_in.weight.float(),
        None if quantizer.project_in.bias is None else quantizer.project_in.bias.float(),
    )
    levels = quantizer._levels.to(device=z.device, dtype=z.dtype)
    clamp = 1.0 + 1.0 / (levels - 1.0)
    return (z / clamp).tanh() * clamp  # [B, T5, n_levels]
