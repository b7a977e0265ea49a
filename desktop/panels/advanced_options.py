"""The Create panel's Advanced section: sampler, guidance, batch and seeds, thinking, references.

`changes()` returns GenerationRequest keyword arguments (text fields parsed by the engine's
own parsers, so a typo is a ValidationError naming the parameter); `apply(request)` fills the
widgets from a request ("Apply settings" on a take)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from desktop.panels.form_rows import FieldErrors, row_of
from engine.tasks import constants as C
from engine.tasks import text_fields

# The DCW box's three states <-> GenerationRequest.dcw_enabled (None = the model's default).
_DCW_FROM_STATE = {Qt.CheckState.PartiallyChecked: None, Qt.CheckState.Checked: True,
                   Qt.CheckState.Unchecked: False}
_STATE_FROM_DCW = {value: state for state, value in _DCW_FROM_STATE.items()}

# Controls a turbo DiT ignores (steps are fixed by its table, guidance is distilled in).
TURBO_IGNORED = ("steps", "guidance_scale", "cfg_interval_start", "cfg_interval_end", "guidance_method")


def _double(low: float, high: float, value: float, step: float = 0.05, decimals: int = 2) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    return box


class AdvancedOptions(QWidget):
    reference_clip_requested = Signal()  # "use the selected clip as the reference"
    reference_file_requested = Signal()

    def __init__(self, errors: FieldErrors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._errors = errors
        form = QFormLayout(self)
        form.setContentsMargins(8, 0, 0, 0)
        tr = self.tr

        self.steps = QSpinBox()
        self.steps.setObjectName("steps")
        self.steps.setRange(0, C.STEPS_RANGE[1])
        self.steps.setSpecialValueText(tr("auto (8 turbo, 32 base)"))
        self.shift = _double(*C.SHIFT_RANGE, 3.0, 0.5)
        self.method = QComboBox()
        self.method.addItem(tr("ODE (deterministic)"), "ode")
        self.method.addItem(tr("SDE (stochastic)"), "sde")
        self.guidance_scale = _double(*C.GUIDANCE_RANGE, 7.0, 0.5, 1)
        self.cfg_start = _double(0.0, 1.0, 0.0)
        self.cfg_end = _double(0.0, 1.0, 1.0)
        cfg_row = row_of(self.cfg_start, self.cfg_end)
        self.guidance_method = QComboBox()
        for label, value in ((tr("APG (default)"), "apg"), (tr("ADG"), "adg"), (tr("CFG"), "cfg")):
            self.guidance_method.addItem(label, value)
        # Three states: partly checked = the model's default (engine: on for turbo, off for
        # base/SFT, as the newest upstream); checked / unchecked force it.
        self.dcw = QCheckBox(tr("Wavelet correction (DCW)"))
        self.dcw.setTristate(True)
        self.dcw.setCheckState(Qt.CheckState.PartiallyChecked)
        self.dcw.setToolTip(tr("Partly checked: the model's default (on for turbo, off for base/SFT)"))
        self.timesteps = QLineEdit()
        self.timesteps.setObjectName("timesteps")
        self.timesteps.setPlaceholderText(tr("default schedule — or e.g. 1, 0.75, 0.5, 0.25"))
        self.batch = QSpinBox()
        self.batch.setObjectName("batch")
        self.batch.setRange(*C.BATCH_RANGE)
        self.batch.setValue(2)
        self.seeds = QLineEdit()
        self.seeds.setObjectName("seeds")
        self.seeds.setPlaceholderText(tr("random — or e.g. 1, 2, 3"))
        self.lock_seeds = QCheckBox(tr("Lock"))
        self.lock_seeds.setToolTip(tr("Keep the seeds of the last batch for the next one"))
        seeds_row = row_of((self.seeds, 1), self.lock_seeds)

        self.thinking = QCheckBox(tr("Let the planner model think (metadata + audio codes)"))
        self.thinking.setObjectName("thinking")
        self.lm_model = QComboBox()
        self.lm_model.setObjectName("lmModel")
        self.lm_temperature = _double(0.0, 2.0, 0.85)
        self.lm_cfg = _double(1.0, 5.0, 2.0, 0.1, 1)
        self.lm_top_k = QSpinBox()
        self.lm_top_k.setRange(0, 500)
        self.lm_top_k.setSpecialValueText(tr("off"))
        self.lm_top_p = _double(0.0, 1.0, 0.9)

        self.reference = QLineEdit()
        self.reference.setObjectName("referenceAudio")
        self.reference.setPlaceholderText(tr("none — a file, or the selected clip"))
        self.reference_asset: str | None = None  # set when the reference is a project clip
        self.reference.textEdited.connect(self._reference_typed)
        browse = QPushButton(tr("File…"))
        browse.clicked.connect(self.reference_file_requested)
        use_clip = QPushButton(tr("Selected clip"))
        use_clip.setObjectName("referenceFromClip")
        use_clip.clicked.connect(self.reference_clip_requested)
        ref_row = row_of((self.reference, 1), browse, use_clip)
        self.codes = QLineEdit()
        self.codes.setObjectName("audioCodes")
        self.codes.setPlaceholderText(tr("none — 5 Hz codes, e.g. from a take"))

        e = errors
        e.add_row(form, tr("Steps"), self.steps, "steps")
        e.add_row(form, tr("Shift"), self.shift, "shift")
        e.add_row(form, tr("Sampler"), self.method, "infer_method")
        e.add_row(form, tr("Guidance scale"), self.guidance_scale, "guidance_scale")
        e.add_row(form, tr("Guidance from / to"), cfg_row, "cfg_interval_start", "cfg_interval_end")
        e.add_row(form, tr("Guidance method"), self.guidance_method, "guidance_method")
        e.add_row(form, "", self.dcw, "dcw_mode", "dcw_scaler")
        e.add_row(form, tr("Custom timesteps"), self.timesteps, "timesteps")
        e.add_row(form, tr("Takes (batch)"), self.batch, "batch_size")
        e.add_row(form, tr("Seeds"), seeds_row, "seeds")
        e.add_row(form, "", self.thinking, "thinking")
        e.add_row(form, tr("Planner model"), self.lm_model, "lm_model")
        e.add_row(form, tr("LM temperature"), self.lm_temperature, "lm_temperature")
        e.add_row(form, tr("LM guidance"), self.lm_cfg, "lm_cfg_scale")
        e.add_row(form, tr("LM top-k / top-p"), row_of(self.lm_top_k, self.lm_top_p), "lm_top_k", "lm_top_p")
        e.add_row(form, tr("Timbre reference"), ref_row, "reference_audio")
        e.add_row(form, tr("Audio codes"), self.codes, "audio_codes")
        self._lm_widgets = (self.lm_model, self.lm_temperature, self.lm_cfg, self.lm_top_k, self.lm_top_p)
        self.thinking.toggled.connect(self._sync_thinking)
        self._sync_thinking(False)
        from engine.tasks.request import GenerationRequest

        self.apply(GenerationRequest())  # the engine's defaults, not a second copy of them here
        self.batch.setValue(2)  # a musician wants to choose between takes

    def _sync_thinking(self, on: bool) -> None:
        for w in self._lm_widgets:
            w.setEnabled(on and self.lm_model.count() > 0)

    def set_lm_models(self, names: list[str]) -> None:
        self.lm_model.clear()
        for name in names:
            self.lm_model.addItem(name, name)
        self.thinking.setEnabled(bool(names))
        if not names:
            self.thinking.setChecked(False)
            self.thinking.setToolTip(self.tr("No planner model (acestep-5Hz-lm-*) is installed"))
        self._sync_thinking(self.thinking.isChecked())

    def set_turbo(self, turbo: bool) -> None:
        """Grey out what a turbo model ignores."""
        for w in (self.steps, self.guidance_scale, self.cfg_start, self.cfg_end, self.guidance_method):
            w.setEnabled(not turbo)
            w.setToolTip(self.tr("A turbo model ignores this (8 fixed steps, no guidance)") if turbo else "")

    # --- values ---------------------------------------------------------------------------
    def changes(self) -> dict[str, Any]:
        """GenerationRequest keyword arguments. Raises ValidationError naming the parameter."""
        seeds_text = self.seeds.text().strip()
        out: dict[str, Any] = dict(
            steps=self.steps.value() or None,
            shift=self.shift.value(),
            infer_method=self.method.currentData(),
            guidance_scale=self.guidance_scale.value(),
            cfg_interval_start=self.cfg_start.value(),
            cfg_interval_end=self.cfg_end.value(),
            guidance_method=self.guidance_method.currentData(),
            dcw_enabled=_DCW_FROM_STATE[self.dcw.checkState()],
            timesteps=text_fields.float_list(self.timesteps.text(), "timesteps") or None,
            batch_size=self.batch.value(),
            seeds=None if seeds_text.lower() in ("", "random") else text_fields.int_list(seeds_text, "seeds"),
            thinking=self.thinking.isChecked(),
            lm_model=self.lm_model.currentData() if self.thinking.isChecked() else None,
            lm_temperature=self.lm_temperature.value(),
            lm_cfg_scale=self.lm_cfg.value(),
            lm_top_k=self.lm_top_k.value(),
            lm_top_p=self.lm_top_p.value(),
            audio_codes=text_fields.codes(self.codes.text()) or None,
        )
        ref = self.reference.text().strip()
        if self.reference_asset is None and ref:
            out["reference_audio"] = ref
        return out

    def apply(self, req) -> None:
        self.steps.setValue(req.steps or 0)
        self.shift.setValue(req.shift)
        self.method.setCurrentIndex(max(0, self.method.findData(req.infer_method)))
        self.guidance_scale.setValue(req.guidance_scale)
        self.cfg_start.setValue(req.cfg_interval_start)
        self.cfg_end.setValue(req.cfg_interval_end)
        self.guidance_method.setCurrentIndex(max(0, self.guidance_method.findData(req.guidance_method)))
        self.dcw.setCheckState(_STATE_FROM_DCW[req.dcw_enabled])
        self.timesteps.setText(", ".join(f"{t:g}" for t in req.timesteps) if req.timesteps else "")
        self.batch.setValue(req.batch_size)
        self.seeds.setText(", ".join(str(s) for s in req.seeds) if req.seeds else "")
        self.thinking.setChecked(req.thinking and self.thinking.isEnabled())
        if req.lm_model:
            self.lm_model.setCurrentIndex(max(0, self.lm_model.findData(req.lm_model)))
        self.lm_temperature.setValue(req.lm_temperature)
        self.lm_cfg.setValue(req.lm_cfg_scale)
        self.lm_top_k.setValue(req.lm_top_k)
        self.lm_top_p.setValue(req.lm_top_p)
        self.codes.setText(", ".join(str(c) for c in req.audio_codes) if req.audio_codes else "")
        ref = req.reference_audio
        self.reference_asset = None
        self.reference.setText(str(ref) if isinstance(ref, str) else "")

    def _reference_typed(self, _text: str) -> None:
        self.reference_asset = None  # typing a path replaces a chosen clip

    def set_reference_clip(self, asset_id: str, name: str) -> None:
        self.reference_asset = asset_id
        self.reference.setText(self.tr("clip: {0}").format(name))
