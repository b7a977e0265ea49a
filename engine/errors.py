"""Error types whose messages are written for the user (shown in dialogs and on the CLI)."""


class LegatoError(Exception):
    """Base for errors with a clear, user-facing message (bad input, missing file, OOM)."""


class CheckpointError(LegatoError):
    """A checkpoint folder is missing, incomplete or malformed; the message names the file."""


class ValidationError(LegatoError, ValueError):
    """A parameter is out of range or inconsistent; the message names the parameter."""


class AudioFileError(LegatoError):
    """An audio file could not be read or written; the message names the file."""


class ProjectFileError(LegatoError):
    """A project could not be loaded or saved; the message names the file."""


class AdapterError(LegatoError):
    """A LoRA adapter cannot be read, does not fit the loaded model, or cannot be used here;
    the message names the file and the reason."""


class Cancelled(LegatoError):
    """Long work was cancelled by the user."""
