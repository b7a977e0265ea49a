"""Panels: self-contained widgets the main window docks or embeds."""
