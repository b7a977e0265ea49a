"""The Create panel: describe a song (Simple) or spell it out (Custom), pick a model, generate.

A view only: it turns its widgets into GenerationRequest keyword arguments (`fields()`) and shows
the engine's validation errors beside the field they name (`show_error`). The generation
controller builds, validates and submits the request, and lands the takes.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QStackedWidget,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.advanced_options import AdvancedOptions
from desktop.panels.form_rows import ERROR_STYLE, Collapsible, FieldErrors, row_of
from desktop.panels.lora_adapters import AdapterList
from desktop.panels.lyrics_editor import LyricsEditor
from desktop.panels.model_choice import describe_variant, is_turbo
from desktop.panels.preflight_line import PreflightLine
from engine.errors import ValidationError
from engine.planner.constants import KEYSCALES, LANGUAGES
from engine.tasks import text_fields

SIMPLE, CUSTOM = 0, 1
PLACE_NEW_TRACK, PLACE_AT_SELECTION = "new-track", "selection"
# Plain-letter keys for the picker (the planner also knows the ♯/♭ spellings).
KEY_CHOICES = tuple(k for k in KEYSCALES if "♯" not in k and "♭" not in k)
TIME_SIGNATURE_CHOICES = (("2", "2/4"), ("3", "3/4"), ("4", "4/4"), ("6", "6/8"))


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #9aa4b2; font-size: 11px;")
    return label


class CreatePanel(QWidget):
    generate_requested = Signal()
    simple_requested = Signal()  # run the planner's simple mode on the description
    format_requested = Signal()  # run the planner's format job on caption + lyrics
    autogen_toggled = Signal(bool)
    source_cleared = Signal()
    reference_clip_requested = Signal()
    reference_file_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        tr = self.tr
        self.errors = FieldErrors()
        self.source_asset: str | None = None

        self.mode = QTabBar()
        self.mode.setObjectName("createMode")
        self.mode.addTab(tr("Simple"))
        self.mode.addTab(tr("Custom"))
        self.pages = QStackedWidget()
        self.pages.addWidget(self._simple_page())
        self.pages.addWidget(self._custom_page())
        self.mode.currentChanged.connect(self.pages.setCurrentIndex)

        # -- task / source
        task_box = QWidget()
        task_form = QFormLayout(task_box)
        task_form.setContentsMargins(0, 0, 0, 0)
        self.task = QComboBox()
        self.task.setObjectName("task")
        self.task.addItem(tr("New music from text"), "text2music")
        self.task.addItem(tr("Remix the source (cover)"), "cover")
        self.task.addItem(tr("Repaint part of the source"), "repaint")
        self.source_label = QLabel(tr("none — use “Use as source” on a take"))
        self.source_label.setObjectName("sourceLabel")
        clear_source = QPushButton(tr("Clear"))
        clear_source.clicked.connect(self.clear_source)
        source_row = row_of((self.source_label, 1), clear_source)
        self.repaint_start = QDoubleSpinBox()
        self.repaint_start.setRange(-90.0, 600.0)
        self.repaint_start.setSuffix(tr(" s"))
        self.repaint_end = QDoubleSpinBox()
        self.repaint_end.setRange(0.0, 690.0)
        self.repaint_end.setSuffix(tr(" s"))
        self.repaint_end.setValue(10.0)
        window_row = row_of(self.repaint_start, QLabel("–"), self.repaint_end)
        self.cover_strength = QSlider(Qt.Orientation.Horizontal)
        self.cover_strength.setObjectName("coverStrength")
        self.cover_strength.setRange(0, 100)
        self.cover_strength.setValue(100)
        self.cover_strength.setToolTip(tr("How closely the remix follows the source"))
        e = self.errors
        e.add_row(task_form, tr("Make"), self.task, "task")
        e.add_row(task_form, tr("Source"), source_row, "source_audio")
        self._window_row = e.add_row(task_form, tr("Repaint from / to"), window_row, "repaint_start", "repaint_end")
        self._strength_row = e.add_row(task_form, tr("Follow the source"), self.cover_strength,
                                       "audio_cover_strength")
        self.task.currentIndexChanged.connect(self._sync_task)

        # -- model
        model_box = QWidget()
        model_form = QFormLayout(model_box)
        model_form.setContentsMargins(0, 0, 0, 0)
        self.model = QComboBox()
        self.model.setObjectName("model")
        self.model_info = _hint("")
        self.model_info.setObjectName("modelInfo")
        e.add_row(model_form, tr("Model"), self.model, "model")
        model_form.addRow("", self.model_info)
        self.model.currentIndexChanged.connect(self._sync_model)

        # -- advanced
        self.advanced = AdvancedOptions(self.errors)
        self.advanced.reference_clip_requested.connect(self.reference_clip_requested)
        self.advanced.reference_file_requested.connect(self.reference_file_requested)
        self.advanced.thinking.toggled.connect(self._sync_duration_hint)
        self.advanced_section = Collapsible(tr("Advanced"), self.advanced)
        self.adapters = AdapterList()  # LoRA adapters with a scale each (desktop/panels/lora_adapters.py)
        self.adapters_section = Collapsible(tr("LoRA adapters"), self.adapters)

        # -- landing, preflight, generate
        place_box = QWidget()
        place_form = QFormLayout(place_box)
        place_form.setContentsMargins(0, 0, 0, 0)
        self.placement = QComboBox()
        self.placement.setObjectName("placement")
        self.placement.addItem(tr("A new track"), PLACE_NEW_TRACK)
        self.placement.addItem(tr("The selected track, at the selection start"), PLACE_AT_SELECTION)
        place_form.addRow(tr("Put takes on"), self.placement)
        self.preflight = PreflightLine()  # its label is "preflight"; the controller gives it a source
        self.preflight.setObjectName("preflightLine")
        self.general_error = QLabel()
        self.general_error.setObjectName("generalError")
        self.general_error.setStyleSheet(ERROR_STYLE)
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        self.generate_button = QPushButton(tr("Generate"))
        self.generate_button.setObjectName("generate")
        self.generate_button.setDefault(True)
        self.generate_button.setMinimumHeight(32)
        self.generate_button.setStyleSheet("QPushButton { font-weight: bold; }")
        self.generate_button.clicked.connect(self.generate_requested)
        self.autogen = QCheckBox(tr("AutoGen"))
        self.autogen.setObjectName("autogen")
        self.autogen.setToolTip(tr("Keep making takes with fresh seeds until turned off"))
        self.autogen.toggled.connect(self.autogen_toggled)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.autogen)

        content = QWidget()
        col = QVBoxLayout(content)
        col.setContentsMargins(8, 6, 8, 8)
        col.addWidget(self.mode)
        col.addWidget(self.pages)
        col.addWidget(task_box)
        col.addWidget(model_box)
        col.addWidget(self.adapters_section)
        col.addWidget(self.advanced_section)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # fields wrap instead
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll, 1)
        footer = QVBoxLayout()
        footer.setContentsMargins(8, 0, 8, 8)
        footer.addWidget(place_box)
        footer.addWidget(self.preflight)
        footer.addWidget(self.general_error)
        footer.addLayout(buttons)
        outer.addLayout(footer)
        for form in self.findChildren(QFormLayout):
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.setMinimumWidth(380)
        self.mode.setCurrentIndex(CUSTOM)
        self._sync_task()
        self._sync_duration_hint(False)
        self.set_dit_models([])
        self.preflight.watch(self)  # any field change re-predicts (debounced)

    # --- pages ----------------------------------------------------------------------------
    def _simple_page(self) -> QWidget:
        tr = self.tr
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 6, 0, 0)
        self.description = QLineEdit()
        self.description.setObjectName("description")
        self.description.setPlaceholderText(tr("e.g. a rainy-day lofi beat with soft piano"))
        self.simple_instrumental = QCheckBox(tr("Instrumental (no vocals)"))
        self.simple_language = self._language_combo("simpleLanguage")
        self.write_button = QPushButton(tr("Write song details"))
        self.write_button.setObjectName("writeDetails")
        self.write_button.clicked.connect(self.simple_requested)
        self.errors.add_row(form, tr("Describe it"), self.description, "description")
        form.addRow("", self.simple_instrumental)
        form.addRow(tr("Vocal language"), self.simple_language)
        form.addRow("", self.write_button)
        form.addRow("", _hint(tr("The planner model writes a caption, lyrics, BPM, key and length; "
                                 "you review them in Custom, then Generate.")))
        return page

    def _custom_page(self) -> QWidget:
        tr = self.tr
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 6, 0, 0)
        self.caption = QPlainTextEdit()
        self.caption.setObjectName("caption")
        self.caption.setPlaceholderText(tr("Style, instruments, mood — e.g. lofi hip hop, warm Rhodes, vinyl crackle"))
        self.caption.setFixedHeight(58)
        self.lyrics = LyricsEditor()
        self.lyrics.format_requested.connect(self.format_requested)
        self.bpm = QLineEdit()
        self.bpm.setObjectName("bpm")
        self.bpm.setPlaceholderText(tr("auto"))
        self.keyscale = QComboBox()
        self.keyscale.setObjectName("keyscale")
        self.keyscale.addItem(tr("auto"), "")
        for key in KEY_CHOICES:
            self.keyscale.addItem(key, key)
        self.timesignature = QComboBox()
        self.timesignature.setObjectName("timesignature")
        self.timesignature.addItem(tr("auto"), "")
        for value, label in TIME_SIGNATURE_CHOICES:
            self.timesignature.addItem(label, value)
        self.language = self._language_combo("language")
        self.duration = QLineEdit()
        self.duration.setObjectName("duration")
        self.instrumental = QCheckBox(tr("Instrumental (no vocals)"))
        self.instrumental.setObjectName("instrumental")
        e = self.errors
        e.add_row(form, tr("Caption"), self.caption, "caption")
        e.add_row(form, tr("Lyrics"), self.lyrics, "lyrics")
        e.add_row(form, tr("BPM"), self.bpm, "bpm")
        e.add_row(form, tr("Key"), self.keyscale, "keyscale")
        e.add_row(form, tr("Time signature"), self.timesignature, "timesignature")
        e.add_row(form, tr("Vocal language"), self.language, "vocal_language")
        e.add_row(form, tr("Duration (s)"), self.duration, "duration")
        form.addRow("", self.instrumental)
        return page

    def _language_combo(self, name: str) -> QComboBox:
        combo = QComboBox()
        combo.setObjectName(name)
        combo.addItem(self.tr("any / unknown"), "unknown")
        for code in LANGUAGES:
            if code != "unknown":
                combo.addItem(code, code)
        return combo

    # --- syncing --------------------------------------------------------------------------
    def _sync_task(self) -> None:
        task = self.task.currentData()
        self._window_row.setEnabled(task == "repaint")
        self._strength_row.setEnabled(task == "cover")

    def _sync_model(self) -> None:
        variant = self.model.currentData(Qt.ItemDataRole.UserRole + 1) or ""
        self.model_info.setText(describe_variant(variant) if variant else self.tr(
            "No DiT model is installed. Choose a models folder in Settings (Generate ▸ Settings…)."))
        self.advanced.set_turbo(is_turbo(variant))

    def _sync_duration_hint(self, thinking: bool) -> None:
        self.duration.setPlaceholderText(self.tr("let the model decide") if thinking else
                                         self.tr("auto (30 s, or the source's length)"))

    def set_dit_models(self, models: list[tuple[str, str]]) -> None:
        """The installed DiT folders as (name, variant)."""
        from engine.models.discovery import DEFAULT_DIT

        current = self.model.currentData()
        self.model.clear()
        # The everyday model first: turbo (upstream's default), then the rest by name.
        for name, variant in sorted(models, key=lambda m: (m[0] != DEFAULT_DIT, not is_turbo(m[1]), m[0])):
            self.model.addItem(name, name)
            self.model.setItemData(self.model.count() - 1, variant, Qt.ItemDataRole.UserRole + 1)
            self.model.setItemData(self.model.count() - 1, describe_variant(variant), Qt.ItemDataRole.ToolTipRole)
        if current is not None:
            self.model.setCurrentIndex(max(0, self.model.findData(current)))
        self._sync_model()

    # --- values ---------------------------------------------------------------------------
    def fields(self) -> dict[str, Any]:
        """GenerationRequest keyword arguments (no source audio: the controller adds the asset).

        Raises ValidationError (naming the parameter) for text that is not a number.
        """
        out: dict[str, Any] = dict(
            task=self.task.currentData(),
            caption=self.caption.toPlainText().strip(),
            lyrics=self.lyrics.lyrics(),
            instrumental=self.instrumental.isChecked(),
            bpm=text_fields.optional_number(self.bpm.text(), "bpm", whole=True),
            keyscale=self.keyscale.currentData() or "",
            timesignature=self.timesignature.currentData() or "",
            vocal_language=self.language.currentData(),
            duration=text_fields.optional_number(self.duration.text(), "duration"),
        )
        if out["task"] == "repaint":
            out.update(repaint_start=self.repaint_start.value(), repaint_end=self.repaint_end.value())
        if out["task"] == "cover":
            out["audio_cover_strength"] = self.cover_strength.value() / 100.0
        out.update(self.advanced.changes())
        if self.adapters.rows:
            out["loras"] = self.adapters.specs()
        return out

    def model_name(self) -> str | None:
        return self.model.currentData()

    def placement_choice(self) -> str:
        return self.placement.currentData()

    def show_error(self, error: ValidationError | str) -> None:
        """Put the engine's message beside the field it names ('bpm: ...'), else at the bottom."""
        message = str(error)
        param, _, rest = message.partition(":")
        if not (rest and self.errors.show(param.strip(), message)):
            self.general_error.setText(message)
            self.general_error.show()

    def clear_errors(self) -> None:
        self.errors.clear()
        self.general_error.clear()
        self.general_error.hide()

    def error_text(self, param: str) -> str:
        return self.errors.message(param)

    def set_source(self, asset_id: str, name: str, task: str | None = None) -> None:
        self.source_asset = asset_id
        self.source_label.setText(name)
        if task is not None:
            self.task.setCurrentIndex(max(0, self.task.findData(task)))
        elif self.task.currentData() == "text2music":
            self.task.setCurrentIndex(self.task.findData("cover"))

    def clear_source(self) -> None:
        self.source_asset = None
        self.source_label.setText(self.tr("none — use “Use as source” on a take"))
        self.task.setCurrentIndex(0)
        self.source_cleared.emit()

    def apply_request(self, req) -> None:
        """Fill every field from a request ("Apply settings" on a take)."""
        self.mode.setCurrentIndex(CUSTOM)
        self.caption.setPlainText(req.caption)
        self.lyrics.set_lyrics("" if req.lyrics == "[Instrumental]" else req.lyrics)
        self.instrumental.setChecked(req.instrumental)
        self.bpm.setText("" if req.bpm is None else str(req.bpm))
        self.keyscale.setCurrentIndex(max(0, self.keyscale.findData(req.keyscale or "")))
        self.timesignature.setCurrentIndex(max(0, self.timesignature.findData(req.timesignature or "")))
        self.language.setCurrentIndex(max(0, self.language.findData(req.vocal_language)))
        self.duration.setText("" if req.duration is None else f"{req.duration:g}")
        if req.task in ("text2music", "cover", "repaint"):
            self.task.setCurrentIndex(max(0, self.task.findData(req.task)))
        self.repaint_start.setValue(req.repaint_start)
        if req.repaint_end and req.repaint_end > 0:
            self.repaint_end.setValue(req.repaint_end)
        self.cover_strength.setValue(round(req.audio_cover_strength * 100))
        self.advanced.apply(req)

    def apply_plan(self, caption: str, lyrics: str, metadata, instrumental: bool | None) -> None:
        """Fill Custom from the planner's simple/format result and switch to it for review."""
        self.mode.setCurrentIndex(CUSTOM)
        if caption:
            self.caption.setPlainText(caption)
        if lyrics:
            self.lyrics.set_lyrics(lyrics)
        if instrumental is not None:
            self.instrumental.setChecked(instrumental)
        if metadata.bpm is not None:
            self.bpm.setText(str(metadata.bpm))
        if metadata.keyscale:
            index = self.keyscale.findData(metadata.keyscale)
            if index < 0:
                self.keyscale.addItem(metadata.keyscale, metadata.keyscale)
                index = self.keyscale.count() - 1
            self.keyscale.setCurrentIndex(index)
        if metadata.timesignature:
            self.timesignature.setCurrentIndex(max(0, self.timesignature.findData(str(metadata.timesignature))))
        if metadata.language:
            self.language.setCurrentIndex(max(0, self.language.findData(metadata.language)))
        if metadata.duration is not None:
            self.duration.setText(f"{metadata.duration:g}")

    def set_busy(self, what: str | None) -> None:
        """Disable the planner buttons while a planner job for this panel runs."""
        self.write_button.setEnabled(what is None)
        self.lyrics.format_button.setEnabled(what is None)
