"""The main window: menus, transport bar, the arrangement, the status bar.

It composes widgets and controllers and wires signals; the logic lives in the controllers
(edit: gestures -> commands; document: files; transport: playback), the data in the engine's
Project.
"""

from __future__ import annotations

from contextlib import nullcontext

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

import engine
from desktop.actions import Actions
from desktop.bridge import EngineBridge
from desktop.controllers.document_controller import DocumentController
from desktop.controllers.edit_controller import EditController
from desktop.controllers.generation_controller import GenerationController
from desktop.controllers.preflight_controller import PreflightController
from desktop.controllers.region_controller import RegionController
from desktop.controllers.transport_controller import TransportController
from desktop.generate_actions import GenerateActions
from desktop.panels.create_panel import CreatePanel
from desktop.panels.job_strip import JobStrip
from desktop.panels.take_inspector import TakeInspector
from desktop.region.actions import RegionActions
from desktop.theme import apply_dark_theme
from desktop.timeline.peaks_adapter import make_peak_service
from desktop.timeline.range_selection import TimeSelection
from desktop.timeline.timeline_widget import TimelineWidget
from desktop.widgets.transport_bar import TransportBar
from engine.project import Project, Selection
from engine.timebase import TimeRange, seconds_to_samples


class MainWindow(QMainWindow):
    def __init__(self, project: Project | None = None, *, autosave_dir=None, offer_recovery: bool = True,
                 player=None, bridge: EngineBridge | None = None) -> None:
        super().__init__()
        apply_dark_theme(self)
        self.resize(1440, 900)
        self.project: Project | None = None
        self.selection = Selection()

        self.peaks = make_peak_service(self)
        self.timeline = TimelineWidget(peaks=self.peaks)
        self.transport_bar = TransportBar()
        central = QWidget()
        col = QVBoxLayout(central)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(self.transport_bar)
        from desktop.timeline.take_lanes import TakeLanes

        self.take_lanes = TakeLanes(self.timeline.geometry_, self.timeline.view.horizontalScrollBar(), self.peaks)
        self.take_lanes.hide()
        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("arrangementSplit")
        split.addWidget(self.timeline)
        split.addWidget(self.take_lanes)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        self.arrangement_split = split
        col.addWidget(split, 1)
        self.setCentralWidget(central)
        self._position_label = QLabel()
        self.statusBar().addPermanentWidget(self._position_label)
        self.device_label = QLabel()
        self.device_label.setObjectName("deviceLabel")
        self.device_label.setStyleSheet("color: #9aa4b2; padding: 0 6px;")
        self.statusBar().addPermanentWidget(self.device_label)

        self.actions_ = Actions.build(self)
        self.generate_actions = GenerateActions.build(self)
        self.region_actions = RegionActions.build(self)
        self.edits = EditController(on_error=self.show_status)
        self.documents = DocumentController(self, autosave_dir=autosave_dir)
        self.transport = TransportController(self, player=player)
        self.bridge = bridge or EngineBridge(parent=self)
        self._owns_bridge = bridge is None
        self._build_docks()
        self.generation = GenerationController(self, self.bridge, self.create_panel, self.inspector, parent=self)
        self.preflight = PreflightController(self, self.bridge, self.generation, parent=self)
        from desktop.controllers.scoring_controller import ScoringController

        self.scoring = ScoringController(self, self.bridge, self.generation, self.inspector, self.lyrics_view,
                                         self.transport, parent=self)
        self.regions = RegionController(self, self.bridge, self.region_actions, self.generation, parent=self)
        self._build_menus()
        self._build_region_toolbar()
        self._wire()
        self._wire_generation()
        self._wire_regions()

        self.documents.set_project(project or Project(self.tr("Untitled")))
        models = self.generation.refresh_models()
        self.statusBar().showMessage(self.tr("{0} · {1}").format(self.transport.availability_message(), models))
        self._device_job = self._check_device()
        if offer_recovery and project is None:
            self.documents.offer_recovery()

    # --- project ---------------------------------------------------------------------------
    def bind_project(self, project: Project) -> None:
        """Point every view and controller at `project` (new, opened or recovered)."""
        if self.project is not None:
            self.project.history.changed.disconnect(self._on_history_changed)
            self.project.changed.disconnect(self._on_project_field)
        self.project = project
        self.selection.clear()
        self.edits.set_project(project)
        self.timeline.set_project(project)
        self.transport.set_project(project)
        self.transport_bar.set_grid(self.timeline.scene.grid)
        self.transport_bar.set_master_db(project.master_gain_db)
        project.history.changed.connect(self._on_history_changed)
        project.changed.connect(self._on_project_field)
        self._on_history_changed()
        self.inspector.show_clip(None)

    def _on_project_field(self, project, field) -> None:
        if field == "master_gain_db":
            self.transport_bar.set_master_db(project.master_gain_db)
        if field in ("tempo_bpm", "time_signature"):
            self.transport_bar.set_grid(self.timeline.scene.grid)
        self.update_title()

    def _on_history_changed(self) -> None:
        h = self.project.history
        a = self.actions_
        a.undo.setEnabled(h.can_undo)
        a.undo.setText(self.tr("&Undo {0}").format(h.undo_text) if h.can_undo else self.tr("&Undo"))
        a.redo.setEnabled(h.can_redo)
        a.redo.setText(self.tr("&Redo {0}").format(h.redo_text) if h.can_redo else self.tr("&Redo"))
        self.update_title()
        self._update_edit_actions()
        self._refresh_inspector()
        self.regions.update_actions()
        self._refresh_take_lanes()

    def update_title(self) -> None:
        if self.project is None:
            return
        dirty = "*" if not self.project.history.is_clean else ""
        self.setWindowTitle(self.tr("{0}{1} — Legato").format(self.project.name, dirty))

    def show_status(self, message: str, timeout_ms: int = 6000) -> None:
        self.statusBar().showMessage(message, timeout_ms)

    # --- menus -----------------------------------------------------------------------------
    def _build_menus(self) -> None:
        a = self.actions_
        bar = self.menuBar()
        self.file_menu: QMenu = bar.addMenu(self.tr("&File"))
        self.edit_menu: QMenu = bar.addMenu(self.tr("&Edit"))
        self.view_menu: QMenu = bar.addMenu(self.tr("&View"))
        self.generate_menu: QMenu = bar.addMenu(self.tr("&Generate"))
        self.help_menu: QMenu = bar.addMenu(self.tr("&Help"))
        self.quit_action = a.quit

        for action in (a.new, a.open, None, a.save, a.save_as, None, a.import_audio, a.export_mix,
                       a.export_stems, None, a.quit):
            self.file_menu.addSeparator() if action is None else self.file_menu.addAction(action)
        for action in (a.undo, a.redo, None, a.split, a.duplicate, a.delete, a.clear_selection, None, a.add_track):
            self.edit_menu.addSeparator() if action is None else self.edit_menu.addAction(action)
        for action in (a.zoom_in, a.zoom_out, a.zoom_fit, None, a.snap):
            self.view_menu.addSeparator() if action is None else self.view_menu.addAction(action)
        transport = self.view_menu.addMenu(self.tr("&Transport"))
        for action in (a.play, a.stop, a.loop):
            transport.addAction(action)
        g = self.generate_actions
        for action in (g.create, g.generate, g.autogen, None, g.previous_take, g.next_take, g.score_takes, None,
                       g.settings):
            self.generate_menu.addSeparator() if action is None else self.generate_menu.addAction(action)
        r = self.region_actions
        self.generate_menu.addSeparator()
        self.region_menu = self.generate_menu.addMenu(self.tr("Edit &Region"))
        for action in (r.repaint, r.extend, r.intro, None, r.layer, r.extract, r.complete, None, r.remix):
            self.region_menu.addSeparator() if action is None else self.region_menu.addAction(action)
        self.takes_menu = self.generate_menu.addMenu(self.tr("&Takes"))
        for action in (r.ab, r.lanes, r.flatten, r.retake):
            self.takes_menu.addAction(action)
        panels = self.view_menu.addMenu(self.tr("&Panels"))
        for dock in (self.create_dock, self.inspector_dock, self.models_dock, self.training_dock, self.jobs_dock,
                     self.lyrics_dock):
            panels.addAction(dock.toggleViewAction())
        about = QAction(self.tr("&About Legato"), self)
        about.triggered.connect(self._show_about)
        self.help_menu.addAction(about)
        a.snap.setChecked(True)

    def _build_region_toolbar(self) -> None:
        r = self.region_actions
        bar = QToolBar(self.tr("Edit with the model"), self)
        bar.setObjectName("regionToolbar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (r.repaint, r.extend, r.intro, r.layer, r.extract, r.complete, r.remix, None,
                       r.ab, r.lanes, r.flatten, r.retake):
            bar.addSeparator() if action is None else bar.addAction(action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.region_toolbar = bar

    def _wire_regions(self) -> None:
        r, regions = self.region_actions, self.regions
        r.ab.triggered.connect(regions.ab_switch)
        r.flatten.triggered.connect(regions.flatten)
        r.retake.triggered.connect(regions.retake)
        regions.message.connect(self.show_status)
        regions.landed.connect(self._on_region_landed)
        self.timeline.view.context_menu_requested.connect(self.show_region_menu)
        lanes = self.take_lanes
        r.lanes.toggled.connect(self.set_take_lanes_visible)
        lanes.closed.connect(lambda: r.lanes.setChecked(False))
        lanes.ab_button.clicked.connect(regions.ab_switch)
        lanes.flatten_button.clicked.connect(regions.flatten)
        lanes.retake_button.clicked.connect(regions.retake)
        lanes.painted.connect(self.edits.paint_comp)
        lanes.base_chosen.connect(self.edits.choose_take)

    def set_take_lanes_visible(self, on: bool) -> None:
        self.take_lanes.setVisible(on)
        self._refresh_take_lanes()
        if on:  # room for the strip's lanes, at most 40 % of the arrangement
            total = sum(self.arrangement_split.sizes())
            want = min(int(total * 0.4), self.take_lanes.sizeHint().height() + 8)
            self.arrangement_split.setSizes([max(1, total - want), want])

    def _refresh_take_lanes(self) -> None:
        if not self.take_lanes.isVisible() or self.project is None:
            return
        clip = self.single_selected_clip()
        item = self.timeline.scene.items_by_clip.get(clip.id) if clip is not None else None
        self.take_lanes.show_clip(self.project, clip, item.colour if item is not None else None)

    def region_menu_for_selection(self) -> QMenu:
        """The right-click menu: the region actions (disabled ones say why), then the takes."""
        self.regions.update_actions()
        r = self.region_actions
        menu = QMenu(self)
        menu.setObjectName("regionContextMenu")
        menu.setToolTipsVisible(True)
        for action in (r.repaint, r.extend, r.intro, None, r.layer, r.extract, r.complete, None, r.remix, None,
                       r.ab, r.lanes, r.flatten, r.retake, None, self.actions_.split, self.actions_.delete):
            menu.addSeparator() if action is None else menu.addAction(action)
        return menu

    def show_region_menu(self, global_pos) -> None:
        self.context_menu = self.region_menu_for_selection()
        self.context_menu.popup(global_pos)

    def _on_region_landed(self, clip_ids: list) -> None:
        if clip_ids:
            self.timeline.scene.select_clips(clip_ids)
        self._refresh_inspector()

    def _wire(self) -> None:
        a, tl, tb, view = self.actions_, self.timeline, self.transport_bar, self.timeline.view
        a.quit.triggered.connect(self.close)
        a.undo.triggered.connect(lambda: self.project.history.undo())
        a.redo.triggered.connect(lambda: self.project.history.redo())
        a.split.triggered.connect(self.split_at_playhead)
        a.delete.triggered.connect(lambda: self.edits.delete_clips(tl.scene.selected_clip_ids()))
        a.duplicate.triggered.connect(self.duplicate_selected)
        a.clear_selection.triggered.connect(self.escape)
        a.zoom_in.triggered.connect(tl.zoom_in)
        a.zoom_out.triggered.connect(tl.zoom_out)
        a.zoom_fit.triggered.connect(tl.zoom_to_fit)
        a.snap.toggled.connect(tl.set_snap_enabled)
        a.snap.toggled.connect(tb.snap_button.setChecked)
        tb.snap_toggled.connect(a.snap.setChecked)
        tb.zoom_in_clicked.connect(tl.zoom_in)
        tb.zoom_out_clicked.connect(tl.zoom_out)
        tb.master_gain_changed.connect(self.edits.set_master_gain)
        tb.master_slider.sliderReleased.connect(lambda: self.edits.end_slider_gesture("master"))

        view.clips_moved.connect(self.edits.move_clips)
        view.clip_trimmed.connect(self.edits.trim_clip)
        view.clip_fades_changed.connect(self.edits.set_fades)
        view.files_dropped.connect(self.documents.import_files)
        tl.selection_changed.connect(self._on_range_selection)
        tl.scene.selectionChanged.connect(self._on_clip_selection)
        tl.header_created.connect(self._wire_header)

        self.documents.wire_actions(a)
        self.transport.wire(a, tb, tl)

    def _wire_header(self, header) -> None:
        header.mute_toggled.connect(self.edits.set_mute)
        header.solo_toggled.connect(self.edits.set_solo)
        header.gain_changed.connect(self.edits.set_gain)
        header.pan_changed.connect(self.edits.set_pan)
        header.slider_released.connect(self.edits.end_slider_gesture)
        header.renamed.connect(self.edits.rename_track)

    # --- generation ----------------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.create_panel = CreatePanel()
        self.inspector = TakeInspector()
        self.job_strip = JobStrip()
        self.create_dock = self._dock("createDock", self.tr("Create"), self.create_panel,
                                      Qt.DockWidgetArea.RightDockWidgetArea)
        self.inspector_dock = self._dock("inspectorDock", self.tr("Takes"), self.inspector,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        self.jobs_dock = self._dock("jobsDock", self.tr("Jobs"), self.job_strip, Qt.DockWidgetArea.BottomDockWidgetArea)
        from desktop.panels.models_panel import ModelsPanel

        self.models_panel = ModelsPanel()
        self.models_dock = self._dock("modelsDock", self.tr("Models"), self.models_panel,
                                      Qt.DockWidgetArea.RightDockWidgetArea)
        from desktop.panels.lyrics_view import LyricsView

        self.lyrics_view = LyricsView()
        self.lyrics_dock = self._dock("lyricsDock", self.tr("Lyrics"), self.lyrics_view,
                                      Qt.DockWidgetArea.BottomDockWidgetArea)
        self.splitDockWidget(self.jobs_dock, self.lyrics_dock, Qt.Orientation.Horizontal)
        self.tabifyDockWidget(self.create_dock, self.inspector_dock)
        self.tabifyDockWidget(self.inspector_dock, self.models_dock)
        self._build_training_dock()
        self.create_dock.raise_()
        self.resizeDocks([self.create_dock], [420], Qt.Orientation.Horizontal)

    def _build_training_dock(self) -> None:
        """The LoRA Training panel; its finished adapter goes into the Create panel's list."""
        from desktop.panels.training_panel import TrainingPanel

        self.training_panel = TrainingPanel(self.bridge,
                                            selection=lambda: (self.project, sorted(self.selection.clip_ids)))
        self.training_dock = self._dock("trainingDock", self.tr("Training"), self.training_panel,
                                        Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.models_dock, self.training_dock)
        self.training_panel.load_adapter_requested.connect(self._load_adapter_in_create)

    def _load_adapter_in_create(self, path: str) -> None:
        if self.create_panel.adapters.add_adapter(path):
            self.create_panel.adapters_section.set_expanded(True)
            self.show_create_panel()

    def _dock(self, name: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _wire_generation(self) -> None:
        g, gen = self.generate_actions, self.generation
        g.create.triggered.connect(self.show_create_panel)
        g.generate.triggered.connect(gen.generate)
        g.autogen.toggled.connect(self.create_panel.autogen.setChecked)
        self.create_panel.autogen.toggled.connect(g.autogen.setChecked)
        g.previous_take.triggered.connect(lambda: self._step_takes(-1))
        g.next_take.triggered.connect(lambda: self._step_takes(1))
        g.settings.triggered.connect(self.open_settings)
        g.score_takes.triggered.connect(self.scoring.score_selected)
        self.scoring.message.connect(self.show_status)
        # A finished download changes what the Create panel can offer.
        self.models_panel.installed_changed.connect(lambda: self.show_status(self.generation.refresh_models()))
        self.bridge.job_event.connect(self.job_strip.on_job_event)
        self.bridge.job_event.connect(self._on_job_event)
        self.job_strip.cancel_requested.connect(self.bridge.cancel)
        self.timeline.view.take_step_requested.connect(self.edits.step_take)
        self.inspector.take_chosen.connect(self.edits.choose_take)
        gen.message.connect(self.show_status)
        gen.landed.connect(self._on_landed)

    def show_create_panel(self) -> None:
        self.create_dock.show()
        self.create_dock.raise_()
        self.create_panel.caption.setFocus()

    def _step_takes(self, delta: int) -> None:
        ids = self.timeline.scene.selected_clip_ids()
        with self.project.history.group(self.tr("Switch takes")) if len(ids) > 1 else nullcontext():
            for clip_id in ids:
                self.edits.step_take(clip_id, delta)

    def _on_landed(self, clip_id: str) -> None:
        self.timeline.scene.select_clips([clip_id])
        self._refresh_inspector()
        self.inspector_dock.show()

    def single_selected_clip(self):
        """The selected clip when exactly one (still in the project) is selected, else None."""
        ids = self.timeline.scene.selected_clip_ids()
        return self.project.clip(ids[0]) if len(ids) == 1 and self.project.has_clip(ids[0]) else None

    def _refresh_inspector(self) -> None:
        self.inspector.show_clip(self.single_selected_clip())  # a no-op when that clip's takes are already shown

    def escape(self) -> None:
        """Esc stops the running job first; with nothing running it clears the selection."""
        if self.generation.cancel_running():
            self.show_status(self.tr("Stopping the running job…"))
            return
        self.clear_selection()

    def _check_device(self) -> str | None:
        from engine.runtime.report import DeviceReportJob

        self._device_report = None
        return self.bridge.submit(DeviceReportJob(requested=self.generation.settings().device or "auto"))

    @Slot(object)
    def _on_job_event(self, event) -> None:
        from engine.jobs import JobFinished

        if event.job_id == getattr(self, "_device_job", None) and isinstance(event, JobFinished):
            self._device_report = event.result
            self.device_label.setText(event.result.summary())
            self.device_label.setToolTip(event.result.problem or "\n".join(
                (self.tr("The device generation runs on, and the options chosen for it:"), *event.result.options_why)))
            self.create_panel.preflight.schedule()  # the device kind picks the calibration

    def open_settings(self):
        from desktop.settings_dialog import SettingsDialog
        from engine.settings import save_settings

        report = getattr(self, "_device_report", None)
        dialog = SettingsDialog(self.generation.settings(), report.summary() if report else "", self)
        if report is not None:
            dialog.set_device_summary(report.summary(), report.options_why)
        dialog.accepted.connect(lambda: (save_settings(dialog.chosen()),
                                         self.show_status(self.generation.refresh_models()),
                                         self.models_panel.set_checkpoints(None),
                                         setattr(self, "_device_job", self._check_device())))
        dialog.open()
        return dialog

    # --- selection ---------------------------------------------------------------------------
    def _on_range_selection(self, sel: TimeSelection | None) -> None:
        if sel is None or sel.length_s <= 0:
            self.selection.set_time_range(None)
            self.transport_bar.set_selection_text(self.tr("No selection"))
        else:
            rng = TimeRange(int(seconds_to_samples(sel.start_s)), int(seconds_to_samples(sel.end_s)))
            track = self.timeline.scene.track_id_of_lane(sel.first_lane) if sel.first_lane == sel.last_lane else None
            self.selection.set_time_range(rng, track or None)
            self.transport_bar.set_selection_text(sel.describe(self.timeline.scene.grid))
        self.transport.on_selection_changed(sel)
        self._update_edit_actions()
        self.regions.update_actions()

    def _on_clip_selection(self) -> None:
        self.selection.set_clips(self.timeline.scene.selected_clip_ids())
        self._update_edit_actions()
        self._refresh_inspector()
        self.regions.update_actions()
        self._refresh_take_lanes()

    def _update_edit_actions(self) -> None:
        has_clips = bool(self.timeline.scene.selected_clip_ids())
        self.actions_.delete.setEnabled(has_clips)
        self.actions_.duplicate.setEnabled(has_clips)
        self.actions_.split.setEnabled(bool(self.project and self.project.clips()))

    def clear_selection(self) -> None:
        self.timeline.scene.clearSelection()
        self.timeline.view.set_selection(None)

    def split_at_playhead(self) -> None:
        self.edits.split_at(self.transport.position_s(), self.timeline.scene.selected_clip_ids())

    def duplicate_selected(self) -> None:
        new_ids = self.edits.duplicate_clips(self.timeline.scene.selected_clip_ids())
        if new_ids:
            self.timeline.scene.select_clips(new_ids)

    # --- closing -----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.documents.maybe_save(self.tr("Close")):
            event.ignore()
            return
        self.transport.shutdown()
        self.scoring.shutdown()
        self.documents.shutdown()
        self.peaks.shutdown()
        if self._owns_bridge:
            self.bridge.shutdown()
        self.generation.shutdown()
        self.models_panel.cancel()
        self.models_panel.wait(10)
        event.accept()

    def _show_about(self) -> None:
        QMessageBox.about(
            self,
            self.tr("About Legato"),
            self.tr("Legato {0}\nA music workstation around ACE-Step 1.5, running locally.").format(engine.__version__),
        )


__all__ = ["MainWindow", "Qt"]
