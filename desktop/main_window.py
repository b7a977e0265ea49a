"""The main window: menus, transport bar, the arrangement, the status bar.

It composes widgets and controllers and wires signals; the logic lives in the controllers
(edit: gestures -> commands; document: files; transport: playback), the data in the engine's
Project.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QMessageBox, QVBoxLayout, QWidget

import engine
from desktop.actions import Actions
from desktop.controllers.document_controller import DocumentController
from desktop.controllers.edit_controller import EditController
from desktop.controllers.transport_controller import TransportController
from desktop.theme import apply_dark_theme
from desktop.timeline.peaks_adapter import make_peak_service
from desktop.timeline.range_selection import TimeSelection
from desktop.timeline.timeline_widget import TimelineWidget
from desktop.widgets.transport_bar import TransportBar
from engine.project import Project, Selection
from engine.timebase import TimeRange, seconds_to_samples


class MainWindow(QMainWindow):
    def __init__(self, project: Project | None = None, *, autosave_dir=None, offer_recovery: bool = True,
                 player=None) -> None:
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
        col.addWidget(self.timeline, 1)
        self.setCentralWidget(central)
        self._position_label = QLabel()
        self.statusBar().addPermanentWidget(self._position_label)

        self.actions_ = Actions.build(self)
        self.edits = EditController(on_error=self.show_status)
        self.documents = DocumentController(self, autosave_dir=autosave_dir)
        self.transport = TransportController(self, player=player)
        self._build_menus()
        self._wire()

        self.documents.set_project(project or Project("Untitled"))
        self.statusBar().showMessage(self.transport.availability_message())
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
        a.undo.setText(f"&Undo {h.undo_text}" if h.can_undo else "&Undo")
        a.redo.setEnabled(h.can_redo)
        a.redo.setText(f"&Redo {h.redo_text}" if h.can_redo else "&Redo")
        self.update_title()
        self._update_edit_actions()

    def update_title(self) -> None:
        if self.project is None:
            return
        dirty = "*" if not self.project.history.is_clean else ""
        self.setWindowTitle(f"{self.project.name}{dirty} — Legato")

    def show_status(self, message: str, timeout_ms: int = 6000) -> None:
        self.statusBar().showMessage(message, timeout_ms)

    # --- menus -----------------------------------------------------------------------------
    def _build_menus(self) -> None:
        a = self.actions_
        bar = self.menuBar()
        self.file_menu: QMenu = bar.addMenu("&File")
        self.edit_menu: QMenu = bar.addMenu("&Edit")
        self.view_menu: QMenu = bar.addMenu("&View")
        self.generate_menu: QMenu = bar.addMenu("&Generate")
        self.help_menu: QMenu = bar.addMenu("&Help")
        self.quit_action = a.quit

        for action in (a.new, a.open, None, a.save, a.save_as, None, a.import_audio, a.export_mix,
                       a.export_stems, None, a.quit):
            self.file_menu.addSeparator() if action is None else self.file_menu.addAction(action)
        for action in (a.undo, a.redo, None, a.split, a.duplicate, a.delete, a.clear_selection, None, a.add_track):
            self.edit_menu.addSeparator() if action is None else self.edit_menu.addAction(action)
        for action in (a.zoom_in, a.zoom_out, a.zoom_fit, None, a.snap):
            self.view_menu.addSeparator() if action is None else self.view_menu.addAction(action)
        transport = self.view_menu.addMenu("&Transport")
        for action in (a.play, a.stop, a.loop):
            transport.addAction(action)
        pending = QAction("Generation arrives with the model panels", self)
        pending.setEnabled(False)
        self.generate_menu.addAction(pending)
        about = QAction("&About Legato", self)
        about.triggered.connect(self._show_about)
        self.help_menu.addAction(about)
        a.snap.setChecked(True)

    def _wire(self) -> None:
        a, tl, tb, view = self.actions_, self.timeline, self.transport_bar, self.timeline.view
        a.quit.triggered.connect(self.close)
        a.undo.triggered.connect(lambda: self.project.history.undo())
        a.redo.triggered.connect(lambda: self.project.history.redo())
        a.split.triggered.connect(self.split_at_playhead)
        a.delete.triggered.connect(lambda: self.edits.delete_clips(tl.scene.selected_clip_ids()))
        a.duplicate.triggered.connect(self.duplicate_selected)
        a.clear_selection.triggered.connect(self.clear_selection)
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

    # --- selection ---------------------------------------------------------------------------
    def _on_range_selection(self, sel: TimeSelection | None) -> None:
        if sel is None or sel.length_s <= 0:
            self.selection.set_time_range(None)
            self.transport_bar.set_selection_text("No selection")
        else:
            rng = TimeRange(int(seconds_to_samples(sel.start_s)), int(seconds_to_samples(sel.end_s)))
            track = self.timeline.scene.track_id_of_lane(sel.first_lane) if sel.first_lane == sel.last_lane else None
            self.selection.set_time_range(rng, track or None)
            self.transport_bar.set_selection_text(sel.describe(self.timeline.scene.grid))
        self.transport.on_selection_changed(sel)
        self._update_edit_actions()

    def _on_clip_selection(self) -> None:
        self.selection.set_clips(self.timeline.scene.selected_clip_ids())
        self._update_edit_actions()

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
        if not self.documents.maybe_save("Close"):
            event.ignore()
            return
        self.transport.shutdown()
        self.documents.shutdown()
        self.peaks.shutdown()
        event.accept()

    def _show_about(self) -> None:
        QMessageBox.about(
            self,
            "About Legato",
            f"Legato {engine.__version__}\nA music workstation around ACE-Step 1.5, running locally.",
        )


__all__ = ["MainWindow", "Qt"]
