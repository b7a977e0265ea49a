"""A dark theme: Fusion style with a dark palette and a little QSS for the arrangement."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory, QWidget

_QSS = """
QWidget#transportBar { background: #1d1f24; border-bottom: 1px solid #111; }
QLabel#timelineCorner { background: #1b1c21; color: #8a909c; font-weight: bold; }
QWidget#headerColumnInner, QScrollArea#headerColumn { background: #23252b; }
QLineEdit#trackName { background: transparent; color: #f0f1f4; font-weight: bold; }
QToolButton#muteButton:checked { background: #e0a030; color: #111; }
QToolButton#soloButton:checked { background: #3fa0e0; color: #111; }
QLabel#selectionLabel { color: #9cc8ff; }
QLabel#tempoLabel { color: #c8ccd4; }
"""


def apply_dark_theme(window: QWidget) -> None:
    app = QApplication.instance()
    if app is not None and not app.property("legatoThemed"):
        app.setStyle(QStyleFactory.create("Fusion"))
        pal = QPalette()
        pal.setColor(QPalette.ColorRole.Window, QColor(0x26, 0x28, 0x2E))
        pal.setColor(QPalette.ColorRole.WindowText, QColor(0xDD, 0xE0, 0xE6))
        pal.setColor(QPalette.ColorRole.Base, QColor(0x1C, 0x1D, 0x22))
        pal.setColor(QPalette.ColorRole.AlternateBase, QColor(0x2A, 0x2C, 0x33))
        pal.setColor(QPalette.ColorRole.Text, QColor(0xDD, 0xE0, 0xE6))
        pal.setColor(QPalette.ColorRole.Button, QColor(0x33, 0x36, 0x3E))
        pal.setColor(QPalette.ColorRole.ButtonText, QColor(0xDD, 0xE0, 0xE6))
        pal.setColor(QPalette.ColorRole.Highlight, QColor(0x3F, 0x8C, 0xE0))
        pal.setColor(QPalette.ColorRole.HighlightedText, QColor(0xFF, 0xFF, 0xFF))
        pal.setColor(QPalette.ColorRole.ToolTipBase, QColor(0x33, 0x36, 0x3E))
        pal.setColor(QPalette.ColorRole.ToolTipText, QColor(0xEE, 0xEE, 0xEE))
        # Disabled items must read as disabled (a greyed-out region action says "not here").
        grey = QColor(0x6B, 0x70, 0x79)
        for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
            pal.setColor(QPalette.ColorGroup.Disabled, role, grey)
        app.setPalette(pal)
        app.setStyleSheet(_QSS)
        app.setProperty("legatoThemed", True)
