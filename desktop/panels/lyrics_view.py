"""The lyrics view: the selected take's synced lyrics (its LRC), following playback.

The current line (the last one started at the playhead) is highlighted and kept in view;
clicking a line emits `seek_requested(seconds)` on the project timeline, which the window hands
to the transport controller. Section tags ("[Verse]") are shown dimmed as headings.

    view.show_lyrics(take.meta.get("lrc", ""), clip_start_s, clip_offset_s, clip_length_s)
    view.set_position(transport.position_s())        # ~30 Hz while playing
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from engine.scoring.lrc import line_at, parse_lrc

CURRENT_BACKGROUND = QColor(0x3d, 0x6f, 0xb5)
TAG_COLOUR = QColor(0x8c, 0x90, 0x99)


def _stamp(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes)}:{int(rest):02d}"


def bunched(times: list[tuple[float, str]]) -> bool:
    """Most sung lines starting at one moment: the alignment did not find the words."""
    starts = [round(start, 1) for start, text in times if not (text.startswith("[") and text.endswith("]"))]
    if len(starts) < 3:
        return False
    return max(starts.count(s) for s in set(starts)) * 2 > len(starts)


class LyricsView(QWidget):
    seek_requested = Signal(float)  # seconds on the project timeline

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel(self.tr("Select a scored take to see its lyrics in time."))
        self.heading.setObjectName("lyricsHeading")
        self.heading.setWordWrap(True)
        self.lines = QListWidget()
        self.lines.setObjectName("lyricLines")
        self.lines.setWordWrap(True)
        self.lines.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.lines.itemClicked.connect(self._clicked)
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 6, 8, 8)
        col.addWidget(self.heading)
        col.addWidget(self.lines, 1)
        self._times: list[tuple[float, str]] = []  # (project seconds, text)
        self._current: int | None = None
        self._shown: tuple | None = None

    # --- content ------------------------------------------------------------------------------
    def show_lyrics(self, lrc: str, clip_start_s: float = 0.0, offset_s: float = 0.0,
                    length_s: float = float("inf"), title: str = "") -> None:
        """Lines of `lrc` (take time) placed on the timeline: take time t sounds at
        clip_start + (t - offset); lines outside the clip's window are left out."""
        state = (lrc, clip_start_s, offset_s, length_s, title)
        if state == self._shown:
            return
        self._shown = state
        self.lines.clear()
        self._current = None
        try:
            parsed = parse_lrc(lrc or "")
        except ValueError:
            parsed = []
        self._times = [(clip_start_s + t - offset_s, text) for t, text in parsed
                       if offset_s - 0.05 <= t < offset_s + length_s]
        if not self._times:
            self.heading.setText(self.tr("No synced lyrics for this take yet: use Score takes "
                                         "(Generate menu or the Takes panel) to make them."))
            return
        heading = title or self.tr("Synced lyrics — click a line to play from there")
        if bunched(self._times):
            heading += "\n" + self.tr("The timing looks unreliable for this take: the model placed most lines at "
                                       "the same moment.")
        self.heading.setText(heading)
        for start, text in self._times:
            is_tag = text.startswith("[") and text.endswith("]")
            item = QListWidgetItem(text.strip("[]") if is_tag else f"{_stamp(start)}   {text}")
            item.setData(Qt.ItemDataRole.UserRole, start)
            item.setToolTip(self.tr("Play from {0}").format(_stamp(start)))
            if is_tag:
                font = QFont(item.font())
                font.setBold(True)
                font.setPointSizeF(font.pointSizeF() * 0.9 if font.pointSizeF() > 0 else 9)
                item.setFont(font)
                item.setForeground(QBrush(TAG_COLOUR))
            self.lines.addItem(item)

    def line_times(self) -> list[float]:
        return [start for start, _ in self._times]

    # --- following playback -------------------------------------------------------------------
    def set_position(self, seconds: float) -> None:
        index = line_at(self._times, seconds) if self._times else None
        if index == self._current:
            return
        if self._current is not None and self._current < self.lines.count():
            self._paint(self._current, False)
        self._current = index
        if index is not None:
            self._paint(index, True)
            self.lines.scrollToItem(self.lines.item(index), QListWidget.ScrollHint.PositionAtCenter)

    def current_line(self) -> int | None:
        return self._current

    def _paint(self, index: int, current: bool) -> None:
        item = self.lines.item(index)
        item.setBackground(QBrush(CURRENT_BACKGROUND) if current else QBrush())
        font = QFont(item.font())
        font.setUnderline(False)
        if not (self._times[index][1].startswith("[")):
            font.setBold(current)
        item.setFont(font)

    def _clicked(self, item: QListWidgetItem) -> None:
        self.seek_requested.emit(float(item.data(Qt.ItemDataRole.UserRole)))
