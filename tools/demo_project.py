"""Build a small demo project from synthesized audio (no files, no model) and optionally open it.

    python tools/demo_project.py                 # open the app with the demo project
    python tools/demo_project.py --screenshot out.png   # grab the window to a PNG and quit

The audio is honest synthesis: a kick/snare/hat pattern, a bass line, pad chords and a lead
melody at 120 BPM, so the waveforms look like what they are.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

SR = 48_000


def _env(n: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / SR
    return np.minimum(1.0, t / max(attack, 1e-4)) * np.exp(-t / decay)


def _stereo(mono: np.ndarray, pan: float = 0.0) -> np.ndarray:
    left, right = np.cos((pan + 1) * np.pi / 4), np.sin((pan + 1) * np.pi / 4)
    return np.stack([mono * left, mono * right]).astype(np.float32)


def drums(seconds: float, bpm: float = 120.0) -> np.ndarray:
    n = int(seconds * SR)
    out = np.zeros(n, np.float32)
    beat = int(SR * 60 / bpm)
    rng = np.random.default_rng(1)
    kick_len = int(0.25 * SR)
    t = np.arange(kick_len) / SR
    kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-t * 30)) * t) * _env(kick_len, 0.002, 0.12)
    snare = rng.standard_normal(int(0.18 * SR)) * _env(int(0.18 * SR), 0.001, 0.05) * 0.6
    hat = rng.standard_normal(int(0.05 * SR)) * _env(int(0.05 * SR), 0.0005, 0.01) * 0.25
    for k in range(0, n // beat):
        s = k * beat
        src = kick if k % 2 == 0 else snare
        out[s : s + len(src)] += src[: n - s]
        h = s + beat // 2
        out[h : h + len(hat)] += hat[: max(0, n - h)]
    return _stereo(out * 0.8)


def tone(seconds: float, notes: list[float], note_s: float, harmonics: int, decay: float, level: float,
         pan: float = 0.0) -> np.ndarray:
    n = int(seconds * SR)
    out = np.zeros(n, np.float32)
    seg = int(note_s * SR)
    t = np.arange(seg) / SR
    for i in range(n // seg):
        f = notes[i % len(notes)]
        wave = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, harmonics + 1))
        out[i * seg : (i + 1) * seg] = wave * _env(seg, 0.01, decay)
    return _stereo(out * level, pan)


def build_demo_project(seconds: float = 48.0):
    from engine.project import Project
    from engine.project.commands import AddClip, AddTrack, SetFades, SetTrackGain, SetTrackPan

    project = Project("Demo Song")
    parts = [
        ("Drums", drums(seconds), 0.0, 0, None),
        ("Bass", tone(seconds, [55, 55, 73.4, 65.4], 1.0, 3, 0.6, 0.5), 0.0, 0, None),
        ("Pads", tone(max(1.0, seconds - 8), [220, 261.6, 329.6, 196], 2.0, 5, 1.5, 0.25, -0.3), -3.0, 8, 2.0),
        ("Lead", tone(min(24.0, seconds), [440, 493.9, 523.3, 587.3, 659.3, 587.3], 0.5, 2, 0.25, 0.3, 0.2), -1.5, 16, 0.5),
        ("Arp", tone(min(16.0, seconds), [523.3, 659.3, 784, 1046.5], 0.125, 3, 0.08, 0.2, 0.4), -4.0, 32, None),
        ("Strings", tone(min(20.0, seconds), [196, 220, 174.6, 196], 4.0, 4, 3.0, 0.2, -0.5), -2.0, 4, 1.0),
    ]
    history = project.history
    for name, audio, gain, start_s, fade in parts:
        track_id = history.push(AddTrack(name)).track_id
        asset = project.assets.add(audio, name)
        clip_id = history.push(AddClip(track_id, asset.id, int(start_s * SR), name=name)).clip_id
        if gain:
            history.push(SetTrackGain(track_id=track_id, new=gain))
        if fade:
            history.push(SetFades(clip_id, int(fade * SR), int(fade * SR)))
        if name == "Pads":
            history.push(SetTrackPan(track_id=track_id, new=-0.3))
    history.clear()  # a freshly built demo is "saved" (no unsaved marker, nothing to undo)
    return project


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", help="save a PNG of the window and quit")
    args = parser.parse_args(argv)
    from PySide6.QtCore import QTimer

    from desktop.app import create_application
    from desktop.main_window import MainWindow

    app = create_application([])
    window = MainWindow(build_demo_project(), offer_recovery=False)
    window.show()
    if args.screenshot:
        def grab() -> None:
            window.peaks.wait_idle()
            window.timeline.zoom_to_fit()
            app.processEvents()
            window.transport.seek(13.0)
            window.timeline.view.set_selection(
                __import__("desktop.timeline.range_selection", fromlist=["TimeSelection"]).TimeSelection(
                    20.0, 28.0, 1, 2))
            window.timeline.scene.select_clips([window.project.tracks[3].clips[0].id])
            app.processEvents()
            window.grab().save(args.screenshot)
            window.project.history.mark_clean()
            window.close()

        QTimer.singleShot(1500, grab)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
