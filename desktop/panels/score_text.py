"""How a take's scores read to a musician: "Lyrics fit 63 · Quality 36" (0–100).

The engine stores scores in [0, 1] (take.meta["scores"], engine.studio.scoring); here they are
shown as whole numbers out of 100, the lyric fit first (upstream recommends it for picking a
take from a batch), and "not scored yet" when a take has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

from engine.studio.scoring import take_score

FIELD_LABELS = {  # shown through _tr() later; marked here for the translation tools
    "caption": QT_TRANSLATE_NOOP("Scores", "caption"), "lyrics": QT_TRANSLATE_NOOP("Scores", "lyrics"),
    "bpm": QT_TRANSLATE_NOOP("Scores", "BPM"), "duration": QT_TRANSLATE_NOOP("Scores", "length"),
    "genres": QT_TRANSLATE_NOOP("Scores", "genres"), "keyscale": QT_TRANSLATE_NOOP("Scores", "key"),
    "language": QT_TRANSLATE_NOOP("Scores", "language"), "timesignature": QT_TRANSLATE_NOOP("Scores", "metre"),
}


def _tr(text: str, disambiguation: str | None = None) -> str:
    return QCoreApplication.translate("Scores", text, disambiguation)


def _pct(value: Any) -> str:
    return str(round(100 * float(value))) if isinstance(value, int | float) else "–"


def scores_of(meta: Mapping[str, Any]) -> dict:
    scores = meta.get("scores")
    return scores if isinstance(scores, dict) else {}


def badge(meta: Mapping[str, Any]) -> str:
    """The short form for a list row or the clip's name bar: "★ 63", or "" when unscored."""
    value = take_score(meta)
    return "" if value is None else _tr("★ {0}").format(_pct(value))


def summary(meta: Mapping[str, Any]) -> str:
    """One line: "Lyrics fit 63 · Quality 36", or "Not scored yet"."""
    scores = scores_of(meta)
    if not scores:
        return _tr("Not scored yet — use Score takes")
    parts = []
    if isinstance(scores.get("alignment"), int | float):
        parts.append(_tr("Lyrics fit {0}").format(_pct(scores["alignment"])))
    if isinstance(scores.get("quality"), int | float):
        parts.append(_tr("Quality {0}").format(_pct(scores["quality"])))
    return " · ".join(parts) or _tr("No score (instrumental, and no planner model installed)")


def details(meta: Mapping[str, Any]) -> str:
    """The breakdown for the inspector's tooltip / detail row."""
    scores = scores_of(meta)
    if not scores:
        return ""
    lines = []
    parts = scores.get("alignment_parts") or {}
    if parts:
        lines.append(_tr("Lyrics fit: words heard {0}, in order {1}, sureness {2} (out of 100)").format(
            _pct(parts.get("coverage")), _pct(parts.get("monotonicity")), _pct(parts.get("confidence"))))
    fields = scores.get("fields") or {}
    if fields:
        shown = [_tr("{0} {1}").format(_tr(FIELD_LABELS.get(k, k)), _pct(v)) for k, v in fields.items()]
        lines.append(_tr("Quality, how well the audio matches: {0}").format(", ".join(shown)))
    return "\n".join(lines)
