"""Legato's desktop: PySide6 views over the engine's document, and the bridge to its jobs."""
