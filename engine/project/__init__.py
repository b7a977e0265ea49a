"""engine.project: the document (Project → Track → Clip → Take), its commands, undo history,
assets and save/load. Qt-free and torch-free.

    from engine.project import Project, AssetStore
    from engine.project.commands import AddTrack, AddClip, MoveClip, ...
    from engine.project.io import save_project, load_project, Autosaver

See model.py (data + signals), commands.py (every edit), history.py (undo), assets.py
(content-hashed audio), selection.py (view state), io.py (files).
"""

from engine.project.assets import Asset, AssetStore
from engine.project.history import History
from engine.project.model import Clip, CompSegment, Project, Take, Track, new_id
from engine.project.selection import Selection

__all__ = ["Asset", "AssetStore", "Clip", "CompSegment", "History", "Project", "Selection", "Take", "Track", "new_id"]
