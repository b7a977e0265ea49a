"""Where the models are: ONE rule shared by the app and every CLI subcommand.

Order (the first that applies wins):

1. an explicit folder (a `--checkpoints` flag, or a folder passed to the Python API);
2. the checkpoints folder chosen in Settings (engine.settings, shared with the app);
3. `$LEGATO_CHECKPOINTS`;
4. `$ACESTEP_CHECKPOINTS_DIR` (upstream's variable for a shared models folder);
5. the app's own models folder in the user data dir (platformdirs), when it exists;
6. `./checkpoints` in the current folder, when it exists;
7. otherwise the app's models folder again: that is where downloads go.

1-4 are taken as given even when the folder does not exist yet, so a typo is reported
("checkpoints folder not found: ...") instead of silently falling through to another folder.
An ACE-Step install root (a folder holding `checkpoints/`) is accepted anywhere; see
`engine.models.discovery.find_checkpoints_dir`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_LEGATO = "LEGATO_CHECKPOINTS"
ENV_ACESTEP = "ACESTEP_CHECKPOINTS_DIR"

# How the chosen folder was found, for Settings and `legato models list`.
SOURCE_EXPLICIT = "explicit"
SOURCE_SETTING = "settings"
SOURCE_ENV_LEGATO = ENV_LEGATO
SOURCE_ENV_ACESTEP = ENV_ACESTEP
SOURCE_APP_DIR = "app models folder"
SOURCE_CWD = "./checkpoints"


@dataclass(frozen=True)
class CheckpointsLocation:
    """The checkpoints folder to use and why (`source` is one of the SOURCE_* names)."""

    path: Path
    source: str

    def describe(self) -> str:
        return f"{self.path} (from {self.source})"


def app_models_dir() -> Path:
    """The app's own models folder: `<user data dir>/models` (platformdirs)."""
    from engine.settings import data_dir

    return data_dir() / "models"


def resolve_checkpoints(explicit: str | Path | None = None, *, setting: str | None = None) -> CheckpointsLocation:
    """The checkpoints folder by the rule in the module docstring.

    Args:
        explicit: a folder the caller was given (a CLI flag); wins over everything.
        setting: the Settings value; None reads it from the saved settings file.
    """
    if explicit not in (None, ""):
        return CheckpointsLocation(Path(explicit).expanduser(), SOURCE_EXPLICIT)
    if setting is None:
        from engine.settings import load_settings

        setting = load_settings().checkpoints
    if setting:
        return CheckpointsLocation(Path(setting).expanduser(), SOURCE_SETTING)
    for env in (ENV_LEGATO, ENV_ACESTEP):
        value = os.environ.get(env)
        if value:
            return CheckpointsLocation(Path(value).expanduser(), env)
    app_dir = app_models_dir()
    if app_dir.is_dir():
        return CheckpointsLocation(app_dir, SOURCE_APP_DIR)
    cwd = Path.cwd() / "checkpoints"
    if cwd.is_dir():
        return CheckpointsLocation(cwd, SOURCE_CWD)
    return CheckpointsLocation(app_dir, SOURCE_APP_DIR)


def checkpoints_dir(explicit: str | Path | None = None) -> Path:
    """Shorthand: just the folder of `resolve_checkpoints(explicit)`."""
    return resolve_checkpoints(explicit).path
