"""engine.audio: audio at the edges and in the middle. Qt-free and torch-free.

    files.py        import any file -> 48 kHz stereo float32 [2, frames]; AudioWriter for export
    render_plan.py  immutable RenderPlan snapshot of the Project (what the audio side reads)
    mixer.py        pure-numpy Mixer.render(plan, start, out) — shared by playback and export
    export.py       export_mix / export_stems with progress and cancel (JobContext)
    peaks.py        min/max pyramids per asset + thread-safe cache; O(pixels) drawing
    playback.py     Player: transport, mixer thread, ring buffer, sounddevice callback

Data path: Project --(main thread, on change)--> build_render_plan --> Player.set_plan /
export_mix --> Mixer.render blocks --> ring --> device callback (or AudioWriter).
sounddevice is imported only inside playback when a Player is created.
"""
