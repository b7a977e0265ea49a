"""Region gestures -> engine region edits -> ONE undoable command when the job finishes.

The timeline's range (or the selected clip) is resolved by the engine's rules
(`engine.studio.region_target`), which say which region actions are available and why the
others are not; the actions' enabled state and tooltips follow. An action opens the compact
dialog pre-filled from the clip's provenance and the project; Run builds the edit with
`engine.studio.regions` — the same functions a script calls — and submits its job through the
bridge (progress and cancel in the job strip). When the job finishes, the edit lands in the
project it was made for as one undo step; a failure or cancel adds nothing.

Thread: main.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from desktop.region.edit_dialog import DialogSetup, RegionEditDialog, action_title
from engine.errors import LegatoError, ValidationError
from engine.jobs import JobCancelled, JobEvent, JobFailed, JobFinished
from engine.studio.region_target import (
    ACTIONS,
    COMPLETE,
    EXTEND,
    EXTRACT,
    INTRO,
    LAYER,
    REMIX,
    REPAINT,
    RegionTarget,
    resolve_target,
)
from engine.studio.regions import DEFAULT_MARGIN_S
from engine.tasks.constants import DURATION_RANGE
from engine.timebase import SAMPLE_RATE, seconds_to_samples

BASE_TASKS = {LAYER: "lego", EXTRACT: "extract", COMPLETE: "complete"}
MODEL_LIMIT_S = DURATION_RANGE[1]  # the silence latent's length: the longest audio the DiT takes


def _tr(text: str) -> str:
    return QCoreApplication.translate("RegionController", text)


def _fmt(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{rest:06.3f}"


@dataclass
class PendingEdit:
    kind: str
    project: Any
    edit: Any  # engine.studio.regions.RegionEdit


class RegionController(QObject):
    """Signals: landed(list): ids of the clips that received the edit; message(str)."""

    landed = Signal(list)
    message = Signal(str)

    def __init__(self, window, bridge, actions, generation, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.bridge = bridge
        self.actions = actions
        self.generation = generation  # for checkpoints/settings and the Create panel's model
        self.pending: dict[str, PendingEdit] = {}
        self.dialog: RegionEditDialog | None = None
        bridge.job_event.connect(self.on_job_event)
        for kind, action in actions.by_task().items():
            action.triggered.connect(lambda _=False, kind=kind: self.open_dialog(kind))
        self.update_actions()

    @property
    def project(self):
        return self.window.project

    # --- what the selection allows --------------------------------------------------------
    def target(self) -> RegionTarget:
        sel = self.window.timeline.view.selection
        scene = self.window.timeline.scene
        clips = scene.selected_clip_ids()
        if sel is None or sel.length_s <= 0:
            return resolve_target(self.project, 0, 0, (), clips)
        tracks = [scene.track_id_of_lane(lane) for lane in range(sel.first_lane, sel.last_lane + 1)]
        return resolve_target(self.project, int(seconds_to_samples(sel.start_s)),
                              int(seconds_to_samples(sel.end_s)), [t for t in tracks if t], clips)

    def update_actions(self) -> None:
        if self.project is None:
            return
        target = self.target()
        for kind, action in self.actions.by_task().items():
            ok = target.available(kind)
            action.setEnabled(ok)
            tip = action.statusTip()
            action.setToolTip(tip if ok else _tr("{0} — {1}").format(tip, target.why_not(kind)))
        clip = self._selected_clip(target)
        self.actions.ab.setEnabled(clip is not None and len(clip.takes) > 1)
        self.actions.flatten.setEnabled(clip is not None and bool(clip.comp))
        self.actions.retake.setEnabled(clip is not None and "request" in _retake_source(clip).meta)

    # --- dialogs ------------------------------------------------------------------------------
    @Slot(str)
    def open_dialog(self, kind: str) -> RegionEditDialog | None:
        """Open the dialog for `kind` on the current selection (None if it does not apply)."""
        if kind not in ACTIONS or self.project is None:
            return None
        target = self.target()
        if not target.available(kind):
            self.message.emit(_tr("{0}: {1}").format(action_title(kind), target.why_not(kind)))
            return None
        dialog = RegionEditDialog(self._setup(kind, target), self.window)
        dialog.run_requested.connect(lambda: self._run(dialog, kind, target))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _setup(self, kind: str, target: RegionTarget) -> DialogSetup:
        from engine.studio.region_lyrics import has_synced_lyrics, take_region_lyrics
        from engine.studio.regions import base_model_needed, prefill

        project = self.project
        clip = project.clip(target.clip_id) if target.clip_id else None
        start_s, end_s = target.seconds
        name = (clip.name or clip.active_take.name) if clip is not None else ""
        if kind == EXTEND and clip is not None:
            where = _tr("{0} → {1}: {2:.1f} s more after “{3}”").format(
                _fmt(clip.end / SAMPLE_RATE), _fmt(end_s), (target.end - clip.end) / SAMPLE_RATE, name)
        elif kind == INTRO and clip is not None:
            where = _tr("{0:.1f} s before “{1}” (from {2})").format(
                (clip.position - target.start) / SAMPLE_RATE, name, _fmt(start_s))
        elif kind == REMIX and clip is not None:
            where = _tr("the whole of “{0}” ({1:.1f} s)").format(name, clip.length / SAMPLE_RATE)
        else:
            tracks = ", ".join(project.track(t).name for t in target.track_ids) or "—"
            where = _tr("{0} – {1} ({2:.1f} s) · {3}").format(_fmt(start_s), _fmt(end_s), end_s - start_s,
                                                                f"“{name}”" if kind == REPAINT and name else tracks)
        defaults = prefill(project, clip.id) if clip is not None else None
        region_lyrics = None
        lyrics_note = ""
        if kind == REPAINT and clip is not None:
            src0 = (max(target.start, clip.position) - clip.position + clip.source_offset) / SAMPLE_RATE
            src1 = (min(target.end, clip.end) - clip.position + clip.source_offset) / SAMPLE_RATE
            region_lyrics = take_region_lyrics(clip.active_take.meta, src0, src1) if src1 > src0 else None
            if region_lyrics is None and has_synced_lyrics(clip.active_take.meta):
                lyrics_note = _tr("This take's synced lyrics look unreliable (most lines at one moment), "
                                  "so the whole lyrics are shown")
        blocked = ""
        if kind in BASE_TASKS:
            blocked = base_model_needed(BASE_TASKS[kind], self.generation.checkpoints().path) or ""
        present = tuple(project.track(t).stem for t in target.track_ids if project.track(t).stem)
        clip_s = clip.length / SAMPLE_RATE if clip is not None else 30.0
        if kind == REPAINT:
            context_max = max(1.0, clip_s)  # each side of the window; "Whole clip" is the mode choice
        else:
            new_s = (target.end - clip.end if kind == EXTEND else clip.position - target.start) / SAMPLE_RATE \
                if clip is not None and kind in (EXTEND, INTRO) else 0.0
            context_max = max(1.0, min(clip_s, MODEL_LIMIT_S - new_s))
        return DialogSetup(
            kind=kind, where=where,
            caption=getattr(defaults, "caption", "") or "",
            lyrics=getattr(defaults, "lyrics", "") or "",
            bpm=getattr(defaults, "bpm", None) or int(round(project.tempo_bpm)),
            keyscale=getattr(defaults, "keyscale", "") or "",
            timesignature=getattr(defaults, "timesignature", "") or str(project.time_signature.numerator),
            region_lyrics=region_lyrics, lyrics_note=lyrics_note,
            context_max_s=context_max,
            context_default_s=min(context_max, 30.0 if kind != REPAINT else DEFAULT_MARGIN_S),
            blocked=blocked, present_stems=present)

    # --- run ------------------------------------------------------------------------------------
    def _run(self, dialog: RegionEditDialog, kind: str, target: RegionTarget) -> str | None:
        try:
            edit = self.build_edit(kind, target, dialog.values(), dialog.setup)
            job_id = self.bridge.submit(edit.job)
        except (LegatoError, ValueError) as exc:
            dialog.show_error(str(exc))
            return None
        self.pending[job_id] = PendingEdit(kind, self.project, edit)
        dialog.accept()
        self.message.emit(_tr("{0} started — follow it in the Jobs strip (Esc cancels)").format(action_title(kind)))
        return job_id

    def _run_settings(self) -> dict[str, Any]:
        settings = self.generation.settings()
        return {"checkpoints": self.generation.checkpoints().path, "device": settings.device or "auto",
                "dtype": settings.dtype or None}

    def build_edit(self, kind: str, target: RegionTarget, values: dict[str, Any], setup: DialogSetup):
        """The engine's region edit for the dialog's values (ValidationError names the field)."""
        from engine.studio import regions

        project = self.project
        run = self._run_settings()
        seed = _seed(values.get("seed", ""))
        metas = {"bpm": values.get("bpm"), "keyscale": values.get("keyscale", ""),
                 "timesignature": values.get("timesignature", "")}
        common = {"caption": values.get("caption", ""), "seed": seed, **metas, **run}
        if kind in (REPAINT, EXTEND, INTRO, REMIX):
            common["model"] = self.generation.panel.model_name()
        if kind == REPAINT:
            return regions.repaint_region(project, target.clip_id, target.start, target.end,
                                          lyrics=values.get("lyrics", ""), mode=values["mode"],
                                          strength=values["strength"], context=values.get("context", "bounded"),
                                          context_s=values.get("context_s"), crossfade=self.crossfade_frames(),
                                          **common)
        if kind == EXTEND:
            return regions.extend_clip(project, target.clip_id, target.end, context=values.get("context", "bounded"),
                                       context_s=values.get("context_s"), lyrics=values.get("lyrics", ""), **common)
        if kind == INTRO:
            return regions.add_intro(project, target.clip_id, target.start, context_s=values["context_s"],
                                     lyrics=values.get("lyrics", ""), **common)
        if kind == LAYER:
            start = self._snapped(target.start)
            return regions.add_layer(project, start, max(start + 1, target.end), values["instrument"], **common)
        if kind == EXTRACT:
            if not values.get("stems"):
                raise ValidationError("stems: tick at least one stem to extract")
            sources = [target.clip_id] if target.clip_id else list(target.track_ids)
            return regions.extract_stems(project, sources, target.start, target.end, values["stems"], **run,
                                         seed=seed)
        if kind == COMPLETE:
            if not values.get("stems"):
                raise ValidationError("stems: tick at least one instrument to generate")
            return regions.complete_tracks(project, list(target.track_ids), target.start, target.end,
                                           values["stems"], lyrics=values.get("lyrics", ""), **common)
        if kind == REMIX:
            extra = {"reference_audio": values["reference"]} if values.get("reference") else {}
            return regions.remix_clip(project, target.clip_id, strength=values["strength"],
                                      lyrics=values.get("lyrics", ""), **extra, **common)
        raise ValidationError(f"action: unknown region action {kind!r}")

    def crossfade_frames(self) -> int:
        """The seam crossfade (Settings; default 50 ms)."""
        return self.generation.settings().crossfade_frames(SAMPLE_RATE)

    def _snapped(self, frame: int) -> int:
        """A layer starts on the grid (when snapping is on), sample-exact."""
        timeline = self.window.timeline
        if not timeline.view.snap_enabled:
            return frame
        return int(seconds_to_samples(timeline.view.snap_fn(frame / SAMPLE_RATE)))

    # --- takes of a region: A/B, flatten, retake ------------------------------------------------
    def _selected_clip(self, target: RegionTarget | None = None):
        """The selected clip, else the one the range is about."""
        ids = self.window.timeline.scene.selected_clip_ids()
        if not ids:
            target = target or self.target()
            ids = [target.clip_id] if target.clip_id else []
        return self.project.clip(ids[0]) if ids and self.project.has_clip(ids[0]) else None

    @Slot()
    def ab_switch(self) -> bool:
        """A: switch between the selected clip's two most recent takes (one undo step)."""
        from engine.project.commands import ab_switch

        clip = self._selected_clip()
        if clip is None:
            self.message.emit(_tr("A/B: select a clip with two or more takes first"))
            return False
        try:
            switched = ab_switch(self.project, clip.id)
        except LegatoError as exc:
            self.message.emit(str(exc))
            return False
        if not switched:
            self.message.emit(_tr("A/B: this clip has only one take"))
        return switched

    @Slot()
    def flatten(self) -> str | None:
        from engine.project.commands import flatten_comp

        clip = self._selected_clip()
        if clip is None or not clip.comp:
            self.message.emit(_tr("Flatten: the selected clip has no comp to flatten"))
            return None
        try:
            take_id = flatten_comp(self.project, clip.id)
        except LegatoError as exc:
            self.message.emit(str(exc))
            return None
        self.message.emit(_tr("Flattened the comp into one take — Ctrl+Z undoes it"))
        return take_id

    @Slot()
    def retake(self) -> str | None:
        """A nearby variation of the take that plays (the newest region take in a comp)."""
        from engine.studio import regions

        clip = self._selected_clip()
        if clip is None:
            self.message.emit(_tr("Retake: select a generated clip first"))
            return None
        take = _retake_source(clip)
        try:
            edit = regions.retake(self.project, clip.id, take.id, checkpoints=self.generation.checkpoints().path)
            job_id = self.bridge.submit(edit.job)
        except LegatoError as exc:
            self.message.emit(str(exc))
            return None
        self.pending[job_id] = PendingEdit("retake", self.project, edit)
        return job_id

    # --- results -----------------------------------------------------------------------------------
    @Slot(object)
    def on_job_event(self, event: JobEvent) -> None:
        pending = self.pending.get(event.job_id)
        if pending is None or not isinstance(event, JobFinished | JobFailed | JobCancelled):
            return
        del self.pending[event.job_id]
        title = action_title(pending.kind) if pending.kind in ACTIONS else _tr("Retake")
        if isinstance(event, JobCancelled):
            self.message.emit(_tr("{0} cancelled — nothing was changed").format(title))
            return
        if isinstance(event, JobFailed):
            self.message.emit(_tr("{0} failed: {1}").format(title, event.message))
            return
        if pending.project is not self.project:
            self.message.emit(_tr("{0} finished for a project that is no longer open; its result was dropped")
                              .format(title))
            return
        try:
            landed = pending.edit.land(self.project, event.result)
        except LegatoError as exc:
            self.message.emit(str(exc))
            return
        self.landed.emit(list(landed.clip_ids))
        self.message.emit(_tr("{0} done: {1} — Ctrl+Z undoes it").format(title, _landed_text(landed)))


def _retake_source(clip):
    """The take Retake varies: the newest region take in the comp, else the take that plays."""
    return clip.take(clip.comp[-1].take_id) if clip.comp else clip.active_take


def _seed(text: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f"seed: must be a whole number (or empty for random), got {text!r}") from None


def _landed_text(landed) -> str:
    if landed.track_ids:
        return _tr("{0} new track(s)").format(len(landed.track_ids))
    return _tr("{0} new take(s)").format(len(landed.take_ids))


__all__ = ["RegionController"]
