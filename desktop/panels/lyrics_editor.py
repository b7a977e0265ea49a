"""The lyrics editor: plain text plus section tags ([Verse], [Chorus], ...) one click away and a
Format button (the planner LM polishes caption and lyrics; the controller runs that job)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

# The structure tags ACE-Step's lyrics were written with (upstream prompt examples).
SECTION_TAGS = ("[Intro]", "[Verse]", "[Pre-Chorus]", "[Chorus]", "[Bridge]", "[Hook]", "[Drop]",
                "[Breakdown]", "[Instrumental]", "[Outro]")


class LyricsEditor(QWidget):
    format_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QPlainTextEdit()
        self.text.setObjectName("lyrics")
        self.text.setPlaceholderText(self.tr("[Verse]\nWrite lyrics here, one line per sung line…"))
        self.text.setMinimumHeight(110)
        self.sections = QToolButton()
        self.sections.setObjectName("insertSection")
        self.sections.setText(self.tr("Insert section"))
        self.sections.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.sections)
        for tag in SECTION_TAGS:
            menu.addAction(tag, lambda tag=tag: self.insert_tag(tag))
        self.sections.setMenu(menu)
        self.format_button = QPushButton(self.tr("Format"))
        self.format_button.setObjectName("formatLyrics")
        self.format_button.setToolTip(self.tr("Let the planner model tidy the caption and lyrics"))
        self.format_button.clicked.connect(self.format_requested)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.sections)
        row.addStretch(1)
        row.addWidget(self.format_button)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(2)
        col.addLayout(row)
        col.addWidget(self.text)

    def insert_tag(self, tag: str) -> None:
        """Put `tag` on a line of its own at the cursor."""
        cursor = self.text.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.StartOfLine)
        prefix = "\n" if cursor.position() > 0 and not self.text.toPlainText()[: cursor.position()].endswith("\n\n") else ""
        cursor.insertText(f"{prefix}{tag}\n")
        self.text.setTextCursor(cursor)
        self.text.setFocus()

    def lyrics(self) -> str:
        return self.text.toPlainText()

    def set_lyrics(self, text: str) -> None:
        self.text.setPlainText(text)
