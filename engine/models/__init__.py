"""engine.models (see ARCHITECTURE.md)."""
