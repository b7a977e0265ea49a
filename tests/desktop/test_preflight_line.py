"""The Create panel's preflight line and the device display, driven through the real window.

The calibration is a hand-made one stored where the app looks (a temporary data dir), so the
numbers are known; the line must follow the form (debounced), a request that cannot fit must ask
"Run anyway" before anything is submitted, and the status bar / Settings show the chosen options.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop.panels import preflight_line
from engine.runtime import preflight as pf
from engine.settings import Settings, save_settings, settings_path

GB = 1024**3


def _calib(weights_bytes: int = 1 * GB) -> pf.Calibration:
    return pf.Calibration(
        key=f"test-{weights_bytes}", device="cpu", weights_bytes=weights_bytes, cfg_calibrated=False,
        memory_measured=True, text_encode=pf.StageCost(0.5, 0.0, 0.0, 0.0),
        diffusion_run=pf.StageCost(0.0, 0.0, 0.0, 0.0), diffusion_step=pf.StageCost(0.1, 0.01, 0.0, 1e5),
        vae_decode=pf.StageCost(0.1, 0.02, 0.0, 1e5), measured_at=0.0)


@pytest.fixture
def panel_window(window, tiny_checkpoints, tmp_path, monkeypatch, qtbot):
    monkeypatch.setenv("LEGATO_DATA_DIR", str(tmp_path / "data"))
    save_settings(Settings(checkpoints=str(tiny_checkpoints), device="cpu"))
    window.generation.refresh_models()
    submitted = []
    monkeypatch.setattr(window.bridge, "submit", lambda job: submitted.append(job) or f"job-{len(submitted)}")
    window.submitted = submitted
    panel = window.create_panel
    panel.caption.setPlainText("lofi piano")
    panel.duration.setText("30")
    panel.advanced.batch.setValue(1)
    yield window
    settings_path().unlink(missing_ok=True)


def _store(window, tiny_checkpoints, calib: pf.Calibration) -> None:
    folder = tiny_checkpoints / window.create_panel.model_name()
    pf.save_calibration(calib, alias=(pf.model_alias(folder, "cpu"), "turbo"))


def test_the_line_predicts_and_follows_the_form(panel_window, tiny_checkpoints, qtbot):
    window, line = panel_window, panel_window.create_panel.preflight
    line.refresh()
    assert "not measured" in line.text() and line.measure.isVisibleTo(window)
    _store(window, tiny_checkpoints, _calib())
    line.refresh()
    first = line.text()
    assert first.startswith("fits · about ") and not line.measure.isVisibleTo(window)
    # 8 steps x (0.1 + 0.01 x 750) + 0.5 + the decode tiles (0.1 + 0.02 x frames each) for 30 s
    vae = lambda frames: sum(0.1 + 0.02 * t for t in pf.decode_tiles(frames, 512, 64))  # noqa: E731
    assert line.result.seconds == pytest.approx(8 * (0.1 + 7.5) + 0.5 + vae(750), rel=1e-3)
    window.create_panel.duration.setText("60")  # typing re-predicts after the debounce
    qtbot.waitUntil(lambda: line.text() != first, timeout=3000)
    assert line.result.seconds == pytest.approx(8 * (0.1 + 15) + 0.5 + vae(1500), rel=1e-3)


def test_a_thinking_request_shows_the_planner_stage_once_measured(panel_window, tiny_checkpoints, qtbot):
    from engine.runtime import preflight_lm as pl

    window, line = panel_window, panel_window.create_panel.preflight
    _store(window, tiny_checkpoints, _calib())
    window.create_panel.advanced.thinking.setChecked(True)
    line.refresh()
    assert line.text().endswith(" + planner LM")  # not measured yet: said, not guessed
    lm = pl.LMCalibration(key="lm", device="cpu", weights_bytes=GB, load_s=2.0, call_s=0.1, per_token_s=0.02,
                          phase1_tokens=100, fixed_bytes=0.0, per_token_bytes=0.0, memory_measured=True,
                          measured_at=0.0)
    named = window.generation.build_request()[0].lm_model  # the LM the request names (None: the default)
    pl.save_lm_calibration(lm, pl.lm_alias(tiny_checkpoints, named, "cpu"))
    line.refresh()
    assert "planner LM" in line.text() and "~251 tokens" in line.text()  # 100 + 30 s x 5 codes + end


def test_a_request_that_cannot_fit_asks_before_it_runs(panel_window, tiny_checkpoints, qtbot, monkeypatch):
    window = panel_window
    _store(window, tiny_checkpoints, _calib(weights_bytes=10**15))
    window.create_panel.preflight.refresh()
    assert window.create_panel.preflight.text().startswith("needs ")
    answers = []
    monkeypatch.setattr(preflight_line, "ask_run_anyway", lambda parent, line: answers.append(line) or False)
    qtbot.mouseClick(window.create_panel.generate_button, Qt.MouseButton.LeftButton)
    assert answers and answers[0].startswith("needs ") and window.submitted == []  # cancelled: nothing runs
    monkeypatch.setattr(preflight_line, "ask_run_anyway", lambda parent, line: True)
    qtbot.mouseClick(window.create_panel.generate_button, Qt.MouseButton.LeftButton)
    (job,) = window.submitted
    assert job.kind == "generate" and job.force  # "Run anyway" forces past GenerateJob's own check


def test_a_request_that_fits_runs_without_asking(panel_window, tiny_checkpoints, qtbot, monkeypatch):
    window = panel_window
    _store(window, tiny_checkpoints, _calib())
    monkeypatch.setattr(preflight_line, "ask_run_anyway", lambda *a: pytest.fail("it fits: no question"))
    qtbot.mouseClick(window.create_panel.generate_button, Qt.MouseButton.LeftButton)
    (job,) = window.submitted
    assert not job.force


def test_measure_submits_a_calibration_job(panel_window, tiny_checkpoints):
    window = panel_window
    window.create_panel.preflight.refresh()
    window.create_panel.preflight.measure.click()
    (job,) = window.submitted
    assert job.kind == "calibrate" and job.model == window.create_panel.model_name()
    line = window.create_panel.preflight
    assert not line.measure.isEnabled()  # measuring
    from engine.jobs import JobCancelled

    # Cancelled from the job strip: Measure is offered again (it stayed greyed out before).
    window.bridge.job_event.emit(JobCancelled(job_id="job-1", reason="cancelled", was_running=True))
    assert line.measure.isEnabled() and "not measured" in line.text()


def test_status_bar_and_settings_show_the_chosen_options(window, qtbot):
    from desktop.settings_dialog import SettingsDialog
    from engine.runtime.options import RuntimeChoices
    from engine.runtime.report import device_report

    report = device_report("cpu", RuntimeChoices(compile="on", vae_device="cpu", dtype="float32"))
    assert report.options == "float32, no offload, full weights, compiled, CPU VAE"
    assert "compile on: Settings" in report.options_why
    from engine.jobs import JobFinished

    window._device_job = "dev"
    window._on_job_event(JobFinished(job_id="dev", result=report, elapsed_s=0.0))
    assert "compiled, CPU VAE" in window.device_label.text()
    assert "compile on: Settings" in window.device_label.toolTip()
    dialog = SettingsDialog(Settings(quantization="int8"), report.summary(), window)
    qtbot.addWidget(dialog)
    assert dialog.runtime["quantization"].currentData() == "int8"
    from engine.runtime.options import QUANTIZER_LABELS

    box = dialog.runtime["quantization"]  # the fast path's entry states its measured cost
    assert box.itemText(box.findData("int8-dynamic")) == QUANTIZER_LABELS["int8-dynamic"]
    dialog.runtime["offload"].setCurrentIndex(dialog.runtime["offload"].findData("on"))
    chosen = dialog.chosen()
    assert (chosen.offload, chosen.quantization, chosen.compile) == ("on", "int8", "auto")


def test_a_second_take_of_the_same_length_is_predicted_warm(panel_window, tiny_checkpoints, qtbot):
    """After a job, the line charges no new-shape extra for shapes the worker's pipeline has run."""
    import dataclasses
    from types import SimpleNamespace

    from engine.jobs import JobFinished

    window, line = panel_window, panel_window.create_panel.preflight
    _store(window, tiny_checkpoints, dataclasses.replace(
        _calib(), vae_new_shape=pf.StageCost(0.0, 0.01, 0.0, 0.0), diffusion_new_shape=pf.StageCost(2.0, 0.0, 0.0, 0.0)))
    line.refresh()
    cold = line.result.seconds
    # The worker's pipeline ran this 30 s take (750 frames: DiT 1 x 750, decode tiles 448 + 430).
    folder = tiny_checkpoints / window.create_panel.model_name()

    class RanPipeline:  # what publish_seen_shapes reads of the real one (weak-referenceable too)
        family = "turbo"
        models = SimpleNamespace(identities=(SimpleNamespace(path=folder),), device=SimpleNamespace(type="cpu"),
                                 dit=SimpleNamespace(shapes_seen={(1, 750)}),
                                 vae=SimpleNamespace(window_lengths_seen={448, 430}))

    ran = RanPipeline()
    pf.publish_seen_shapes(ran)
    window.bridge.job_event.emit(JobFinished(job_id="job-generate", result=None, elapsed_s=1.0))
    qtbot.waitUntil(lambda: line.result is not None and line.result.seconds < cold, timeout=3000)
    assert cold - line.result.seconds == pytest.approx(2.0 + 0.01 * (448 + 430), rel=1e-3)
    del ran
