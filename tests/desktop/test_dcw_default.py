"""The DCW box has three states: the model's default (engine: on for turbo), on, off."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.panels.advanced_options import AdvancedOptions
from desktop.panels.form_rows import FieldErrors
from engine.tasks.request import GenerationRequest


def test_dcw_box_defaults_to_the_models_choice_and_round_trips(qtbot):
    panel = AdvancedOptions(FieldErrors())
    qtbot.addWidget(panel)
    assert panel.dcw.checkState() == Qt.CheckState.PartiallyChecked
    assert panel.changes()["dcw_enabled"] is None  # the engine decides per model
    for value in (False, True, None):
        panel.apply(GenerationRequest(dcw_enabled=value))
        assert panel.changes()["dcw_enabled"] is value
