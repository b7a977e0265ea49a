"""engine.jobs (see ARCHITECTURE.md)."""
