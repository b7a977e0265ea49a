"""engine.runtime (see ARCHITECTURE.md)."""
