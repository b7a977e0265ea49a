"""Legato's desktop: PySide6 views over the engine's document, and the bridge to its jobs."""

from desktop.qt_compat import protect_none as _protect_none

_protect_none()  # before any Qt call: see desktop/qt_compat.py
