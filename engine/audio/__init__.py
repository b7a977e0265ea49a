"""engine.audio (see ARCHITECTURE.md)."""
