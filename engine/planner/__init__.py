"""engine.planner (see ARCHITECTURE.md)."""
