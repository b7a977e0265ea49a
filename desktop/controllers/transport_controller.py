"""Transport: play/pause/stop, seek, loop; a ~30 Hz timer pulls playhead and meters from the
engine player (the audio callback never pushes into Qt: Friture's display-timer pattern).

With no audio device the engine player runs a fake stream (or none at all); the window still
opens and the status bar says playback is unavailable.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

from desktop.timeline.range_selection import TimeSelection
from engine.timebase import SAMPLE_RATE, seconds_to_samples

UI_REFRESH_MS = 33  # ~30 Hz


class TransportController(QObject):
    def __init__(self, window, player=None) -> None:
        super().__init__(window)
        self.window = window
        self.player = player if player is not None else self._make_player()
        self.project = None
        self._position_s = 0.0  # playhead when no player is available
        self._selection: TimeSelection | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(UI_REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._loop_enabled = False

    def _make_player(self):
        try:
            from engine.audio.playback import Player
        except ImportError:
            return None
        try:
            return Player()  # never raises for a missing device: .available says so
        except Exception:  # defensive: the app must open whatever PortAudio does
            return None

    def availability_message(self) -> str:
        reason = self._unavailable_text()
        return self.tr("Ready") if reason is None else self.tr("Ready — {0}").format(reason)

    def _unavailable_text(self) -> str | None:
        """Why playback cannot start (what the status bar says after "Ready — "), or None."""
        if self.player is None or not getattr(self.player, "available", False):
            # The player's own reason comes from the engine and stays as it is.
            reason = getattr(self.player, "unavailable_reason", "") or self.tr(
                "playback unavailable: no audio output device")
            return self.tr("{0}; editing and export still work").format(reason)
        return None

    def wire(self, actions, bar, timeline) -> None:
        self.bar, self.timeline = bar, timeline
        actions.play.triggered.connect(self.toggle_play)
        actions.stop.triggered.connect(self.stop)
        actions.loop.toggled.connect(self.set_loop)
        bar.play_toggled.connect(self.toggle_play)
        bar.stop_clicked.connect(self.stop)
        bar.loop_toggled.connect(actions.loop.setChecked)
        actions.loop.toggled.connect(bar.loop_button.setChecked)
        timeline.ruler.seek_requested.connect(self.seek)
        timeline.view.seek_requested.connect(self.seek)
        self._timer.start()

    def set_project(self, project) -> None:
        if self.project is not None:
            self.project.history.changed.disconnect(self._rebuild_plan)
        self.project = project
        project.history.changed.connect(self._rebuild_plan)
        self._rebuild_plan()
        self.seek(0.0)

    def _rebuild_plan(self) -> None:
        """Any edit: build a new immutable RenderPlan and swap it in (rebuild, don't patch)."""
        if self.player is None:
            return
        from engine.audio.render_plan import build_render_plan

        self.player.set_plan(build_render_plan(self.project))

    # --- intents ---------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.player is None or not getattr(self.player, "available", False):
            self.window.show_status(self._unavailable_text())
            return
        if self.is_playing():
            self.player.pause()
        else:
            self.player.play()
        self.refresh()

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
        self.refresh()

    def seek(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self._position_s = seconds
        if self.player is not None:
            self.player.seek(int(seconds_to_samples(seconds)))
        self.refresh()

    def set_loop(self, enabled: bool) -> None:
        self._loop_enabled = enabled
        self._apply_loop()

    def on_selection_changed(self, selection: TimeSelection | None) -> None:
        self._selection = selection
        self._apply_loop()

    def _apply_loop(self) -> None:
        sel = self._selection
        loop = (sel.start_s, sel.end_s) if self._loop_enabled and sel is not None and sel.length_s > 0 else None
        if self.player is not None:
            from engine.timebase import TimeRange

            self.player.set_loop(
                None if loop is None else TimeRange(int(seconds_to_samples(loop[0])), int(seconds_to_samples(loop[1])))
            )
        if hasattr(self, "timeline"):
            self.timeline.set_loop_range(loop)

    # --- the display timer ---------------------------------------------------------------
    def is_playing(self) -> bool:
        return bool(self.player is not None and getattr(self.player, "playing", False))

    def position_s(self) -> float:
        if self.player is not None and hasattr(self.player, "position"):
            return self.player.position / SAMPLE_RATE
        return self._position_s

    def refresh(self) -> None:
        """Timer slot: pull playhead and meters from the player and show them."""
        if not hasattr(self, "timeline"):
            return
        pos = self.position_s()
        playing = self.is_playing()
        self.timeline.set_playhead(pos, follow=playing)
        self.bar.set_position(pos)
        self.bar.set_playing(playing)
        if self.player is not None:
            peak, _rms = self.player.master_meters()
            self.bar.master_meter.set_levels([float(v) for v in peak])
            tracks = self.player.track_meters()
            for track_id, header in self.timeline.headers.headers.items():
                level = tracks.get(track_id)
                header.meter.set_levels([float(v) for v in level] if level is not None else [0.0, 0.0])

    def shutdown(self) -> None:
        self._timer.stop()
        if self.player is not None and hasattr(self.player, "close"):
            self.player.close()
