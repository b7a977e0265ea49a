"""`LoraSpec`: one adapter as a generation request names it (torch-free, frozen, JSON-able).

A request carries a tuple of these; the pipeline loads each onto the DiT decoder with its
scale. The pipeline fills in `name` and `sha256` before recording the request in the take's
provenance, so a re-render loads the same adapter bytes (or says the file has changed).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from engine.errors import ValidationError

SCALE_RANGE = (0.0, 2.0)  # upstream clamps to [0, 1]; up to 2 lets a weak adapter be pushed


@dataclass(frozen=True)
class LoraSpec:
    """An adapter path (a PEFT folder or a single .safetensors file) and its scale.

    Attributes:
        path: folder with adapter_config.json + adapter_model.safetensors, or one .safetensors.
        scale: multiplies the adapter's own alpha/r; 0 = off (bit-identical to the base model).
        name: display name (folder or file stem); filled in by the loader when empty.
        sha256: of the adapter's bytes; "" = not yet known. When set, loading checks it.
    """

    path: str
    scale: float = 1.0
    name: str = ""
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> LoraSpec:
        if isinstance(data, LoraSpec):
            return data
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise ValidationError(f"loras: each entry needs a 'path', got {data!r}")
        return cls(path=data["path"], scale=float(data.get("scale", 1.0)), name=str(data.get("name", "")),
                   sha256=str(data.get("sha256", "")))


def validate_loras(loras: Any) -> None:
    """ValidationError naming `loras` for a malformed tuple (model-free checks only)."""
    if not isinstance(loras, tuple):
        raise ValidationError(f"loras: must be a tuple of LoraSpec, got {type(loras).__name__}")
    seen: set[str] = set()
    for spec in loras:
        if not isinstance(spec, LoraSpec):
            raise ValidationError(f"loras: entries must be LoraSpec, got {spec!r}")
        if not spec.path:
            raise ValidationError("loras: an adapter path is empty")
        low, high = SCALE_RANGE
        if isinstance(spec.scale, bool) or not isinstance(spec.scale, int | float) or math.isnan(spec.scale) \
                or not low <= spec.scale <= high:
            raise ValidationError(f"loras: scale of {spec.path} must be between {low:g} and {high:g}, got {spec.scale!r}")
        if spec.path in seen:
            raise ValidationError(f"loras: {spec.path} is listed twice")
        seen.add(spec.path)


def parse_lora_arg(text: str) -> LoraSpec:
    """`PATH[:SCALE]` (the CLI's --lora). A trailing `:number` is the scale; otherwise all path."""
    path, sep, tail = text.rpartition(":")
    if sep and path:
        try:
            return LoraSpec(path=path, scale=float(tail))
        except ValueError:
            pass
    return LoraSpec(path=text)
