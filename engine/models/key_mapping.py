"""Original ACE-Step 1.5 state-dict keys -> diffusers module keys (our own mapping).

Original keys (upstream_dit.md §2.7) have no `model.` prefix and start with `decoder.`, `encoder.`,
`tokenizer.`, `detokenizer.` or `null_condition_emb`. diffusers splits them into four modules:

  decoder.*        -> transformer                (AceStepTransformer1DModel)
  encoder.*        -> condition_encoder          (AceStepConditionEncoder)
  null_condition_emb -> condition_encoder.null_condition_emb
  tokenizer.*      -> audio_tokenizer            (AceStepAudioTokenizer)
  detokenizer.*    -> audio_token_detokenizer    (AceStepAudioTokenDetokenizer)

Inside them, attention projections are renamed (q_proj -> to_q, k_proj -> to_k, v_proj -> to_v,
o_proj -> to_out.0, q_norm -> norm_q, k_norm -> norm_k) and the decoder's patchify convs lose the
nn.Sequential index (proj_in.1 -> proj_in_conv, proj_out.1 -> proj_out_conv). Everything else keeps
its name. The mapping is a bijection, so `to_original` inverts it exactly.
"""

from __future__ import annotations

import re

MODULE_PREFIXES = {
    "decoder.": "transformer",
    "encoder.": "condition_encoder",
    "tokenizer.": "audio_tokenizer",
    "detokenizer.": "audio_token_detokenizer",
}
COMPONENTS = ("transformer", "condition_encoder", "audio_tokenizer", "audio_token_detokenizer")

_ATTENTION_RENAMES = (
    (".q_proj.", ".to_q."),
    (".k_proj.", ".to_k."),
    (".v_proj.", ".to_v."),
    (".o_proj.", ".to_out.0."),
    (".q_norm.", ".norm_q."),
    (".k_norm.", ".norm_k."),
)
_DECODER_RENAMES = (
    (re.compile(r"^proj_in\.1\."), "proj_in_conv."),
    (re.compile(r"^proj_out\.1\."), "proj_out_conv."),
)


def _rename_inner(key: str, component: str) -> str:
    for old, new in _ATTENTION_RENAMES:
        key = key.replace(old, new)
    if component == "transformer":
        for pattern, new in _DECODER_RENAMES:
            key = pattern.sub(new, key)
    return key


def to_diffusers(key: str) -> tuple[str, str] | None:
    """Map one original key to (component, key inside that component); None if not ours."""
    if key == "null_condition_emb":
        return "condition_encoder", "null_condition_emb"
    for prefix, component in MODULE_PREFIXES.items():
        if key.startswith(prefix):
            return component, _rename_inner(key[len(prefix) :], component)
    return None


def to_original(component: str, key: str) -> str:
    """Inverse of `to_diffusers` (used to save and to name keys in error messages)."""
    if component == "condition_encoder" and key == "null_condition_emb":
        return key
    prefix = {v: k for k, v in MODULE_PREFIXES.items()}[component]
    for old, new in _ATTENTION_RENAMES:
        key = key.replace(new, old)
    if component == "transformer":
        key = re.sub(r"^proj_in_conv\.", "proj_in.1.", key)
        key = re.sub(r"^proj_out_conv\.", "proj_out.1.", key)
    return prefix + key


def split_state_dict(state: dict) -> tuple[dict[str, dict], list[str]]:
    """Split an original-layout state dict into per-component dicts; also returns unknown keys."""
    parts: dict[str, dict] = {name: {} for name in COMPONENTS}
    unknown: list[str] = []
    for key, tensor in state.items():
        mapped = to_diffusers(key)
        if mapped is None:
            unknown.append(key)
        else:
            parts[mapped[0]][mapped[1]] = tensor
    return parts, unknown
