"""Few-row CPU matmuls for the planner LM's decode: `weight @ x.T` instead of `x @ weight.T`.

    install_skinny_linears(lm.model)   # in place; PlannerLM.from_components does it

Why: while decoding, every Linear of the LM sees one row per sequence: 1 without LM CFG, 2 with
it (cond + uncond batched, generate_rows), 4 for two thinking items with CFG. For 2-4 rows the
CPU GEMM behind `F.linear` is far from its 1-row (GEMV) speed: measured on this 2-core AVX2 box,
fp32, 2 threads, the 0.6B planner's tied LM head (1024 -> 217204) took 95 ms for 1 row but 228 ms
for 2, and a 1.7B MLP projection (2048 -> 6144) 4.8 ms for 1 row, 10.1 ms for 2 and 19.8 ms for
4. The same product written as `torch.mm(weight, x.T)` (an [out, in] x [in, M] GEMM that streams
the weight once) took 91 ms / 5.7 ms / 5.8 ms: decode is bound by reading the weights, and this
form reads them once for all rows. The result is the same product up to float summation order.

Only plain float32 CPU weights of at least SKINNY_MIN_WEIGHT elements and SKINNY_MIN_IN_FEATURES
inputs take it (the tiny test LMs' layers are per-op-overhead bound and stay as they are), and
only inputs of SKINNY_MIN_ROWS..SKINNY_MAX_ROWS rows (one row is already a GEMV; prefill and
teacher forcing are real GEMMs and keep `F.linear`). A Linear quantised later (torchao swaps its
weight for a tensor subclass; int8-dynamic replaces the module) falls back to its own forward.
The module stays an `nn.Linear` (its forward is overridden on the instance), so quantisers and
state-dict keys see nothing different.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F

# One row is a GEMV, already at the weight-streaming rate: the 1.7B planner decoded 1.3 tokens/s
# stock and 1.2 this way (0.6B: 2.6 vs 2.7), so one row keeps F.linear.
SKINNY_MIN_ROWS = 2
SKINNY_MAX_ROWS = 8
SKINNY_MIN_WEIGHT = 1 << 20  # elements (4 MB in fp32)
# Inputs this wide at least: a real planner's are 1024-6144. The tiny test LMs' LM head (16 -> 66k
# or 217k) is large but overhead-bound, and keeping it on F.linear keeps their decoded tokens
# exactly as the cache-mode tests pinned them (dynamic and static caches already differ by ~1e-7
# in the hidden states, so any change of summation order can flip a sampled token there).
SKINNY_MIN_IN_FEATURES = 256


def _skinny_forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    weight = self.weight
    rows = x.numel() // max(1, x.shape[-1])
    if (not SKINNY_MIN_ROWS <= rows <= SKINNY_MAX_ROWS or weight.device.type != "cpu"
            or weight.dtype != torch.float32 or type(weight) is not torch.nn.Parameter
            or x.dtype != torch.float32):
        return F.linear(x, weight, self.bias)
    flat = x.reshape(rows, x.shape[-1]).contiguous()  # [M, in]: one layout whatever the caller sliced
    out = torch.mm(weight, flat.t()).t()  # [out, in] @ [in, M] -> [M, out] (a transposed view)
    if self.bias is not None:
        out = out + self.bias
    return out.contiguous().reshape(*x.shape[:-1], weight.shape[0])  # [..., out]


def install_skinny_linears(model: torch.nn.Module) -> int:
    """Give every large float32 CPU Linear of `model` the few-row forward; -> how many."""
    count = 0
    for module in model.modules():
        if (type(module) is torch.nn.Linear and module.weight.numel() >= SKINNY_MIN_WEIGHT
                and module.in_features >= SKINNY_MIN_IN_FEATURES):
            module.forward = types.MethodType(_skinny_forward, module)
            count += 1
    return count
