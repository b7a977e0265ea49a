"""Form building blocks for the panels: a labelled field with its own error line, and a
collapsible section. Errors come from the engine's validation ("bpm: must be between 30 and
300"), so each field row is registered under the request parameter it edits."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

ERROR_STYLE = "color: #ff7b72; font-size: 11px;"


def row_of(*items: QWidget | tuple[QWidget, int]) -> QWidget:
    """Widgets side by side in one borderless row; `(widget, stretch)` lets one take the slack."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    for item in items:
        widget, stretch = item if isinstance(item, tuple) else (item, 0)
        row.addWidget(widget, stretch)
    return box


class FieldErrors:
    """Error labels by request parameter; `show("bpm", msg)` puts msg under the BPM field."""

    def __init__(self) -> None:
        self._labels: dict[str, QLabel] = {}
        self._fields: dict[str, QWidget] = {}

    def add_row(self, form: QFormLayout, label: str, field: QWidget, *params: str) -> QWidget:
        """Add `label: field` to `form` with an error line under the field, for `params`."""
        box = QWidget()
        col = QVBoxLayout(box)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(1)
        col.addWidget(field)
        error = QLabel()
        error.setStyleSheet(ERROR_STYLE)
        error.setWordWrap(True)
        error.hide()
        col.addWidget(error)
        for param in params:
            error.setObjectName(f"error_{params[0]}")
            self._labels[param] = error
            self._fields[param] = field
        form.addRow(label, box)
        return box

    def show(self, param: str, message: str) -> bool:
        """Show `message` under the field of `param`; False if no field edits that parameter."""
        label = self._labels.get(param)
        if label is None:
            return False
        label.setText(message)
        label.show()
        field = self._fields[param]
        if field.isEnabled() and field.isVisibleTo(field.window()):
            field.setFocus(Qt.FocusReason.OtherFocusReason)
        return True

    def message(self, param: str) -> str:
        label = self._labels.get(param)
        return label.text() if label is not None and not label.isHidden() else ""

    def clear(self) -> None:
        for label in set(self._labels.values()):
            label.clear()
            label.hide()


class Collapsible(QWidget):
    """A header button that shows or hides its body (collapsed by default)."""

    def __init__(self, title: str, body: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QToolButton()
        self.toggle.setText(title)
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.body = body
        body.setVisible(False)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 4, 0, 0)
        col.addWidget(self.toggle)
        col.addWidget(body)
        self.toggle.toggled.connect(self.set_expanded)

    def set_expanded(self, expanded: bool) -> None:
        self.toggle.setChecked(expanded)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()
