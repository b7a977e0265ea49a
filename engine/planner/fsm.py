"""The constrained-decoding state machine (upstream_lm_tools.md §3).

One `MetadataFSM` per generated sequence. Each step it narrows the logits to what may come
next (`constrain`), and after sampling it is told the token (`feed`). The machine is a list of
small steps run in order:

    <think> \\n  bpm: <value>\\n  caption: <text>\\n  duration: <value>\\n  genres: ...
    keyscale: ...  language: ...  timesignature: <value>\\n  then
    cot mode:        EOS (phase 1 stops before </think>, as upstream)
    understand mode: </think> then free text (lyrics) with audio codes masked, until EOS
    codes mode:      exactly N audio codes, then EOS

Deviations from upstream, on purpose:
- User values are validated before they get here (metadata.validate_metadata).
- When a caption line ends, the next field name is forced instead of letting the model write
  free text until a ':' appears; the model writes the names in this fixed order anyway, and
  random or weak weights can then never produce malformed metadata.
- Caption ending: after a newline token the next field NAME is forced instead of letting the
  model write free text until a ':' (see _FreeLine for the upstream-equal part of the rule).
- Values are recorded per field as token ids, so the result does not depend on re-parsing text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from engine.planner.constants import (
    BPM_RANGE,
    CAPTION_TOKEN_CAP,
    DURATION_MIN_LM,
    FIELD_ORDER,
    GENRES_TOKEN_CAP,
    KEYSCALES,
    LANGUAGES,
    TIME_SIGNATURES,
)
from engine.planner.metadata import Metadata, value_text
from engine.planner.tries import TrieNode
from engine.planner.vocab import PlannerVocab

Mode = Literal["cot", "understand", "codes"]

# What a step allows: a [n] long tensor of ids, or the name of a cached vocab-wide mask.
Allowed = torch.Tensor | str


@dataclass(frozen=True)
class DecodeSpec:
    """What one constrained generation must produce.

    Attributes:
        mode: "cot" (phase-1 metadata, stop at </think>), "understand" (metadata, </think>,
            free text), or "codes" (audio codes only).
        forced: user values injected verbatim (already validated).
        skip: fields left out entirely (genres in phase 1, caption/language by option).
        max_duration: the device tier's duration limit for LM-chosen durations (s).
        code_target: exact number of codes in codes mode (None = up to max_codes, EOS allowed).
        max_codes: hard cap on codes when there is no target.
        genres: the genre vocabulary (lower-case entries), or None for free-text genres.
        caption_cap: most caption tokens before only the newline is allowed (upstream 512).
        text_cap: most free-text tokens after </think> before EOS is forced (None = no cap).
    """

    mode: Mode
    forced: Metadata = field(default_factory=Metadata)
    skip: frozenset[str] = frozenset()
    max_duration: int = 600
    code_target: int | None = None
    max_codes: int = 3000
    genres: tuple[str, ...] | None = None
    caption_cap: int = CAPTION_TOKEN_CAP
    text_cap: int | None = None


class _Step:
    """One stage of the machine. `allowed` returns None once the stage is complete."""

    field: str | None = None

    def allowed(self, logits: torch.Tensor) -> Allowed | None:  # pragma: no cover - interface
        raise NotImplementedError

    def feed(self, token: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class _Force(_Step):
    """Emit a fixed token sequence (tags, field names, injected user values)."""

    def __init__(self, ids: list[int], field: str | None = None) -> None:
        self.ids = torch.tensor(ids, dtype=torch.long)
        self.pos = 0
        self.field = field

    def allowed(self, logits: torch.Tensor) -> Allowed | None:
        if self.pos >= len(self.ids):
            return None
        return self.ids[self.pos : self.pos + 1]

    def feed(self, token: int) -> None:
        self.pos += 1


class _TrieValue(_Step):
    """A value from a fixed set (bpm, duration, keyscale, timesignature, language, genres)."""

    def __init__(self, root: TrieNode, field: str, greedy_first: bool = False) -> None:
        self.node = root
        self.field = field
        self.greedy_first = greedy_first  # language: first token is the arg-max (upstream rule)
        self.started = False

    def allowed(self, logits: torch.Tensor) -> Allowed | None:
        if self.node.is_leaf:
            return None
        ids = self.node.allowed_ids()
        if self.greedy_first and not self.started:
            ids = ids.to(logits.device)
            best = ids[torch.argmax(logits[ids])]
            return best.view(1)
        return ids

    def feed(self, token: int) -> None:
        self.node = self.node.children[int(token)]
        self.started = True


class _FreeLine(_Step):
    """Caption (may wrap onto indented continuation lines) or free-text genres (one line).

    Caption, as upstream's CAPTION_VALUE: any text token but backticks, audio codes and
    chat/reasoning markers; ANY token containing a newline (`\n`, `.\n`, `,\n`, ...) ends the
    line. After it, the arg-max of the next step's (unmasked) logits decides, as upstream: a
    token starting with a space or tab continues the caption (a YAML continuation line), anything
    else ends the field. After `cap` tokens only the bare newline is allowed, and the line after
    it always ends the caption (upstream would go on allowing newlines while the model indents).
    The first token must carry content (no empty caption).

    Genres (free text, no vocabulary): one line of text tokens; only the bare newline ends it.
    """

    def __init__(self, vocab: PlannerVocab, field: str, cap: int, multiline: bool) -> None:
        self.vocab = vocab
        self.field = field
        self.cap = cap
        self.multiline = multiline
        self.count = 0
        self.has_content = False
        self.after_newline = False
        self.done = False
        self._newline = torch.tensor([vocab.newline_id], dtype=torch.long)
        self._masks = ("caption_content", "caption_text") if multiline else ("line_content", "line_text+newline")

    def allowed(self, logits: torch.Tensor) -> Allowed | None:
        if self.done:
            return None
        if self.after_newline:
            if not self.multiline or self.count >= self.cap:
                self.done = True
                return None
            full = logits.full() if hasattr(logits, "full") else logits  # RowLogits: CFG-combined [V]
            best = int(torch.argmax(full))
            text = self.vocab.texts[best] if best < len(self.vocab.texts) else ""
            if text[:1] not in (" ", "\t"):
                self.done = True
                return None
            self.after_newline = False
        if self.count >= self.cap:
            return self._newline
        return self._masks[1] if self.has_content else self._masks[0]

    def feed(self, token: int) -> None:
        self.count += 1
        if token == self.vocab.newline_id or (self.multiline and bool(self.vocab.has_newline[token])):
            self.after_newline = True
        if self.vocab.texts[token].strip():
            self.has_content = True


class _Eos(_Step):
    def __init__(self, vocab: PlannerVocab) -> None:
        self.ids = torch.tensor([vocab.eos_id], dtype=torch.long)
        self.fed = False

    def allowed(self, logits: torch.Tensor) -> Allowed | None:
        return None if self.fed else self.ids

    def feed(self, token: int) -> None:
        self.fed = True


class _FreeText(_Step):
    """Lyrics after </think>: any text, audio codes masked, until EOS (forced after `cap`)."""

    def __init__(self, vocab: PlannerVocab, cap: int | None) -> None:
        self.cap = cap
        self.count = 0
        self._eos = torch.tensor([vocab.eos_id], dtype=torch.long)

    def allowed(self, logits: torch.Tensor) -> Allowed | None:
        if self.cap is not None and self.count >= self.cap:
            return self._eos
        return "free_text"

    def feed(self, token: int) -> None:
        self.count += 1


class _Codes(_Step):
    """Audio codes 0..63999 only; EOS masked until `target`, then only EOS."""

    def __init__(self, vocab: PlannerVocab, target: int | None, cap: int) -> None:
        self.vocab = vocab
        self.target = target
        self.cap = target if target is not None else cap
        self.count = 0
        self._eos = torch.tensor([vocab.eos_id], dtype=torch.long)

    def allowed(self, logits: torch.Tensor) -> Allowed | None:
        if self.count >= self.cap:
            return self._eos
        if self.target is None and self.count > 0:
            return "codes+eos"
        return "codes"

    def feed(self, token: int) -> None:
        if token != self.vocab.eos_id:
            self.count += 1


class MetadataFSM:
    """Constrains one sequence's logits; see the module docstring for the grammar."""

    def __init__(self, vocab: PlannerVocab, spec: DecodeSpec) -> None:
        self.vocab = vocab
        self.spec = spec
        self.steps: list[_Step] = []
        self.index = 0
        self.finished = False
        self._values: dict[str, list[int]] = {}
        self.tokens: list[int] = []
        if spec.mode == "codes":
            self.steps.append(_Codes(vocab, spec.code_target, spec.max_codes))
            return
        self.steps.append(_Force([vocab.think_open_id, vocab.newline_id]))
        for name in FIELD_ORDER:
            if name in spec.skip:
                continue
            self.steps.append(_Force(vocab.fixed_string_ids(f"{name}:")))  # upstream's longest-prefix rule
            self.steps.append(self._value_step(name))
        if spec.mode == "cot":
            self.steps.append(_Eos(vocab))  # upstream stops phase 1 with EOS instead of </think>
        else:
            self.steps.append(_Force([vocab.think_close_id]))
            self.steps.append(_FreeText(vocab, spec.text_cap))

    def _value_step(self, name: str) -> _Step:
        vocab, spec = self.vocab, self.spec
        forced = getattr(spec.forced, name)
        if forced is not None:
            return _Force([*vocab.value_ids(name, value_text(name, forced)), vocab.newline_id], field=name)
        if name == "bpm":
            values = [str(v) for v in range(BPM_RANGE[0], BPM_RANGE[1] + 1)]
        elif name == "duration":
            values = [str(v) for v in range(DURATION_MIN_LM, max(DURATION_MIN_LM, spec.max_duration) + 1)]
        elif name == "keyscale":
            values = list(KEYSCALES)
        elif name == "timesignature":
            values = list(TIME_SIGNATURES)
        elif name == "language":
            values = list(LANGUAGES)
        elif name == "genres" and spec.genres:
            values = list(spec.genres)
        elif name == "genres":
            return _FreeLine(vocab, name, GENRES_TOKEN_CAP, multiline=False)
        else:  # caption
            return _FreeLine(vocab, name, spec.caption_cap, multiline=True)
        return _TrieValue(vocab.value_trie(name, values).root, name, greedy_first=(name == "language"))

    # ---- per-token interface -----------------------------------------------------------------
    def allowed_ids(self, logits: torch.Tensor) -> torch.Tensor:
        """[n] long ids of the tokens allowed next (n = 1 when the token is forced)."""
        while self.index < len(self.steps):
            allowed = self.steps[self.index].allowed(logits)
            if allowed is not None:
                if isinstance(allowed, str):
                    return self.vocab.mask_ids(allowed, logits.device)
                return allowed.to(logits.device)
            self.index += 1
        # Machine exhausted (only after EOS): EOS again keeps a caller that goes on sane.
        return torch.tensor([self.vocab.eos_id], device=logits.device)

    def constrain(self, logits: torch.Tensor) -> torch.Tensor:
        """Return `logits` [V] with every token not allowed next set to -inf."""
        ids = self.allowed_ids(logits)
        out = torch.full_like(logits, float("-inf"))
        out[ids] = logits[ids]
        return out

    def feed(self, token: int) -> None:
        """Advance with the token that was sampled from the constrained logits."""
        token = int(token)
        self.tokens.append(token)
        if token == self.vocab.eos_id:
            self.finished = True
        if self.index >= len(self.steps):
            return
        step = self.steps[self.index]
        if step.field is not None and token != self.vocab.newline_id:
            self._values.setdefault(step.field, []).append(token)
        step.feed(token)

    # ---- results --------------------------------------------------------------------------------
    @property
    def code_count(self) -> int:
        return sum(s.count for s in self.steps if isinstance(s, _Codes))

    def metadata(self) -> Metadata:
        """The field values this sequence wrote (decoded per field, stripped)."""
        out: dict[str, object] = {}
        for name, ids in self._values.items():
            text = self.vocab.tokenizer.decode(ids, skip_special_tokens=False)
            text = " ".join(part.strip() for part in text.split("\n") if part.strip())
            if not text:
                continue
            if name == "bpm":
                out[name] = int(text)
            elif name == "duration":
                number = float(text)
                out[name] = int(number) if number.is_integer() else number
            else:
                out[name] = text
        return Metadata(**out)

    def text_after_think(self) -> str:
        """Free text written after </think> (understand mode), without EOS."""
        vocab = self.vocab
        if vocab.think_close_id not in self.tokens:
            return ""
        rest = self.tokens[self.tokens.index(vocab.think_close_id) + 1 :]
        rest = [t for t in rest if t not in (vocab.eos_id, vocab.pad_id)]
        return vocab.tokenizer.decode(rest, skip_special_tokens=False)
