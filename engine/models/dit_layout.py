"""Keep the decoder's residual stream token-major in memory (one copy per forward, not per layer).

diffusers' decoder patchifies with `proj_in_conv(x.transpose(1, 2)).transpose(1, 2)`: the conv
returns [B, H, T'] and the transpose makes a [B, T', H] VIEW whose memory is still channel-major
(strides (H*T', 1, T')). Every elementwise op keeps its input's layout, so the whole residual
stream through all 24 layers stays channel-major; `F.linear` then cannot fold [B, T', H] into one
matrix and runs as a batched matmul on a transposed operand, and norms/AdaLN read across strides.

The hook below hands the conv's output back with token-major memory (same shape and values, so
`.transpose(1, 2)` in diffusers gives a contiguous [B, T', H]). Our own code because diffusers has
no option for it; values are bit-identical, only summation order inside later matmuls may change
(~1e-7 relative; the conformance kit's tolerances are 5e-5 absolute).
"""

from __future__ import annotations

import torch


def _token_major(module: torch.nn.Module, args, out: torch.Tensor) -> torch.Tensor:
    # [B, H, T'] channel-major -> the same [B, H, T'] tensor stored as [B, T', H]
    return out.transpose(1, 2).contiguous().transpose(1, 2)


def install_token_major_stream(transformer) -> torch.utils.hooks.RemovableHandle:
    """Make the decoder's hidden states contiguous from the patchify conv on. Returns the hook
    handle (`.remove()` restores the stock layout, for benchmarks)."""
    return transformer.proj_in_conv.register_forward_hook(_token_major)
