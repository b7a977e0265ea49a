"""The region actions (Repaint…, Extend…, Add layer…, …): one QAction each, shared by the
context menu on the lanes, the Edit-with-model toolbar and the keyboard."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QAction

from desktop.actions import _action
from engine.studio.region_target import COMPLETE, EXTEND, EXTRACT, INTRO, LAYER, REMIX, REPAINT


def _tr(text: str) -> str:
    return QCoreApplication.translate("RegionActions", text)


@dataclass
class RegionActions:
    repaint: QAction
    extend: QAction
    intro: QAction
    layer: QAction
    extract: QAction
    complete: QAction
    remix: QAction
    ab: QAction
    lanes: QAction
    flatten: QAction
    retake: QAction

    @classmethod
    def build(cls, w) -> RegionActions:
        return cls(
            repaint=_action(w, _tr("&Repaint…"), ["R"], _tr("Regenerate the selected time range of the clip")),
            extend=_action(w, _tr("&Extend…"), ["E"], _tr("Continue the clip up to the end of the selection")),
            intro=_action(w, _tr("Add &Intro…"), ["Shift+E"], _tr("Generate what comes before the clip")),
            layer=_action(w, _tr("Add &Layer…"), ["Shift+L"], _tr("Add an instrument that fits the mix in the range")),
            extract=_action(w, _tr("E&xtract Stems…"), ["Shift+X"], _tr("Split the audio into instrument tracks")),
            complete=_action(w, _tr("&Complete…"), ["Shift+C"], _tr("Generate accompaniment for the selected track(s)")),
            remix=_action(w, _tr("Re&mix…"), ["Shift+R"], _tr("A new version of the whole clip in another style")),
            ab=_action(w, _tr("&A/B Takes"), ["A"], _tr("Switch between the clip's two most recent takes")),
            lanes=_action(w, _tr("Take &Lanes"), ["T"], _tr("Show the selected clip's takes as lanes to comp"),
                          checkable=True),
            flatten=_action(w, _tr("&Flatten Comp"), ["Ctrl+Shift+F"], _tr("Render the comp into one take")),
            retake=_action(w, _tr("Re&take"), ["Alt+R"], _tr("A close variation of the take that plays")),
        )

    def by_task(self) -> dict[str, QAction]:
        """The seven generative region actions keyed by engine.studio.region_target names."""
        return {REPAINT: self.repaint, EXTEND: self.extend, INTRO: self.intro, LAYER: self.layer,
                EXTRACT: self.extract, COMPLETE: self.complete, REMIX: self.remix}
