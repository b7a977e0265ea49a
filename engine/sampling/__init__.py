"""engine.sampling (see ARCHITECTURE.md)."""
