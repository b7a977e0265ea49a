"""engine.tasks (see ARCHITECTURE.md)."""
