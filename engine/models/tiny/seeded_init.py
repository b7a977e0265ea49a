"""Seeded, order-independent random values for tiny checkpoints.

Each tensor gets its own generator seeded from (seed, parameter name), so a tensor's values do
not depend on which other tensors exist or in which order they are made: adding a parameter to
one model never changes the others. The value scales follow the conformance kit's MANIFEST
("RMSNorm weights ~1+0.25N, biases ~0.1N, weights ~N/sqrt(fan_in)"), so that every parameter is
non-trivial and a parameter that a loader drops changes the outputs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import torch


def _generator(seed: int, name: str) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}\x00{name}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def _is_norm_weight(name: str) -> bool:
    leaf = name.rsplit(".", 2)
    owner = leaf[-2] if len(leaf) >= 2 else ""
    return name.endswith(".weight") and ("norm" in owner or "layernorm" in owner)


def seeded_tensor(
    name: str,
    shape: tuple[int, ...],
    seed: int,
    *,
    namespace: str = "",
    transposed_conv: bool = False,
    table: bool = False,
) -> torch.Tensor:
    """A float32 tensor of `shape` for parameter `name`, deterministic in (seed, name).

    Args:
        name: the state-dict key; its ending picks the value scale.
        shape: tensor shape.
        seed: the checkpoint seed.
        namespace: mixed into the generator seed so that two models holding a parameter of the
            same name (turbo and base DiTs, say) get different values.
        transposed_conv: the weight is a ConvTranspose1d weight [in, out, k], whose fan-in is
            the input channel count (dim 0), not the product of the trailing dims.
        table: the weight is a token-embedding table [vocab, width]; its rows get unit scale,
            like the unit-scale inputs the DiT's lyric encoder expects.

    Returns:
        The tensor (float32, contiguous).
    """
    noise = torch.randn(shape, generator=_generator(seed, f"{namespace}/{name}"), dtype=torch.float32)
    if _is_norm_weight(name):
        return 1.0 + 0.25 * noise  # RMSNorm gains near 1, but not exactly 1
    if name.endswith(".bias"):
        return 0.1 * noise
    if name.endswith("scale_shift_table"):
        return 0.3 * noise  # AdaLN modulation offsets: moderate so (1 + scale) stays positive-ish
    if len(shape) >= 2 and name.endswith(".weight") and not table:
        fan_in = shape[0] if transposed_conv else math.prod(shape[1:])
        return noise / math.sqrt(fan_in)
    # Learned vectors (special tokens, null condition, embedding tables): unit scale.
    return noise


def seeded_state_dict(
    shapes: Mapping[str, tuple[int, ...]], seed: int, *, namespace: str = ""
) -> dict[str, torch.Tensor]:
    """`seeded_tensor` for every key of `shapes` (ConvTranspose weights named `*proj_out.1.weight`)."""
    return {
        name: seeded_tensor(
            name, shape, seed, namespace=namespace, transposed_conv=name.endswith("proj_out.1.weight")
        )
        for name, shape in shapes.items()
    }
