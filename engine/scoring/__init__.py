"""engine.scoring (see ARCHITECTURE.md)."""
