"""desktop.panels (see ARCHITECTURE.md)."""
