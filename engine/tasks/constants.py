"""Task facts: instructions (verbatim), track names, prompt templates, limits.

Source: upstream_dit.md §3.1 (ace-step/ACE-Step-1.5:acestep/constants.py). These strings are
part of the model's training format: changing one byte changes what the model sees.
"""

from __future__ import annotations

# cover-nofsq (upstream 2026-04): cover from the RAW VAE latents of the source (no FSQ roundtrip).
TASKS: tuple[str, ...] = ("text2music", "cover", "cover-nofsq", "repaint", "lego", "extract", "complete")
BASE_ONLY_TASKS: tuple[str, ...] = ("lego", "extract", "complete")  # turbo/SFT were not trained on them
TASKS_NEEDING_SOURCE: tuple[str, ...] = ("cover-nofsq", "repaint", "lego", "extract", "complete")

TRACK_NAMES: tuple[str, ...] = (
    "vocals", "backing_vocals", "drums", "bass", "guitar", "keyboard",
    "percussion", "strings", "synth", "fx", "brass", "woodwinds",
)

INSTRUCTIONS: dict[str, str] = {
    "text2music": "Fill the audio semantic mask based on the given conditions:",
    "repaint": "Repaint the mask area based on the given conditions:",
    "cover": "Generate audio semantic tokens based on the given conditions:",
    "cover-nofsq": "Generate audio semantic tokens based on the given conditions:",  # same as cover
    "extract": "Extract the {TRACK_NAME} track from the audio:",
    "extract_default": "Extract the track from the audio:",
    "lego": "Generate the {TRACK_NAME} track based on the audio context:",
    "lego_default": "Generate the track based on the audio context:",
    "complete": "Complete the input track with {TRACK_CLASSES}:",
    "complete_default": "Complete the input track:",
}

CAPTION_TEMPLATE = "# Instruction\n{instruction}\n\n# Caption\n{caption}\n\n# Metas\n{metas}<|endoftext|>\n"
LYRIC_TEMPLATE = "# Languages\n{language}\n\n# Lyric\n{lyrics}<|endoftext|>"
INSTRUMENTAL = "[Instrumental]"

SAMPLE_RATE = 48_000
HOP = 1920  # VAE samples per latent frame
FRAMES_PER_SECOND = SAMPLE_RATE // HOP  # 25
MIN_FRAMES = 128  # upstream never generates fewer latent frames (5.12 s)
REFERENCE_SECONDS = 30  # timbre reference length
REFERENCE_FRAMES = 750  # real models: timbre_fix_frame

DURATION_RANGE = (1.0, 600.0)  # seconds; 600 s = the silence latent length. Output is never < 5.12 s (MIN_FRAMES)
REPAINT_WINDOW_RANGE = (3.0, 90.0)  # seconds, the product's repaint selection limits
BPM_RANGE = (30, 300)
TIME_SIGNATURES: tuple[str, ...] = ("2", "3", "4", "6")
STEPS_RANGE = (1, 200)
TURBO_MAX_STEPS = 20
GUIDANCE_RANGE = (1.0, 15.0)
SHIFT_RANGE = (1.0, 5.0)
BATCH_RANGE = (1, 8)
SEED_RANGE = (0, 2**32 - 1)
OUTPUT_FORMATS: tuple[str, ...] = ("wav", "flac", "mp3")
