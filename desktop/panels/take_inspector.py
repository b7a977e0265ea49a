"""The take inspector: everything about the selected clip's takes, and what to do with one.

It reads `Take.meta` (the provenance engine.studio stored) and emits intents with the clip and
take ids; the generation controller acts on them (Apply settings, Use as source, Re-render,
Export take) and the edit controller switches the active take.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.panels import score_text
from engine.project.model import Clip, Take
from engine.studio.scoring import take_score

TS_LABELS = {"2": "2/4", "3": "3/4", "4": "4/4", "6": "6/8"}


def _value(label: QLabel) -> QLabel:
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class TakeInspector(QWidget):
    take_chosen = Signal(str, str)  # clip id, take id
    apply_settings = Signal(str, str)
    use_as_source = Signal(str, str)
    rerender = Signal(str, str)
    export_take = Signal(str, str)
    score_takes = Signal(str)  # clip id: judge every generated take of the clip

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        tr = self.tr
        self.clip: Clip | None = None
        self._shown_state: tuple | None = None  # what show_clip last drew (clip id, takes, active, name)
        self.heading = QLabel(tr("Select a clip to see its takes."))
        self.heading.setObjectName("inspectorHeading")
        self.heading.setWordWrap(True)
        self.heading.setStyleSheet("font-weight: bold;")
        self.takes = QListWidget()
        self.takes.setObjectName("takeList")
        self.takes.setMaximumHeight(130)
        self.takes.itemClicked.connect(self._clicked)
        self.sort_by_score = QCheckBox(tr("Best score first"))
        self.sort_by_score.setObjectName("sortByScore")
        self.sort_by_score.setToolTip(tr("List the takes by their score (lyrics fit, else quality); "
                                         "unscored takes come last"))
        self.sort_by_score.toggled.connect(lambda _on: self._refill())

        self.caption = _value(QLabel())
        self.caption.setObjectName("takeCaption")
        self.lyrics = QPlainTextEdit()
        self.lyrics.setObjectName("takeLyrics")
        self.lyrics.setReadOnly(True)
        self.lyrics.setMaximumHeight(110)
        self.metas = _value(QLabel())
        self.metas.setObjectName("takeMetas")
        self.seed = _value(QLabel())
        self.seed.setObjectName("takeSeed")
        self.model = _value(QLabel())
        self.model.setObjectName("takeModel")
        self.steps = _value(QLabel())
        self.timings = _value(QLabel())
        self.timings.setObjectName("takeTimings")
        self.scores = _value(QLabel())
        self.scores.setObjectName("takeScores")
        details = QWidget()
        form = QFormLayout(details)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(tr("Score"), self.scores)
        form.addRow(tr("Caption"), self.caption)
        form.addRow(tr("Lyrics"), self.lyrics)
        form.addRow(tr("Song"), self.metas)
        form.addRow(tr("Seed"), self.seed)
        form.addRow(tr("Model"), self.model)
        form.addRow(tr("Steps"), self.steps)
        form.addRow(tr("Time"), self.timings)
        self.details = details

        self.apply_button = QPushButton(tr("Apply settings"))
        self.apply_button.setObjectName("applySettings")
        self.apply_button.setToolTip(tr("Load this take's settings into the Create panel"))
        self.source_button = QPushButton(tr("Use as source"))
        self.source_button.setObjectName("useAsSource")
        self.source_button.setToolTip(tr("Remix or repaint this take from the Create panel"))
        self.rerender_button = QPushButton(tr("Re-render"))
        self.rerender_button.setObjectName("rerender")
        self.rerender_button.setToolTip(tr("Make this take again, exactly, as a new take"))
        self.export_button = QPushButton(tr("Export take…"))
        self.export_button.setObjectName("exportTake")
        self.export_button.setToolTip(tr("Write the take's audio and its settings file"))
        self.score_button = QPushButton(tr("Score takes"))
        self.score_button.setObjectName("scoreTakes")
        self.score_button.setToolTip(tr("Judge every take of this clip: how well the lyrics fit and how well the "
                                        "audio matches its description; also makes synced lyrics"))
        self.score_button.clicked.connect(lambda: self.clip is not None and self.score_takes.emit(self.clip.id))
        buttons = QGridLayout()
        buttons.addWidget(self.apply_button, 0, 0)
        buttons.addWidget(self.source_button, 0, 1)
        buttons.addWidget(self.rerender_button, 1, 0)
        buttons.addWidget(self.export_button, 1, 1)
        buttons.addWidget(self.score_button, 2, 0, 1, 2)
        for button, signal in ((self.apply_button, self.apply_settings), (self.source_button, self.use_as_source),
                               (self.rerender_button, self.rerender), (self.export_button, self.export_take)):
            button.clicked.connect(lambda _=False, s=signal: self._emit(s))

        col = QVBoxLayout(self)
        col.setContentsMargins(8, 6, 8, 8)
        col.addWidget(self.heading)
        col.addWidget(self.takes)
        col.addWidget(self.sort_by_score)
        col.addWidget(details)
        col.addLayout(buttons)
        col.addStretch(1)
        self.show_clip(None)

    # --- showing ----------------------------------------------------------------------------
    def show_clip(self, clip: Clip | None) -> None:
        state = None if clip is None else (clip.id, clip.takes, clip.active_take_id, clip.name)
        if state is not None and state == self._shown_state:
            return  # nothing changed: skip a relayout of the dock (a UI stall on big windows)
        self._shown_state = state
        self.clip = clip
        self.takes.clear()
        if clip is None:
            self.heading.setText(self.tr("Select a clip to see its takes."))
            self.score_button.setEnabled(False)
            self._show_take(None)
            return
        count = len(clip.takes)
        self.heading.setText(self.tr("{0} — {1} take(s)").format(clip.name or self.tr("clip"), count))
        self.score_button.setEnabled(any("request" in t.meta for t in clip.takes))
        self._refill()
        self._show_take(clip.active_take)

    def _refill(self) -> None:
        """The take rows, in clip order or best score first; each shows its score badge."""
        clip = self.clip
        self.takes.clear()
        if clip is None:
            return
        numbered = list(enumerate(clip.takes, start=1))
        if self.sort_by_score.isChecked():
            numbered.sort(key=lambda nt: (take_score(nt[1].meta) is None, -(take_score(nt[1].meta) or 0.0), nt[0]))
        for number, take in numbered:
            mark = "▶ " if take.id == clip.active_take_id else "   "
            # The score goes first: long take names are cut off at the right of the list.
            score = score_text.badge(take.meta) or "       "
            text = f"{mark}{score}   {number}. {take.name or take.id}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, take.id)
            item.setToolTip(score_text.summary(take.meta))
            self.takes.addItem(item)
            if take.id == clip.active_take_id:
                self.takes.setCurrentItem(item)

    def row_take_ids(self) -> list[str]:
        return [self.takes.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.takes.count())]

    def selected_take(self) -> Take | None:
        if self.clip is None:
            return None
        item = self.takes.currentItem()
        return self.clip.take(item.data(Qt.ItemDataRole.UserRole)) if item is not None else self.clip.active_take

    def _clicked(self, item: QListWidgetItem) -> None:
        if self.clip is not None:
            self.take_chosen.emit(self.clip.id, item.data(Qt.ItemDataRole.UserRole))

    def _emit(self, signal) -> None:
        take = self.selected_take()
        if self.clip is not None and take is not None:
            signal.emit(self.clip.id, take.id)

    def _show_take(self, take: Take | None) -> None:
        meta = dict(take.meta) if take is not None else {}
        request = meta.get("request") or {}
        generated = bool(request)
        self.details.setVisible(take is not None)
        for button in (self.apply_button, self.rerender_button, self.export_button):
            button.setEnabled(generated)
            button.setToolTip(button.toolTip() if generated else self.tr("This take was imported, not generated"))
        self.source_button.setEnabled(take is not None)
        if take is None:
            return
        self.scores.setText(score_text.summary(meta) if generated else "—")
        self.scores.setToolTip(score_text.details(meta))
        if not generated:
            self.caption.setText(self.tr("Imported audio"))
            self.lyrics.setPlainText("")
            for label in (self.metas, self.seed, self.model, self.steps, self.timings):
                label.setText("—")
            return
        lm = meta.get("lm_metadata") or {}
        self.caption.setText(lm.get("caption") or request.get("caption") or "—")
        self.lyrics.setPlainText(request.get("lyrics") or ("[Instrumental]" if request.get("instrumental") else ""))
        bpm = lm.get("bpm") or request.get("bpm")
        key = lm.get("keyscale") or request.get("keyscale")
        ts = str(lm.get("timesignature") or request.get("timesignature") or "")
        language = lm.get("language") or request.get("vocal_language")
        parts = [
            self.tr("{0} BPM").format(bpm) if bpm else self.tr("auto BPM"),
            key or self.tr("auto key"),
            TS_LABELS.get(ts, ts) or self.tr("auto metre"),
            language if language and language != "unknown" else self.tr("any language"),
            self.tr("{0:.1f} s").format(meta.get("duration_s", 0.0)),
        ]
        self.metas.setText(" · ".join(str(p) for p in parts))
        self.seed.setText(self.tr("{0} (take {1} of the batch)").format(meta.get("seed"), int(meta.get("item_index", 0)) + 1))
        models = meta.get("models") or [{}]
        weights = models[0].get("weights") or {}
        digest = next(iter(weights.values()), "")[:12]
        self.model.setText(f"{models[0].get('name', '?')}  ({digest}…)" if digest else str(models[0].get("name", "?")))
        schedule = meta.get("schedule") or []
        self.steps.setText(self.tr("{0} steps · {1} · {2}").format(
            max(0, len(schedule) - 1), request.get("infer_method", "ode").upper(), meta.get("device", "")))
        timings = meta.get("timings_s") or {}
        order = ("lm", "text_encode", "vae_encode", "diffusion", "vae_decode")
        shown = [self.tr("{0} {1:.1f} s").format(k.replace("_", " "), timings[k]) for k in order if k in timings]
        total = timings.get("total")
        self.timings.setText((" · ".join(shown) + (self.tr("  (total {0:.1f} s)").format(total) if total else "")) or "—")
