"""The LM quality score's math (upstream_lm_tools.md §5.1), on logits already teacher-forced.

- metadata fields: position-weighted top-k recall (k = 10): per target token, weight
  1 - (rank - 1)/k when the true token ranks 1..k among the logits, else 0; mean over tokens.
- caption and lyrics: PMI = mean log p(target | codes) - mean log p(target | unconditional),
  mapped to [0, 1] by sigmoid(PMI / sensitivity).
- global: weighted mean, caption 0.5, lyrics 0.3, metadata 0.2 (the mean of the field scores),
  renormalised over the parts that exist.
"""

from __future__ import annotations

import math

import numpy as np

TOP_K = 10
DEFAULT_SENSITIVITY = 0.5  # the UI's "score sensitivity" (range 0.01-1.0)
WEIGHTS = {"caption": 0.5, "lyrics": 0.3, "metadata": 0.2}


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _check(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits, targets = np.asarray(logits), np.asarray(targets, dtype=np.int64)
    if logits.ndim != 2 or targets.shape != (logits.shape[0],):
        raise ValueError(f"logits must be [tokens, vocab] and targets [tokens], got {logits.shape}, {targets.shape}")
    if targets.size and (targets.min() < 0 or targets.max() >= logits.shape[1]):
        raise ValueError("target ids must index the vocabulary")
    return logits, targets


def recall_weights(logits: np.ndarray, targets: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Per target token: 1 - (rank - 1)/k when the true token ranks 1..k, else 0. -> [T]"""
    logits, targets = _check(logits, targets)
    true = logits[np.arange(targets.size), targets]
    rank = 1 + (logits > true[:, None]).sum(axis=1)  # 1 = the arg-max
    return np.where(rank <= k, 1.0 - (rank - 1) / k, 0.0)


def topk_recall(logits: np.ndarray, targets: np.ndarray, k: int = TOP_K) -> float:
    """Position-weighted top-k recall of `targets` [T] under `logits` [T, V]."""
    weights = recall_weights(logits, targets, k)
    return float(weights.mean()) if weights.size else 0.0


def token_log_probs(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log p(target token) per position -> [T] (rows are independent, so chunks concatenate)."""
    logits, targets = _check(logits, targets)
    return _log_softmax(logits)[np.arange(targets.size), targets]


def mean_log_prob(logits: np.ndarray, targets: np.ndarray) -> float:
    return float(token_log_probs(logits, targets).mean())


def pmi(cond_logits: np.ndarray, uncond_logits: np.ndarray, targets: np.ndarray) -> float:
    """Pointwise mutual information of the target between the codes prompt and no prompt."""
    return mean_log_prob(cond_logits, targets) - mean_log_prob(uncond_logits, targets)


def pmi_score(value: float, sensitivity: float = DEFAULT_SENSITIVITY) -> float:
    if not 0.0 < sensitivity <= 1.0:
        raise ValueError(f"sensitivity must be in (0, 1], got {sensitivity}")
    return 1.0 / (1.0 + math.exp(-value / sensitivity))


def global_score(caption: float | None, lyrics: float | None, metadata: dict[str, float]) -> float:
    """The weighted mean over the parts present (metadata = the mean of its field scores)."""
    parts = {"caption": caption, "lyrics": lyrics,
             "metadata": float(np.mean(list(metadata.values()))) if metadata else None}
    present = {k: v for k, v in parts.items() if v is not None}
    if not present:
        return 0.0
    total = sum(WEIGHTS[k] for k in present)
    return sum(WEIGHTS[k] * v for k, v in present.items()) / total
