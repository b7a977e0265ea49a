"""ACE-Step 1.5 DiT checkpoint config (the ORIGINAL `config.json`) and its split into diffusers modules.

Field meanings and real values: upstream_dit.md §1.2. The XL variants build the condition encoder,
tokenizer, detokenizer and null embedding from `encoder_*` sizes while the decoder uses the main
ones (`ace-step/ACE-Step-1.5:acestep/models/xl_turbo/...`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import CheckpointError
from engine.models.config_guard import check_sizes, read_json

__all__ = ["AceStepConfig", "read_json"]  # read_json lives in config_guard; kept importable here

_REQUIRED = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
)


@dataclass(frozen=True)
class AceStepConfig:
    """The fields of an ACE-Step 1.5 DiT `config.json` that shape the modules."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    encoder_hidden_size: int
    encoder_intermediate_size: int
    encoder_num_attention_heads: int
    encoder_num_key_value_heads: int
    in_channels: int = 192
    audio_acoustic_hidden_dim: int = 64
    patch_size: int = 2
    text_hidden_dim: int = 1024
    timbre_hidden_dim: int = 64
    timbre_fix_frame: int = 750
    num_lyric_encoder_hidden_layers: int = 8
    num_timbre_encoder_hidden_layers: int = 4
    num_attention_pooler_hidden_layers: int = 2
    pool_window_size: int = 5
    fsq_dim: int = 2048
    fsq_input_levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5)
    fsq_input_num_quantizers: int = 1
    rope_theta: float = 1_000_000.0
    rms_norm_eps: float = 1e-6
    attention_bias: bool = False
    sliding_window: int = 128
    layer_types: tuple[str, ...] = ()
    is_turbo: bool = False
    model_version: str | None = None
    is_lego_sft: bool = False

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config.json") -> AceStepConfig:
        """Build from a parsed config.json; `source` names the file in error messages."""
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise CheckpointError(f"{source}: missing required field(s) {', '.join(missing)}")
        # Before any size is used: hidden_size=1e9 or num_hidden_layers=100000 must not build.
        check_sizes({k: v for k, v in raw.items() if v is not None}, source)
        try:
            n_layers = int(raw["num_hidden_layers"])
            layer_types = tuple(
                raw.get("layer_types")
                or [
                    # Upstream's default rule: "sliding" when (i+1) is odd (upstream_dit.md §1.2).
                    "sliding_attention" if (i + 1) % 2 else "full_attention"
                    for i in range(n_layers)
                ]
            )
            hidden = int(raw["hidden_size"])
            cfg = cls(
                hidden_size=hidden,
                intermediate_size=int(raw["intermediate_size"]),
                num_hidden_layers=n_layers,
                num_attention_heads=int(raw["num_attention_heads"]),
                num_key_value_heads=int(raw["num_key_value_heads"]),
                head_dim=int(raw["head_dim"]),
                encoder_hidden_size=int(raw.get("encoder_hidden_size") or hidden),
                encoder_intermediate_size=int(
                    raw.get("encoder_intermediate_size") or raw["intermediate_size"]
                ),
                encoder_num_attention_heads=int(
                    raw.get("encoder_num_attention_heads") or raw["num_attention_heads"]
                ),
                encoder_num_key_value_heads=int(
                    raw.get("encoder_num_key_value_heads") or raw["num_key_value_heads"]
                ),
                in_channels=int(raw.get("in_channels", 192)),
                audio_acoustic_hidden_dim=int(raw.get("audio_acoustic_hidden_dim", 64)),
                patch_size=int(raw.get("patch_size", 2)),
                text_hidden_dim=int(raw.get("text_hidden_dim", 1024)),
                timbre_hidden_dim=int(raw.get("timbre_hidden_dim", 64)),
                timbre_fix_frame=int(raw.get("timbre_fix_frame", 750)),
                num_lyric_encoder_hidden_layers=int(raw.get("num_lyric_encoder_hidden_layers", 8)),
                num_timbre_encoder_hidden_layers=int(raw.get("num_timbre_encoder_hidden_layers", 4)),
                num_attention_pooler_hidden_layers=int(raw.get("num_attention_pooler_hidden_layers", 2)),
                pool_window_size=int(raw.get("pool_window_size", 5)),
                fsq_dim=int(raw.get("fsq_dim", 2048)),
                fsq_input_levels=tuple(int(v) for v in raw.get("fsq_input_levels", (8, 8, 8, 5, 5, 5))),
                fsq_input_num_quantizers=int(raw.get("fsq_input_num_quantizers", 1)),
                rope_theta=float(raw.get("rope_theta", 1_000_000.0)),
                rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
                attention_bias=bool(raw.get("attention_bias", False)),
                sliding_window=int(raw.get("sliding_window") or 128),
                layer_types=layer_types,
                is_turbo=bool(raw.get("is_turbo", False)),
                model_version=raw.get("model_version"),
                is_lego_sft=bool(raw.get("is_lego_sft", False)),
            )
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: malformed value ({exc})") from exc
        cfg.validate(source)
        return cfg

    @classmethod
    def from_file(cls, path: Path) -> AceStepConfig:
        return cls.from_dict(read_json(path), source=str(path))

    def validate(self, source: str) -> None:
        """Reject configs that cannot describe a working model (the message names `source`)."""
        if len(self.layer_types) < self.num_hidden_layers:
            raise CheckpointError(
                f"{source}: layer_types has {len(self.layer_types)} entries, "
                f"num_hidden_layers is {self.num_hidden_layers}"
            )
        bad = sorted(set(self.layer_types) - {"sliding_attention", "full_attention"})
        if bad:
            raise CheckpointError(f"{source}: unknown layer_types {bad}")
        for heads, kv, name in (
            (self.num_attention_heads, self.num_key_value_heads, ""),
            (self.encoder_num_attention_heads, self.encoder_num_key_value_heads, "encoder_"),
        ):
            if kv <= 0 or heads % kv:
                raise CheckpointError(
                    f"{source}: {name}num_attention_heads ({heads}) must be a multiple "
                    f"of {name}num_key_value_heads ({kv})"
                )
        if self.in_channels != 3 * self.audio_acoustic_hidden_dim:
            raise CheckpointError(
                f"{source}: in_channels {self.in_channels} must be 3 x "
                f"audio_acoustic_hidden_dim ({self.audio_acoustic_hidden_dim})"
            )
        if self.timbre_hidden_dim != self.audio_acoustic_hidden_dim:
            # The timbre encoder reads reference-audio VAE latents: the same channels as the DiT's.
            raise CheckpointError(
                f"{source}: timbre_hidden_dim {self.timbre_hidden_dim} must equal "
                f"audio_acoustic_hidden_dim ({self.audio_acoustic_hidden_dim})"
            )

    @property
    def variant(self) -> str:
        """'turbo', 'base', 'sft', ... as recorded in the checkpoint (for display and defaults)."""
        return self.model_version or ("turbo" if self.is_turbo else "base")

    # --- diffusers module kwargs -------------------------------------------------------------

    def _encoder_common(self, n_layers: int) -> dict:
        return dict(
            hidden_size=self.encoder_hidden_size,
            intermediate_size=self.encoder_intermediate_size,
            num_attention_heads=self.encoder_num_attention_heads,
            num_key_value_heads=self.encoder_num_key_value_heads,
            head_dim=self.head_dim,
            rope_theta=self.rope_theta,
            attention_bias=self.attention_bias,
            rms_norm_eps=self.rms_norm_eps,
            sliding_window=self.sliding_window,
            # Encoders pick sliding/full by their own layer index in the shared list (§2.1).
            layer_types=list(self.layer_types[:n_layers]) if len(self.layer_types) >= n_layers else None,
        )

    def effective_layers(self, n: int) -> int:
        """Upstream encoders iterate `layers[:num_hidden_layers]`; deeper layers never run."""
        return min(n, self.num_hidden_layers)

    def transformer_kwargs(self) -> dict:
        return dict(
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            head_dim=self.head_dim,
            in_channels=self.in_channels,
            audio_acoustic_hidden_dim=self.audio_acoustic_hidden_dim,
            patch_size=self.patch_size,
            rope_theta=self.rope_theta,
            attention_bias=self.attention_bias,
            rms_norm_eps=self.rms_norm_eps,
            sliding_window=self.sliding_window,
            layer_types=list(self.layer_types[: self.num_hidden_layers]),
            encoder_hidden_size=self.encoder_hidden_size,
            is_turbo=self.is_turbo,
            model_version=self.model_version,
        )

    def condition_encoder_kwargs(self) -> dict:
        n_lyric = self.effective_layers(self.num_lyric_encoder_hidden_layers)
        kwargs = self._encoder_common(max(n_lyric, self.num_timbre_encoder_hidden_layers))
        kwargs.update(
            text_hidden_dim=self.text_hidden_dim,
            timbre_hidden_dim=self.timbre_hidden_dim,
            num_lyric_encoder_hidden_layers=n_lyric,
            num_timbre_encoder_hidden_layers=self.effective_layers(self.num_timbre_encoder_hidden_layers),
        )
        return kwargs

    def tokenizer_kwargs(self) -> dict:
        n = self.effective_layers(self.num_attention_pooler_hidden_layers)
        kwargs = self._encoder_common(n)
        kwargs.update(
            audio_acoustic_hidden_dim=self.audio_acoustic_hidden_dim,
            pool_window_size=self.pool_window_size,
            fsq_dim=self.fsq_dim,
            fsq_input_levels=list(self.fsq_input_levels),
            fsq_input_num_quantizers=self.fsq_input_num_quantizers,
            num_attention_pooler_hidden_layers=n,
        )
        return kwargs

    def detokenizer_kwargs(self) -> dict:
        n = self.effective_layers(self.num_attention_pooler_hidden_layers)
        kwargs = self._encoder_common(n)
        kwargs.update(
            audio_acoustic_hidden_dim=self.audio_acoustic_hidden_dim,
            pool_window_size=self.pool_window_size,
            num_attention_pooler_hidden_layers=n,
        )
        return kwargs

