"""Recognising out-of-memory errors, without importing torch (the job queue uses it at start-up)."""

from __future__ import annotations


def is_out_of_memory(exc: BaseException) -> bool:
    """True for host or accelerator allocation failures (CUDA, MPS, CPU).

    torch.OutOfMemoryError (and torch.cuda's alias) is recognised by name so torch need not be
    imported; older torch and the MPS/CPU allocators raise a plain RuntimeError with one of two
    phrasings.
    """
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "failed to allocate" in text)
