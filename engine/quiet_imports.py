"""Silence third-party import-time chatter that is not the user's concern.

diffusers imports torchao whenever it is installed, and torchao 0.18 logs a warning for each of
its CUDA-only kernels it cannot load on this machine, while torch's pytree logs a deprecation per
torchao enum. None of it affects Legato (we do not use those kernels), but it buries the CLI's
own output. Only these named loggers are raised to ERROR; real errors still show.
"""

from __future__ import annotations

import logging
import os

_NOISY_IMPORT_LOGGERS = (
    "torchao",  # "Failed to load .../_C_mxfp8...so" (CUDA kernels)
    "torch.utils._pytree",  # "<enum ...> is an Enum subclass ... register_constant() deprecated"
    "diffusers.quantizers.torchao.torchao_quantizer",  # "Unable to import `torchao` Tensor objects"
)


def quiet_third_party_imports() -> None:
    for name in _NOISY_IMPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # Per-file "Loading weights" bars from the hub libraries; our own progress bar says more.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
