"""desktop.timeline (see ARCHITECTURE.md)."""
