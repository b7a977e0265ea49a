"""desktop.controllers (see ARCHITECTURE.md)."""
