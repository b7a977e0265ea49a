"""engine.project (see ARCHITECTURE.md)."""
