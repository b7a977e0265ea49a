"""Scoring in the app: "Score takes" (Generate menu, Takes panel), score-after-generation, and
the lyrics view following the playhead.

A scoring job is built by engine.studio.scoring on the main thread (it reads the document),
runs on the engine worker like every job, and its results land as ONE undo step
(`apply_scores`). A result for a project that is no longer open is dropped.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from engine.errors import LegatoError
from engine.timebase import SAMPLE_RATE

FOLLOW_INTERVAL_MS = 50  # the lyrics view's highlight follows the playhead at 20 Hz


class ScoringController(QObject):
    """Signals: message(str) a one-line status for the status bar."""

    message = Signal(str)

    def __init__(self, window, bridge, generation, inspector, lyrics_view, transport,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.bridge = bridge
        self.generation = generation
        self.inspector = inspector
        self.lyrics_view = lyrics_view
        self.transport = transport
        self.pending: dict[str, tuple[object, list[tuple[str, str]]]] = {}
        bridge.job_event.connect(self.on_job_event)
        inspector.score_takes.connect(self.score_clip)
        generation.batch_landed.connect(self.on_batch_landed)
        lyrics_view.seek_requested.connect(transport.seek)
        self._timer = QTimer(self)
        self._timer.setInterval(FOLLOW_INTERVAL_MS)
        self._timer.timeout.connect(self.follow)
        self._timer.start()

    @property
    def project(self):
        return self.window.project

    # --- starting jobs ------------------------------------------------------------------------
    def _options(self) -> dict:
        settings = self.generation.settings()
        return {"checkpoints": self.generation.checkpoints().path, "device": settings.device or "auto"}

    def score_selected(self) -> str | None:
        clip = self.inspector.clip
        if clip is None:
            self.message.emit(self.tr("Select a clip to score its takes"))
            return None
        return self.score_clip(clip.id)

    def score_clip(self, clip_id: str) -> str | None:
        from engine.studio.scoring import score_job, scoreable

        refs = [(clip_id, t.id) for t in self.project.clip(clip_id).takes if scoreable(self.project, clip_id, t.id)]
        if not refs:
            self.message.emit(self.tr("Only generated takes can be scored; this clip has none"))
            return None
        try:
            job = score_job(self.project, refs, **self._options())
        except LegatoError as exc:
            self.message.emit(str(exc))
            return None
        return self._submit(job, refs)

    @Slot(str, object, object)
    def on_batch_landed(self, clip_id: str, take_ids, result) -> None:
        if not self.generation.settings().scores_after_generation:
            return
        from engine.studio.scoring import score_job_for_batch

        try:
            job = score_job_for_batch(self.project, clip_id, list(take_ids), result, **self._options())
        except LegatoError as exc:
            self.message.emit(str(exc))
            return
        self._submit(job, [(clip_id, t) for t in take_ids])

    def _submit(self, job, refs) -> str:
        job_id = self.bridge.submit(job)
        self.pending[job_id] = (self.project, refs)
        self.message.emit(self.tr("Scoring {0} take(s)…").format(len(refs)))
        return job_id

    # --- results ------------------------------------------------------------------------------
    @Slot(object)
    def on_job_event(self, event) -> None:
        from engine.jobs import JobCancelled, JobFailed, JobFinished

        if event.job_id not in self.pending or not isinstance(event, JobFinished | JobFailed | JobCancelled):
            return
        project, refs = self.pending.pop(event.job_id)
        if isinstance(event, JobCancelled):
            self.message.emit(self.tr("Scoring cancelled — the takes keep their old scores"))
            return
        if isinstance(event, JobFailed):
            self.message.emit(self.tr("Scoring failed: {0}").format(event.message))
            return
        if project is not self.project:
            self.message.emit(self.tr("Scores for a project that is no longer open were dropped"))
            return
        from engine.studio.scoring import apply_scores

        apply_scores(project, refs, event.result)
        best = max((s.alignment if s.alignment is not None else (s.quality or 0.0)) for s in event.result)
        self.message.emit(self.tr("Scored {0} take(s); the best scores {1} out of 100").format(
            len(refs), round(100 * best)))

    # --- the lyrics view ----------------------------------------------------------------------
    def follow(self) -> None:
        """Show the inspected clip's active take's LRC and highlight the line at the playhead."""
        clip = self.inspector.clip
        if clip is None or self.project is None or clip.id not in {c.id for c in self.project.clips()}:
            self.lyrics_view.show_lyrics("")
            return
        take = clip.active_take
        self.lyrics_view.show_lyrics(str(take.meta.get("lrc") or ""), clip.position / SAMPLE_RATE,
                                     clip.source_offset / SAMPLE_RATE, clip.length / SAMPLE_RATE,
                                     self.tr("{0} — click a line to play from there").format(take.name or clip.name))
        self.lyrics_view.set_position(self.transport.position_s())

    def shutdown(self) -> None:
        self._timer.stop()
