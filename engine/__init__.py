"""Legato's engine: the document, audio, models, generation and jobs. Never imports Qt.

`import engine` must stay light: torch, transformers and diffusers are imported only inside
the modules that need them (models/, sampling/, tasks/, planner/, training/), never here.
"""

__version__ = "0.1.0"

SAMPLE_RATE = 48_000  # the one sample rate inside the app: the model's own (DESIGN.md)
CHANNELS = 2
