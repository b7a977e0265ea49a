"""Create panel + take inspector intents -> engine jobs; finished jobs -> one undoable command.

The panel only shows fields; this controller builds the GenerationRequest, has the engine
validate it (an error goes beside the field it names, and nothing is submitted), submits the
job through the bridge, and when the job finishes lands the takes with engine.studio — the same
code a headless script uses. A job remembers the project it was made for: if the musician opened
another project meanwhile, the result is dropped with a message, never landed in the wrong song.

Thread: main. Job events arrive through `EngineBridge.job_event` (queued onto the main thread).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from desktop import dialogs
from engine.errors import LegatoError, ValidationError
from engine.jobs import JobCancelled, JobEvent, JobFailed, JobFinished
from engine.studio.landing import batch_label
from engine.studio.placement import Placement

KIND_BATCH, KIND_MORE, KIND_RERENDER, KIND_SIMPLE, KIND_FORMAT = "batch", "more", "rerender", "simple", "format"


@dataclass
class PendingJob:
    """What to do with a job's result when it arrives."""

    kind: str
    project: Any  # the Project the job was made for
    request: Any = None  # GenerationRequest (generation kinds)
    placement: Placement | None = None
    clip_id: str | None = None
    take_id: str | None = None  # re-render: the take re-rendered
    item_index: int = 0
    extra_meta: dict[str, Any] = field(default_factory=dict)
    model: str | None = None


class GenerationController(QObject):
    """Signals:
        landed(str): a clip id that received takes (the window selects and shows it).
        batch_landed(str, tuple, object): a new batch's clip id, its take ids and the
            GenerationResult (its latents let "score after generation" skip a VAE encode).
        message(str): a one-line status for the status bar.
    """

    landed = Signal(str)
    batch_landed = Signal(str, object, object)
    message = Signal(str)
    _prepared = Signal(object)  # (pending, result, assets) from the hashing thread

    def __init__(self, window, bridge, panel, inspector, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.bridge = bridge
        self.panel = panel
        self.inspector = inspector
        self.pending: dict[str, PendingJob] = {}
        self.autogen = False
        self._installed_lms: list[str] = []
        # Budgets for the planner's simple/format jobs; None = upstream's. Only tests lower them
        # (the tiny LM never ends a caption on its own, so it would run to the 512-token cap).
        self.assist_options = None
        # Hashing a take's audio for the asset store costs ~65 ms per 30 s: done on a helper
        # thread (hashlib and numpy release the GIL), then landed here on the main thread.
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="legato-landing")
        self._prepared.connect(self._land_prepared, Qt.ConnectionType.QueuedConnection)
        bridge.job_event.connect(self.on_job_event)
        panel.generate_requested.connect(self.generate)
        panel.simple_requested.connect(self.write_from_description)
        panel.format_requested.connect(self.format_lyrics)
        panel.autogen_toggled.connect(self.set_autogen)
        panel.reference_clip_requested.connect(self.use_selected_clip_as_reference)
        panel.reference_file_requested.connect(self.choose_reference_file)
        inspector.apply_settings.connect(self.apply_settings)
        inspector.use_as_source.connect(self.use_as_source)
        inspector.rerender.connect(self.rerender)
        inspector.export_take.connect(self.export_take)

    # --- where models are --------------------------------------------------------------------
    @property
    def project(self):
        return self.window.project

    def settings(self):
        from engine.settings import load_settings

        return load_settings()

    def checkpoints(self):
        from engine.models.locations import resolve_checkpoints

        return resolve_checkpoints(setting=self.settings().checkpoints)

    def refresh_models(self) -> str:
        """Re-read what is installed; returns a one-line summary for the status bar."""
        from engine.models.discovery import find_checkpoints_dir, list_installed_models

        location = self.checkpoints()
        try:
            installed = [m for m in list_installed_models(find_checkpoints_dir(location.path)) if m.complete]
        except LegatoError:
            installed = []
        dits = [(m.name, m.variant) for m in installed if m.kind == "dit"]
        self._installed_lms = [m.name for m in installed if m.kind == "lm"]
        self.panel.set_dit_models(dits)
        self.panel.advanced.set_lm_models(self._installed_lms)
        if not dits:
            return self.tr("No models found in {0}. Choose a models folder in Generate ▸ Settings….").format(
                location.path)
        return self.tr("{0} model(s) in {1}").format(len(installed), location.path)

    # --- generate ----------------------------------------------------------------------------
    def build_request(self):
        """The validated request and the take meta naming project audio it uses.

        Raises ValidationError naming the parameter (shown beside its field by `generate`).
        """
        from engine.studio.session import with_project_audio
        from engine.tasks.request import GenerationRequest, validate_request

        fields = self.panel.fields()
        source = self.panel.source_asset if fields["task"] in ("cover", "repaint") else None
        if fields["task"] in ("cover", "repaint") and source is None and not fields.get("audio_codes"):
            raise ValidationError("source_audio: choose a source first: “Use as source” on a take in the inspector")
        request = GenerationRequest(**fields)
        request, extra = with_project_audio(self.project, request, source_asset=source,
                                            reference_asset=self.panel.advanced.reference_asset)
        validate_request(request)
        return request, extra

    def placement(self) -> Placement:
        from desktop.panels.create_panel import PLACE_AT_SELECTION

        if self.panel.placement_choice() != PLACE_AT_SELECTION:
            return Placement.new_track()
        selection = self.window.selection
        track_id = selection.track_id or self._selected_clip_track()
        if track_id is None:
            raise ValidationError("placement: select a track (a time range on one track, or a clip) first")
        start = selection.time_range.start if selection.time_range is not None else 0
        return Placement.on_track(track_id, int(start))

    def _selected_clip_track(self) -> str | None:
        ids = self.window.timeline.scene.selected_clip_ids()
        return self.project.clip(ids[0]).track_id if ids else None

    @Slot()
    def generate(self) -> str | None:
        """Validate and submit the panel's request; returns the job id (None: nothing submitted)."""
        self.panel.clear_errors()
        model = self.panel.model_name()
        try:
            if model is None:
                raise ValidationError(f"model: no DiT model is installed in {self.checkpoints().path}; "
                                      "choose your models folder in Generate ▸ Settings…")
            request, extra = self.build_request()
            placement = self.placement()
        except ValidationError as exc:
            self.panel.show_error(exc)
            return None
        return self._submit_generation(PendingJob(KIND_BATCH, self.project, request, placement,
                                                  extra_meta=extra, model=model))

    def _submit_generation(self, pending: PendingJob, label: str | None = None) -> str | None:
        from engine.studio.session import generation_job

        settings = self.settings()
        job = generation_job(pending.request, checkpoints=self.checkpoints().path, model=pending.model,
                             device=settings.device or "auto", dtype=settings.dtype or None,
                             label=label or batch_label(pending.request.caption, pending.request.batch_size))
        try:
            job_id = self.bridge.submit(job)
        except LegatoError as exc:
            self.panel.show_error(str(exc))
            return None
        self.pending[job_id] = pending
        return job_id

    @Slot(bool)
    def set_autogen(self, on: bool) -> None:
        """AutoGen: after each batch, queue the same settings with fresh seeds, until off."""
        self.autogen = on
        self.message.emit(self.tr("AutoGen on: new takes keep coming until you turn it off") if on
                          else self.tr("AutoGen off"))

    def _autogen_next(self, finished: PendingJob, clip_id: str) -> None:
        if not self.autogen or finished.project is not self.project or clip_id not in {c.id for c in self.project.clips()}:
            return
        request = finished.request.with_changes(seeds=None)  # fresh seeds, same settings
        more = PendingJob(KIND_MORE, self.project, request, clip_id=clip_id, extra_meta=finished.extra_meta,
                          model=finished.model)
        self._submit_generation(more, label=self.tr("AutoGen: {0}").format(
            batch_label(request.caption, request.batch_size, "more")))

    def cancel_running(self) -> bool:
        """Esc: stop the running job (True if one was asked to stop)."""
        from engine.jobs import JobState

        running = next((i.job_id for i in self.bridge.queue.jobs() if i.state is JobState.RUNNING), None)
        return running is not None and self.bridge.cancel(running)

    # --- planner assists ---------------------------------------------------------------------
    def _planner_root(self):
        root = self.checkpoints().path
        chosen = self.panel.advanced.lm_model.currentData()
        return root / chosen if chosen else root

    @Slot()
    def write_from_description(self) -> str | None:
        from engine.jobs.planning import CreateSampleJob

        self.panel.clear_errors()
        description = self.panel.description.text().strip()
        if not description:
            self.panel.show_error("description: describe the song in a few words first")
            return None
        if not self._installed_lms:
            self.panel.show_error(f"description: Simple mode needs a planner model (acestep-5Hz-lm-*), "
                                  f"and none is installed in {self.checkpoints().path}")
            return None
        language = self.panel.simple_language.currentData()
        job = CreateSampleJob(checkpoints=self._planner_root(), description=description,
                              instrumental=self.panel.simple_instrumental.isChecked(),
                              language=None if language == "unknown" else language,
                              device=self.settings().device or "auto", options=self.assist_options)
        return self._submit_assist(job, KIND_SIMPLE)

    @Slot()
    def format_lyrics(self) -> str | None:
        from engine.jobs.planning import FormatSampleJob
        from engine.planner.metadata import Metadata

        self.panel.clear_errors()
        if not self._installed_lms:
            self.panel.show_error("lyrics: Format needs a planner model (acestep-5Hz-lm-*), and none is installed")
            return None
        try:
            fields = self.panel.fields()
        except ValidationError as exc:
            self.panel.show_error(exc)
            return None
        metadata = Metadata(bpm=fields["bpm"], keyscale=fields["keyscale"] or None,
                            timesignature=fields["timesignature"] or None, duration=fields["duration"],
                            language=None if fields["vocal_language"] == "unknown" else fields["vocal_language"])
        job = FormatSampleJob(checkpoints=self._planner_root(), caption=fields["caption"], lyrics=fields["lyrics"],
                              metadata=metadata, device=self.settings().device or "auto",
                              options=self.assist_options)
        return self._submit_assist(job, KIND_FORMAT)

    def _submit_assist(self, job, kind: str) -> str | None:
        try:
            job_id = self.bridge.submit(job)
        except LegatoError as exc:
            self.panel.show_error(str(exc))
            return None
        self.pending[job_id] = PendingJob(kind, self.project)
        self.panel.set_busy(kind)
        return job_id

    # --- take inspector intents ----------------------------------------------------------------
    def _take(self, clip_id: str, take_id: str):
        return self.project.clip(clip_id).take(take_id)

    @Slot(str, str)
    def apply_settings(self, clip_id: str, take_id: str) -> None:
        from engine.studio.session import SOURCE_ASSET_KEY, request_from_take

        take = self._take(clip_id, take_id)
        try:
            request = request_from_take(self.project, take)
        except ValidationError as exc:
            self.message.emit(str(exc))
            return
        self.panel.apply_request(request)
        source = take.meta.get(SOURCE_ASSET_KEY)
        if source and source in self.project.assets:
            self.panel.set_source(source, self.project.assets[source].name or source, task=request.task)
        self.message.emit(self.tr("Loaded the settings of “{0}” into the Create panel").format(take.name))

    @Slot(str, str)
    def use_as_source(self, clip_id: str, take_id: str) -> None:
        take = self._take(clip_id, take_id)
        self.panel.set_source(take.asset_id, take.name or self.project.clip(clip_id).name)
        self.message.emit(self.tr("“{0}” is the source for Remix and Repaint").format(take.name))

    @Slot(str, str)
    def rerender(self, clip_id: str, take_id: str) -> str | None:
        from engine.studio.session import rerender_job

        take = self._take(clip_id, take_id)
        try:
            job, recipe = rerender_job(self.project, take, checkpoints=self.checkpoints().path)
            job_id = self.bridge.submit(job)
        except LegatoError as exc:
            self.message.emit(str(exc))
            return None
        self.pending[job_id] = PendingJob(KIND_RERENDER, self.project, recipe.request, clip_id=clip_id,
                                          take_id=take_id, item_index=recipe.item_index,
                                          extra_meta=recipe.extra_meta)
        return job_id

    @Slot(str, str)
    def export_take(self, clip_id: str, take_id: str) -> None:
        from engine.studio.session import export_take

        folder = dialogs.ask_take_export_folder(self.window)
        if not folder:
            return
        try:
            written = export_take(self.project, self._take(clip_id, take_id), folder)
        except LegatoError as exc:
            self.message.emit(str(exc))
            return
        self.message.emit(self.tr("Exported {0} and its settings").format(written.audio_path.name))

    @Slot()
    def use_selected_clip_as_reference(self) -> None:
        ids = self.window.timeline.scene.selected_clip_ids()
        if not ids:
            self.panel.show_error("reference_audio: select a clip on the timeline first")
            return
        clip = self.project.clip(ids[0])
        self.panel.advanced.set_reference_clip(clip.asset_id, clip.name or clip.active_take.name)

    @Slot()
    def choose_reference_file(self) -> None:
        path = dialogs.ask_audio_file(self.window, self.tr("Timbre reference"))
        if path:
            self.panel.advanced.reference_asset = None
            self.panel.advanced.reference.setText(path)

    # --- results -----------------------------------------------------------------------------
    @Slot(object)
    def on_job_event(self, event: JobEvent) -> None:
        pending = self.pending.get(event.job_id)
        if pending is None or not isinstance(event, JobFinished | JobFailed | JobCancelled):
            return
        del self.pending[event.job_id]
        if pending.kind in (KIND_SIMPLE, KIND_FORMAT):
            self.panel.set_busy(None)
        if isinstance(event, JobCancelled):
            self.message.emit(self.tr("Cancelled — nothing was added to the project"))
            return
        if isinstance(event, JobFailed):
            self.panel.show_error(event.message)
            self.message.emit(event.message)
            return
        if pending.kind == KIND_SIMPLE or pending.kind == KIND_FORMAT:
            result = event.result
            self.panel.apply_plan(result.caption, result.lyrics, result.metadata, result.instrumental)
            self.message.emit(self.tr("The planner filled in the song details: review them, then Generate"))
            return
        # The document is main-thread only: read the next take number here, not on the helper.
        number = 1
        if pending.kind in (KIND_MORE, KIND_RERENDER) and pending.clip_id in {c.id for c in pending.project.clips()}:
            number = len(pending.project.clip(pending.clip_id).takes) + 1
        self._hasher.submit(self._prepare, pending, event.result, number)

    def _prepare(self, pending: PendingJob, result, number: int) -> None:
        """Thread: the landing helper. Pure work on the immutable result, handed back by a signal."""
        from engine.studio.landing import prepare_assets
        from engine.studio.session import pick_item

        if pending.kind == KIND_RERENDER:
            result = pick_item(result, pending.item_index)
        try:
            self._prepared.emit((pending, result, prepare_assets(result, number)))
        except LegatoError as exc:
            self._prepared.emit((pending, exc, None))

    @Slot(object)
    def _land_prepared(self, prepared) -> None:
        pending, result, assets = prepared
        if isinstance(result, LegatoError):
            self.message.emit(str(result))
            return
        if pending.project is not self.project:
            self.message.emit(self.tr("A job finished for a project that is no longer open; its result was dropped"))
            return
        try:
            self._land(pending, result, assets)
        except LegatoError as exc:
            self.message.emit(str(exc))

    def shutdown(self) -> None:
        self._hasher.shutdown(wait=True)

    def _land(self, pending: PendingJob, result, assets) -> None:
        from engine.studio.landing import add_takes, land_batch

        if pending.kind == KIND_BATCH:
            landed = land_batch(self.project, result, pending.placement, extra_meta=pending.extra_meta,
                                assets=assets)
            clip_id = landed.clip_id
            new_ids = landed.take_ids
            if self.panel.advanced.lock_seeds.isChecked():
                self.panel.advanced.seeds.setText(", ".join(str(t.seed) for t in result.takes))
        elif pending.kind == KIND_RERENDER:
            clip_id = pending.clip_id
            original = self.project.clip(clip_id).take(pending.take_id)
            if "edit" in original.meta:  # a region edit's take lands like the original (same region)
                from engine.studio.regions import reland

                reland(self.project, clip_id, original, result, extra_meta=pending.extra_meta)
                new_ids = ()  # a region take: not a batch to score
            else:
                new_ids = add_takes(self.project, clip_id, result, extra_meta=pending.extra_meta, make_active=True,
                                    verb="Re-render", assets=assets)
        else:  # KIND_MORE (AutoGen)
            clip_id = pending.clip_id
            if clip_id not in {c.id for c in self.project.clips()}:
                self.message.emit(self.tr("The clip for these takes was deleted; AutoGen stopped"))
                return
            new_ids = add_takes(self.project, clip_id, result, extra_meta=pending.extra_meta, assets=assets)
        self.landed.emit(clip_id)
        if new_ids:
            self.batch_landed.emit(clip_id, tuple(new_ids), result)
        if pending.kind in (KIND_BATCH, KIND_MORE):
            self._autogen_next(pending, clip_id)
