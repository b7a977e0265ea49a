"""Generative editing on the arrangement: the region menu, its dialogs and the take lanes."""
