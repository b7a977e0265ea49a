"""Settings: where the models are (ours, or an existing ACE-Step install), what is installed
there, and which device runs them. Saved with engine.settings, so the CLI uses the same folder."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop import dialogs
from engine.errors import LegatoError
from engine.settings import Settings

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("", "float32", "bfloat16", "float16")
# Runtime options (engine.runtime.options.CHOICES): "auto" follows the memory tier.
RUNTIME_CHOICES = (("offload", "Offload between stages"), ("quantization", "Weights"),
                   ("compile", "torch.compile"), ("vae_device", "VAE device"))


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, device_summary: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        tr = self.tr
        self.setObjectName("settingsDialog")
        self.setWindowTitle(tr("Settings"))
        self.resize(720, 480)
        self._settings = settings
        self.folder = QLineEdit(settings.checkpoints)
        self.folder.setObjectName("modelsFolder")
        self.folder.setPlaceholderText(tr("automatic"))
        self.folder.editingFinished.connect(self.refresh)
        browse = QPushButton(tr("Choose…"))
        browse.setObjectName("chooseModelsFolder")
        browse.clicked.connect(self._browse)
        automatic = QPushButton(tr("Automatic"))
        automatic.setToolTip(tr("Use $LEGATO_CHECKPOINTS, $ACESTEP_CHECKPOINTS_DIR, the app's models folder "
                                "or ./checkpoints, in that order"))
        automatic.clicked.connect(self._automatic)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        row.addWidget(automatic)
        self.resolved = QLabel()
        self.resolved.setObjectName("resolvedFolder")
        self.resolved.setWordWrap(True)
        self.resolved.setStyleSheet("color: #9aa4b2;")
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("installedModels")
        self.table.setHorizontalHeaderLabels([tr("Model"), tr("Kind"), tr("Variant"), tr("Status")])
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.device = QComboBox()
        self.device.setObjectName("deviceChoice")
        for name in DEVICES:
            self.device.addItem(tr("automatic") if name == "auto" else name, name)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.device or "auto")))
        self.dtype = QComboBox()
        for name in DTYPES:
            self.dtype.addItem(name or tr("the device's default"), name)
        self.dtype.setCurrentIndex(max(0, self.dtype.findData(settings.dtype)))
        from engine.runtime.options import CHOICES, QUANTIZER_LABELS

        self.runtime: dict[str, QComboBox] = {}
        for name, _ in RUNTIME_CHOICES:
            box = QComboBox()
            box.setObjectName(f"runtime_{name}")
            for value in CHOICES[name]:
                # quantisation modes show their label, which states what the fast path costs
                text = QUANTIZER_LABELS.get(value, value) if name == "quantization" else value
                box.addItem(tr("automatic") if value == "auto" else tr(text), value)
            box.setCurrentIndex(max(0, box.findData(getattr(settings, name) or "auto")))
            self.runtime[name] = box
        self.crossfade = QSpinBox()
        self.crossfade.setObjectName("crossfadeMs")
        self.crossfade.setRange(0, 500)
        self.crossfade.setSuffix(tr(" ms"))
        self.crossfade.setValue(round(settings.crossfade_frames() * 1000 / 48_000))
        self.crossfade.setToolTip(tr("Equal-power crossfade at the edges of a repainted region and at each comp cut"))
        self.detected = QLabel(device_summary or tr("checking…"))
        self.detected.setObjectName("detectedDevice")
        self.detected.setWordWrap(True)
        form = QFormLayout()
        form.addRow(tr("Models folder"), row)
        form.addRow("", self.resolved)
        form.addRow(tr("Device"), self.device)
        form.addRow(tr("Precision"), self.dtype)
        for name, label in RUNTIME_CHOICES:
            form.addRow(tr(label), self.runtime[name])
        form.addRow(tr("Detected"), self.detected)
        self.auto_score = QCheckBox(tr("Score new takes after each generation"))
        self.auto_score.setObjectName("scoreAfterGeneration")
        self.auto_score.setToolTip(tr("Judge every new take (lyrics fit, quality) and make its synced lyrics "
                                      "as soon as it lands; takes a few seconds more per batch"))
        self.auto_score.setChecked(settings.scores_after_generation)
        form.addRow(tr("Scoring"), self.auto_score)
        form.addRow(tr("Seam crossfade"), self.crossfade)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addLayout(form)
        col.addWidget(QLabel(tr("Installed there:")))
        col.addWidget(self.table, 1)
        col.addWidget(buttons)
        self.refresh()

    def set_device_summary(self, text: str, why: tuple[str, ...] = ()) -> None:
        """The detected device and the options chosen for it; `why` (one reason per option) is
        the tooltip."""
        self.detected.setText(text)
        self.detected.setToolTip("\n".join(why))

    def chosen(self) -> Settings:
        return self._settings.with_changes(checkpoints=self.folder.text().strip(),
                                           device=self.device.currentData(), dtype=self.dtype.currentData(),
                                           score_after_generation="on" if self.auto_score.isChecked() else "off",
                                           crossfade_ms=str(self.crossfade.value()),
                                           **{name: box.currentData() for name, box in self.runtime.items()})

    def _browse(self) -> None:
        path = dialogs.ask_models_folder(self, self.folder.text())
        if path:
            self.folder.setText(path)
            self.refresh()

    def _automatic(self) -> None:
        self.folder.clear()
        self.refresh()

    def refresh(self) -> None:
        """Show which folder the rule picks for the typed setting, and what is installed there."""
        from engine.models.discovery import find_checkpoints_dir, list_installed_models
        from engine.models.locations import resolve_checkpoints

        location = resolve_checkpoints(setting=self.folder.text().strip())
        self.table.setRowCount(0)
        try:
            models = list_installed_models(find_checkpoints_dir(location.path))
        except LegatoError as exc:
            self.resolved.setText(self.tr("{0} — {1}").format(location.describe(), exc))
            return
        self.resolved.setText(self.tr("Using {0}").format(location.describe()) if models else
                              self.tr("Using {0}: no models there yet").format(location.describe()))
        for m in models:
            r = self.table.rowCount()
            self.table.insertRow(r)
            status = self.tr("ready") if m.complete else self.tr("broken: {0}").format(m.problem)
            for c, text in enumerate((m.name, m.kind, m.variant or "—", status)):
                self.table.setItem(r, c, QTableWidgetItem(text))

    def installed_names(self) -> list[str]:
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount())]
