"""What each DiT variant is for, in one line a musician can act on (upstream_dit.md §1)."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication


def _tr(text: str) -> str:
    return QCoreApplication.translate("ModelChoice", text)


def describe_variant(variant: str) -> str:
    """One line for the model picker, by discovery's variant name ("turbo", "base", "xl-sft", ...)."""
    size = ""
    if variant.startswith("xl-"):
        variant, size = variant[3:], _tr(" XL (4B): richer, needs more memory.")
    lines = {
        "turbo": _tr("Fast: 8 steps, no guidance to tune. The everyday choice."),
        "turbo-shift1": _tr("Turbo tuned for shift 1: keeps more of a source's structure."),
        "turbo-shift3": _tr("Turbo tuned for shift 3: the upstream default schedule."),
        "turbo-continuous": _tr("Turbo with a continuous schedule: any shift, any step count."),
        "sft": _tr("Quality: 32–50 steps with guidance. Slower, more detailed."),
        "base": _tr("All tasks, including add layer, extract and complete. 32+ steps, slowest."),
    }
    return lines.get(variant, _tr("DiT model ({0}).").format(variant)) + size


def is_turbo(variant: str) -> bool:
    return "turbo" in variant
