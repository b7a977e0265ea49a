"""engine.training (see ARCHITECTURE.md)."""
