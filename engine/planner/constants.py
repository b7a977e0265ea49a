"""Fixed facts of the ACE-Step 1.5 "5Hz LM" protocol (upstream_lm_tools.md §1.2, §2.1, §3.4).

Strings here are part of the model's training format: changing one byte changes what the
model sees. Source: ace-step/ACE-Step-1.5:acestep/constants.py and
acestep/constrained_logits_processor.py (facts only; the code is ours).
"""

from __future__ import annotations

# --- chat / reasoning special tokens (Qwen3 chat format) -------------------------------------
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"  # the LM's EOS
END_OF_TEXT = "<|endoftext|>"  # pad
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

# --- audio codes ------------------------------------------------------------------------------
AUDIO_CODE_TOKEN = "<|audio_code_{}|>"
CODEBOOK_SIZE = 64000  # FSQ levels [8, 8, 8, 5, 5, 5]; ids of codes >= 64000 exist but are invalid
CODES_PER_SECOND = 5  # one code = 0.2 s = 5 latent frames at 25 Hz

# --- system instructions (acestep/constants.py) -------------------------------------------------
INSTRUCTION_GENERATE = "Generate audio semantic tokens based on the given conditions:"
INSTRUCTION_UNDERSTAND = (
    "Understand the given musical conditions and describe the audio semantics accordingly:"
)
INSTRUCTION_INSPIRE = "Expand the user's input into a more detailed and specific musical description:"
INSTRUCTION_FORMAT = "Format the user's input into a more detailed and specific musical description:"

NO_USER_INPUT = "NO USER INPUT"  # empty query / default negative prompt
INSTRUMENTAL_LYRICS = "[Instrumental]"

# --- metadata fields, in the order the model writes them (alphabetical = sorted YAML) --------
FIELD_ORDER: tuple[str, ...] = (
    "bpm",
    "caption",
    "duration",
    "genres",
    "keyscale",
    "language",
    "timesignature",
)

BPM_RANGE = (30, 300)
DURATION_MIN_LM = 10  # the LM never proposes less than 10 s (§3.4)
DURATION_MAX_DEFAULT = 600  # the "unlimited" GPU tier; smaller tiers pass their own limit (§7)
CAPTION_TOKEN_CAP = 512
# Free text after </think> (lyrics of understand / create sample / format): upstream's limit is
# the LM context (4096) minus 64.
LYRICS_TOKEN_BUDGET = 4032
GENRES_TOKEN_CAP = 64  # free-text genres (no vocabulary file): force the newline after this many

TIME_SIGNATURES: tuple[str, ...] = ("2", "3", "4", "6")  # 2/4, 3/4, 4/4, 6/8

_NOTES = ("A", "B", "C", "D", "E", "F", "G")
_ACCIDENTALS = ("", "#", "b", "♯", "♭")
_MODES = ("major", "minor")
KEYSCALES: tuple[str, ...] = tuple(
    f"{note}{acc} {mode}" for note in _NOTES for acc in _ACCIDENTALS for mode in _MODES
)  # 7 x 5 x 2 = 70

LANGUAGES: tuple[str, ...] = tuple(
    "ar az bg bn ca cs da de el en es fa fi fr he hi hr ht hu id is it ja ko la lt ms ne nl no pa "
    "pl pt ro ru sa sk sr sv sw ta te th tl tr uk ur vi yue zh unknown".split()
)  # 51 codes

assert len(KEYSCALES) == 70 and len(LANGUAGES) == 51
