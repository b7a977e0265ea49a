"""Legato's desktop app: a thin PySide6 view over the engine's document and job queue."""
