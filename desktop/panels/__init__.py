"""Dockable panels over the engine: Create (generation), the job strip, the take inspector."""
