"""Built-in text for training the tiny byte-level BPE vocabulary (offline, deterministic).

The strings resemble what the tokenizers see in Legato: DiT prompt headers and metadata lines,
lyric lines with section tags, the planner LM's chain-of-thought fields and values. Because the
BPE is byte-level, ANY text stays encodable; the corpus only decides which merges exist (so that
common words become few tokens, as with the real Qwen vocabulary).
"""

from __future__ import annotations

_HEADERS = [
    "# Instruction",
    "# Caption",
    "# Metas",
    "# Languages",
    "# Lyric",
    "# Lyrics",
    "Fill the audio semantic mask based on the given conditions:",
    "Generate audio semantic tokens based on the given conditions:",
    "Understand the given musical conditions and describe the audio semantics accordingly:",
    "Expand the user's input into a more detailed and specific musical description:",
    "Format the user's input into a more detailed and specific musical description:",
    "NO USER INPUT",
    "instrumental: true",
    "instrumental: false",
    "[Instrumental]",
]

_SECTIONS = [
    "[Intro]",
    "[Verse]",
    "[Verse 1]",
    "[Verse 2]",
    "[Pre-Chorus]",
    "[Chorus]",
    "[Bridge]",
    "[Outro]",
    "[Hook]",
    "[Interlude]",
    "[Instrumental]",
    "[Drop]",
    "[Breakdown]",
]

_LYRICS = [
    "Hello world, singing in the rain",
    "I walk alone beneath the city lights",
    "We were young and the night was ours",
    "Hold on to me, don't let go",
    "Dancing in the dark until the morning comes",
    "Every heartbeat calls your name",
    "The river runs to the sea tonight",
    "Oh oh oh, yeah yeah yeah",
    "Take my hand and fly away with me",
    "Under the stars we found our way home",
    "Fire in my soul, thunder in my veins",
    "Remember the summer, remember the sun",
    "La la la, na na na",
    "Baby you're the one I need",
    "Broken dreams and empty streets",
    "Turn it up, feel the bass drop",
]

_CAPTIONS = [
    "A calm piano melody with soft strings",
    "Energetic pop rock with electric guitar, drums and bass",
    "Dreamy lo-fi hip hop beat with vinyl crackle",
    "Epic orchestral soundtrack with choir and brass",
    "Upbeat EDM track with synth leads and a four-on-the-floor kick",
    "Acoustic folk ballad with male vocals and fingerpicked guitar",
    "Smooth jazz with saxophone, upright bass and brushed drums",
    "Dark trap beat with 808 bass and hi-hats",
    "female vocals, emotional, melancholic, slow tempo",
    "funk, disco, groovy bassline, horns",
]

_INSTRUMENTS = [
    "vocals",
    "drums",
    "bass",
    "guitar",
    "keyboard",
    "percussion",
    "strings",
    "synth",
    "fx",
    "brass",
    "woodwinds",
    "backing_vocals",
    "piano",
    "violin",
    "cello",
    "saxophone",
]

_KEYS = [
    f"{note} {mode}"
    for note in ("C", "C#", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    for mode in ("major", "minor")
]

_LANGUAGES = ["en", "zh", "ja", "ko", "de", "fr", "es", "it", "pt", "ru", "unknown"]


def training_corpus() -> list[str]:
    """A few hundred short strings, always the same (the BPE merges depend on them)."""
    lines = list(_HEADERS) + list(_SECTIONS) + list(_LYRICS) + list(_CAPTIONS)
    for i, section in enumerate(_SECTIONS):
        lines.append(f"{section}\n{_LYRICS[i % len(_LYRICS)]}\n{_LYRICS[(i + 3) % len(_LYRICS)]}")
    for bpm in range(40, 201, 4):
        key = _KEYS[bpm % len(_KEYS)]
        lines.append(f"- bpm: {bpm}\n- timesignature: 4\n- keyscale: {key}\n- duration: {bpm + 20} seconds\n")
        lines.append(
            f"bpm: {bpm}\ncaption: {_CAPTIONS[bpm % len(_CAPTIONS)]}\nduration: {bpm * 2}\n"
            f"keyscale: {key}\nlanguage: {_LANGUAGES[bpm % len(_LANGUAGES)]}\ntimesignature: 4\n"
        )
    for key in _KEYS:
        lines.append(f"keyscale: {key}")
    for language in _LANGUAGES:
        lines.append(f"# Languages\n{language}\n\n# Lyric\n{_LYRICS[len(language) % len(_LYRICS)]}")
    for instrument in _INSTRUMENTS:
        lines.append(f"Generate the {instrument.upper()} track based on the audio context:")
        lines.append(f"Extract the {instrument.upper()} track from the audio:")
    lines.append("Repaint the mask area based on the given conditions:")
    lines.append("Complete the input track with the following instruments:")
    lines.append("- bpm: N/A\n- timesignature: N/A\n- keyscale: N/A\n- duration: 30 seconds\n")
    lines.append(" ".join(str(n) for n in range(0, 1000)))
    return lines
