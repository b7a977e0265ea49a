"""Where a finished batch lands: a new track named from the caption, or a chosen track and time."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ValidationError


@dataclass(frozen=True)
class Placement:
    """Attributes:
        track_id: the track to land on; None = a new track.
        position: timeline frame (48 kHz) where the clip starts.
        track_name: the new track's name; "" = from the caption.
    """

    track_id: str | None = None
    position: int = 0
    track_name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.position, bool) or not isinstance(self.position, int) or self.position < 0:
            raise ValidationError(f"placement position must be a frame >= 0, got {self.position!r}")

    @classmethod
    def new_track(cls, position: int = 0, name: str = "") -> Placement:
        return cls(None, position, name)

    @classmethod
    def on_track(cls, track_id: str, position: int) -> Placement:
        return cls(track_id, position)
