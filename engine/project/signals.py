"""A tiny Qt-free observer: `Signal.connect(fn)`, `Signal.emit(*args)`.

The document emits on the main thread only (commands run there), so slots may touch Qt
objects directly. A slot that raises is logged and the others still run: a broken view must
not leave a command half-applied (the document has already changed when signals fire).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Signal:
    """A list of callbacks. Not thread-safe by design: connect and emit on the main thread."""

    __slots__ = ("_name", "_slots")

    def __init__(self, name: str = "") -> None:
        self._name = name
        self._slots: list[Callable[..., Any]] = []

    def connect(self, slot: Callable[..., Any]) -> Callable[..., Any]:
        """Add `slot` (idempotent). Returns it, so this works as a decorator."""
        if slot not in self._slots:
            self._slots.append(slot)
        return slot

    def disconnect(self, slot: Callable[..., Any] | None = None) -> None:
        """Remove `slot`, or every slot when called with no argument."""
        if slot is None:
            self._slots.clear()
        elif slot in self._slots:
            self._slots.remove(slot)

    def emit(self, *args: Any) -> None:
        for slot in list(self._slots):  # a slot may disconnect itself while we iterate
            try:
                slot(*args)
            except Exception:
                log.exception("slot %r of signal %s raised", slot, self._name or "?")

    def __len__(self) -> int:
        return len(self._slots)

    def __repr__(self) -> str:
        return f"<Signal {self._name} with {len(self._slots)} slots>"
