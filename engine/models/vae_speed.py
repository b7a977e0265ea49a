"""Inference-time speed-ups for diffusers' AutoencoderOobleck, applied once at load.

Why our own code here: diffusers builds the Oobleck VAE for training. Its convolutions carry
torch's (old-style) weight norm, so every forward recomputes `g * v / ||v||` for all 100+ convs,
and its `Snake1d` recomputes `exp(alpha)`, `exp(beta)` and a reciprocal every call and then makes
four full-size temporaries (`alpha*x`, `sin`, `pow`, the product) - at 48 kHz with 128 channels
that is ~0.5 GB per temporary for a 20 s clip. Neither is needed when the weights are frozen:

- `fold_weight_norm`: torch's own `remove_weight_norm` / `remove_parametrizations` (bit-for-bit
  the weight the hook would compute), once.
- `FrozenSnake1d`: the same function `x + 1/(exp(beta)+1e-9) * sin(exp(alpha) * x)^2` with the
  two per-channel factors computed once and one temporary updated in place (~2x faster on this
  CPU, max abs difference ~5e-7 from float rounding order). It keeps the `alpha`/`beta`
  parameters under their names, so state_dict keys stay diffusers' own. Large CPU tensors go
  through one compiled, fused kernel instead (models/snake_kernel.py, ~2x again).
- channels-last convolutions (models/vae_layout.py): oneDNN without a layout reorder around
  every conv (~1.6x on the convs).

Not done, measured (benchmarks/bench_vae.py --parts int8): INT8 convs. This CPU (AMD EPYC Zen 3)
has AVX2 but neither VNNI nor AVX-512; torch's x86 quantized conv is 1.3-1.5x SLOWER than our fp32
conv at the 128-channel 48 kHz stage (where most of the time is) once the per-call activation
quantize/dequantize passes are paid, 1.5x faster only at 512 channels, and one layer alone costs
~34 dB SNR. torchao's dynamic int8 targets nn.Linear, which the VAE has none of.

The result stays within float tolerance of the stock decode (tests/engine/test_vae_speed.py).
"""

from __future__ import annotations

import torch
from torch import nn

# Below this size a Snake is cache-resident and cheap; compiling the fused kernel (seconds, once
# per process) would not pay, so small models (the tiny checkpoints, tests) never compile it.
FUSED_MIN_ELEMENTS = 1 << 23


class FrozenSnake1d(nn.Module):
    """Snake activation with frozen, precomputed per-channel factors. [B, C, T] -> [B, C, T]."""

    def __init__(self, alpha: torch.Tensor, beta: torch.Tensor, logscale: bool = True,
                 fused: bool = False):
        super().__init__()
        self.fused = fused  # use the compiled one-pass kernel on the CPU (models/snake_kernel.py)
        self.alpha = nn.Parameter(alpha.detach().clone(), requires_grad=False)  # [1, C, 1]
        self.beta = nn.Parameter(beta.detach().clone(), requires_grad=False)  # [1, C, 1]
        self.logscale = logscale
        self.register_buffer("_scale", torch.empty(0), persistent=False)
        self.register_buffer("_inv_beta", torch.empty(0), persistent=False)
        self.refresh()

    def refresh(self) -> None:
        """Recompute the cached factors (after a dtype/device move or a weight change)."""
        with torch.no_grad():
            a = self.alpha.exp() if self.logscale else self.alpha
            b = self.beta.exp() if self.logscale else self.beta
            self._scale = a.clone()
            self._inv_beta = (b + 1e-9).reciprocal()

    def _apply(self, fn, recurse=True):  # .to()/.float()/.cuda() keep the caches in step
        out = super()._apply(fn, recurse)
        self.refresh()
        return out

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        x = hidden_states  # [B, C, T], or [B, C, 1, T] channels-last (models/vae_layout.py)
        scale, inv_beta = self._scale, self._inv_beta  # [1, C, 1]
        if x.ndim == 4:
            scale, inv_beta = scale.unsqueeze(-1), inv_beta.unsqueeze(-1)  # [1, C, 1, 1]
        if self.fused and x.numel() >= FUSED_MIN_ELEMENTS:
            from engine.models.snake_kernel import fused_snake

            out = fused_snake(x, scale, inv_beta)
            if out is not None:
                return out
        t = x * scale  # the one temporary (keeps x's memory format)
        t.sin_()
        t.mul_(t)
        return torch.addcmul(x, t, inv_beta)


def fold_weight_norm(model: nn.Module) -> int:
    """Replace every weight-normed conv's (g, v) by the plain weight it computes. Returns the count."""
    from torch.nn.utils import parametrize, remove_weight_norm

    folded = 0
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
            folded += 1
            continue
        hooks = [h for h in module._forward_pre_hooks.values() if type(h).__name__ == "WeightNorm"]
        if hooks:
            remove_weight_norm(module)
            folded += 1
    return folded


def replace_snakes(model: nn.Module, fused: bool = False) -> int:
    """Swap every diffusers Snake1d for a FrozenSnake1d with the same weights. Returns the count."""
    from diffusers.models.autoencoders.autoencoder_oobleck import Snake1d

    swaps = [(parent, name, child) for parent in model.modules()
             for name, child in parent.named_children() if type(child) is Snake1d]
    for parent, name, child in swaps:
        fast = FrozenSnake1d(child.alpha, child.beta, child.logscale, fused).to(child.alpha.device)
        setattr(parent, name, fast)
    return len(swaps)


def prepare_for_inference(model: nn.Module, channels_last: bool = True, fused_snake: bool = True) -> nn.Module:
    """Freeze, fold weight norm and swap the Snakes of an Oobleck VAE, in place; returns it.

    `channels_last`: run the convs as channels-last conv2d (models/vae_layout.py).
    `fused_snake`: large CPU Snakes use the compiled one-pass kernel (models/snake_kernel.py).
    """
    from engine.models.vae_layout import use_channels_last

    fold_weight_norm(model)
    replace_snakes(model, fused=fused_snake)
    if channels_last:
        use_channels_last(model)
    return model.eval().requires_grad_(False)
