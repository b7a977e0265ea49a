"""Cross-attention maps out of diffusers' ACE-Step decoder, without forking the model.

diffusers' `AceStepAttention` delegates its work to a swappable *processor* (its
`set_processor` API). `CrossAttentionCapture` swaps the cross-attention processor of the layers
we need for a recording one that (1) runs the ORIGINAL processor, so the layer's output is
bit-identical, and (2) recomputes softmax(q·kᵀ·scale) for the selected heads in float32 from
the module's own projections and Q/K norms. After the deepest layer needed it raises a private
signal that ends the forward early (upstream exits early too, §5.2: later layers are not used).
The original processors are put back on exit, also after an error.

    with CrossAttentionCapture(dit.transformer, {2: (6,), 3: (10, 11)}) as capture:
        capture.run(lambda: dit.denoise(x, t, t, ctx, states))
    capture.maps[3]   # [B, 2, frames, keys] float32 (frames = patched decoder positions)

Why recompute instead of asking for attention weights: diffusers' processor dispatches to
SDPA/flash backends that never materialise the probabilities (and the model has no
`output_attentions`); the extra q/k matmul for 5 of 24 layers is small next to the pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch


class _StopDecoder(Exception):
    """Raised inside the deepest recorded layer: the rest of the decoder is not needed."""


class _RecordingProcessor:
    """Wraps a cross-attention processor: same output, plus the probabilities of some heads."""

    def __init__(self, original: Any, heads: tuple[int, ...], store: dict[int, torch.Tensor], layer: int,
                 stop_after: bool):
        self.original = original
        self.heads = heads
        self.store = store
        self.layer = layer
        self.stop_after = stop_after

    # The same parameter names as diffusers' processor: AceStepAttention.forward filters the
    # keyword arguments it passes by this signature.
    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                 image_rotary_emb=None):
        out = self.original(attn, hidden_states, encoder_hidden_states=encoder_hidden_states,
                            attention_mask=attention_mask, image_rotary_emb=image_rotary_emb)
        keys_in = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        q = attn.norm_q(attn.to_q(hidden_states).unflatten(-1, (attn.heads, attn.head_dim)))  # [B, Q, H, D]
        k = attn.norm_k(attn.to_k(keys_in).unflatten(-1, (attn.kv_heads, attn.head_dim)))  # [B, K, Hkv, D]
        group = attn.heads // attn.kv_heads  # GQA: query head h reads key head h // group
        index = torch.tensor(self.heads, device=q.device)
        q_sel = q.index_select(2, index).float()  # [B, Q, h, D]
        k_sel = k.index_select(2, index // group).float()  # [B, K, h, D]
        scores = torch.einsum("bqhd,bkhd->bhqk", q_sel, k_sel) * attn.scaling  # [B, h, Q, K]
        self.store[self.layer] = scores.softmax(dim=-1)
        if self.stop_after:
            raise _StopDecoder
        return out


class CrossAttentionCapture:
    """Record cross-attention probabilities of `heads` ({layer index: head indices}).

    Args:
        transformer: diffusers AceStepTransformer1DModel (`.layers[i].cross_attn`).
        heads: which heads of which layers; every index must exist in the model.
        early_exit: stop the decoder after the deepest recorded layer (the output is then
            unusable, only the maps count).
    """

    def __init__(self, transformer, heads: Mapping[int, tuple[int, ...]], early_exit: bool = True):
        layers = transformer.layers
        for layer, head_ids in heads.items():
            if not 0 <= layer < len(layers):
                raise ValueError(f"layer {layer} is not in a decoder of {len(layers)} layers")
            n_heads = layers[layer].cross_attn.heads
            if not head_ids or any(not 0 <= h < n_heads for h in head_ids):
                raise ValueError(f"heads {head_ids} are not all in layer {layer} (it has {n_heads})")
        self.transformer = transformer
        self.heads = {int(k): tuple(int(h) for h in v) for k, v in sorted(heads.items())}
        self.early_exit = early_exit
        self.maps: dict[int, torch.Tensor] = {}
        self._saved: list[tuple[Any, Any]] = []

    def __enter__(self) -> CrossAttentionCapture:
        deepest = max(self.heads)
        self.maps.clear()
        try:
            for layer, head_ids in self.heads.items():
                attn = self.transformer.layers[layer].cross_attn
                self._saved.append((attn, attn.processor))
                attn.set_processor(_RecordingProcessor(attn.processor, head_ids, self.maps, layer,
                                                       self.early_exit and layer == deepest))
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        while self._saved:
            attn, processor = self._saved.pop()
            attn.set_processor(processor)

    def run(self, forward: Callable[[], Any]) -> dict[int, torch.Tensor]:
        """Call `forward` (a decoder pass); return {layer: [B, heads, frames, keys]}."""
        try:
            forward()
        except _StopDecoder:
            pass
        missing = set(self.heads) - set(self.maps)
        if missing:
            raise RuntimeError(f"the decoder pass never reached cross-attention layers {sorted(missing)}")
        return dict(self.maps)

    def stacked(self) -> torch.Tensor:
        """All recorded heads in layer order, upstream's layout: [B, heads, keys, frames]."""
        return torch.cat([self.maps[layer] for layer in self.heads], dim=1).transpose(-1, -2)
