"""Settings shared by the app and the CLI: one small JSON file in the user's config folder.

The app's Settings dialog writes it, and every `legato` subcommand reads it, so choosing a
checkpoints folder (or a device) in the app is what the command line then uses too.

    settings = load_settings()                  # defaults when there is no file yet
    save_settings(settings.with_changes(checkpoints="/data/ace-step/checkpoints"))

The folder is platformdirs' user config dir for "Legato"; `LEGATO_CONFIG_DIR` overrides it
(tests point it at a temporary folder so they never read or write the user's real settings).
Unknown keys in the file are kept when saving (a newer Legato may have written them); a
corrupt file is reported once and treated as defaults, never crashes start-up.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.errors import ValidationError

ENV_CONFIG_DIR = "LEGATO_CONFIG_DIR"
ENV_DATA_DIR = "LEGATO_DATA_DIR"
SETTINGS_FILE = "settings.json"
_MAX_SETTINGS_BYTES = 1 << 20  # a settings file is a few hundred bytes; refuse anything huge


def config_dir() -> Path:
    env = os.environ.get(ENV_CONFIG_DIR)
    if env:
        return Path(env)
    import platformdirs

    return platformdirs.user_config_path("Legato", appauthor=False)


def data_dir() -> Path:
    """Where the app keeps data of its own (downloaded models); `LEGATO_DATA_DIR` overrides."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env)
    import platformdirs

    return platformdirs.user_data_path("Legato", appauthor=False)


@dataclass(frozen=True)
class Settings:
    """Every persisted setting. Empty string / None mean "automatic".

    Attributes:
        checkpoints: the checkpoints folder the user chose ("" = automatic, see
            engine.models.locations).
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        dtype: "" (the device's measured default), "float32", "bfloat16" or "float16".
        offload: "auto" (by memory tier), "on" or "off": models leave the accelerator between stages.
        quantization: "auto" (by memory tier), "none", "int8" (torchao weight-only, DiT and LM) or
            "int8-dynamic" (int8 weights and activations: the fast path, engine/runtime/int8_dynamic.py).
        compile: "auto" (on for CUDA), "on" or "off": torch.compile the DiT.
        vae_device: "auto" (the generation device, CPU as the OOM fallback) or "cpu".
        score_after_generation: "on" or "off": judge every new take (quality, lyric alignment,
            LRC) right after its batch lands (engine.studio.scoring).
        crossfade_ms: the equal-power crossfade at each region take's edges and comp cut, in
            milliseconds ("50" by default; `crossfade_frames()` reads it safely).
        extra: keys this version does not know, kept verbatim when saving.
    """

    checkpoints: str = ""
    device: str = "auto"
    dtype: str = ""
    offload: str = "auto"
    quantization: str = "auto"
    compile: str = "auto"
    vae_device: str = "auto"
    score_after_generation: str = "off"
    crossfade_ms: str = "50"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def scores_after_generation(self) -> bool:
        return self.score_after_generation == "on"

    def crossfade_frames(self, sample_rate: int = 48_000) -> int:
        """`crossfade_ms` in frames: 0–500 ms; a hand-edited bad value falls back to 50 ms."""
        try:
            ms = float(self.crossfade_ms)
        except ValueError:
            ms = 50.0
        if not 0.0 <= ms <= 500.0:  # also rejects nan
            ms = 50.0
        return int(round(ms * sample_rate / 1000.0))


def _known() -> set[str]:
    return {f.name for f in fields(Settings)} - {"extra"}


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings, or defaults when there is no (readable, valid) file."""
    path = path or settings_path()
    try:
        if not path.is_file() or path.stat().st_size > _MAX_SETTINGS_BYTES:
            return Settings()
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return Settings()
    if not isinstance(data, dict):
        return Settings()
    known = {k: v for k, v in data.items() if k in _known() and isinstance(v, str)}
    extra = {k: v for k, v in data.items() if k not in _known()}
    return Settings(**known, extra=extra)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically (a temporary file renamed over the old one)."""
    path = path or settings_path()
    for name in _known():
        if not isinstance(getattr(settings, name), str):
            raise ValidationError(f"setting {name} must be text, got {getattr(settings, name)!r}")
    payload = dict(settings.extra)
    payload.update({k: v for k, v in asdict(settings).items() if k != "extra"})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path
