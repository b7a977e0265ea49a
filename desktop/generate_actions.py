"""The Generate menu's actions (the model side of the window), built and wired once."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QAction

from desktop.actions import _action


def _tr(text: str) -> str:
    return QCoreApplication.translate("GenerateActions", text)


@dataclass
class GenerateActions:
    create: QAction
    generate: QAction
    autogen: QAction
    previous_take: QAction
    next_take: QAction
    score_takes: QAction
    settings: QAction

    @classmethod
    def build(cls, w) -> GenerateActions:
        return cls(
            create=_action(w, _tr("&Create…"), ["Ctrl+Shift+G"], _tr("Show the Create panel")),
            generate=_action(w, _tr("&Generate"), ["Ctrl+Return"], _tr("Generate takes from the Create panel")),
            autogen=_action(w, _tr("&AutoGen"), [], _tr("Keep making takes with fresh seeds"), checkable=True),
            previous_take=_action(w, _tr("&Previous Take"), ["["], _tr("Play the selected clip's previous take")),
            next_take=_action(w, _tr("&Next Take"), ["]"], _tr("Play the selected clip's next take")),
            score_takes=_action(w, _tr("S&core Takes"), [], _tr("Judge the selected clip's takes and make their synced lyrics")),
            settings=_action(w, _tr("&Settings…"), ["Ctrl+,"], _tr("Models folder, device and precision")),
        )
