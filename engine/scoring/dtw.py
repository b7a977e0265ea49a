"""Dynamic time warping over a [tokens, frames] cost matrix (upstream_lm_tools.md §5.2, §5.3).

Classic three moves: diagonal (next token AND next frame), advance the token, advance the
frame. On equal cost the frame advances (upstream's tie rule), so a token holds its frames
rather than skipping ahead. The path runs from (0, 0) to (T-1, F-1) and visits every token.
"""

from __future__ import annotations

import numpy as np

_DIAGONAL, _TOKEN, _FRAME = 0, 1, 2


def dtw_path(cost: np.ndarray) -> np.ndarray:
    """The minimum-cost monotone path through `cost` [T, F] -> int array [N, 2] of (token, frame)."""
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or cost.shape[0] == 0 or cost.shape[1] == 0:
        raise ValueError(f"cost must be a non-empty [tokens, frames] matrix, got shape {cost.shape}")
    if not np.isfinite(cost).all():
        raise ValueError("cost must be finite")
    t_n, f_n = cost.shape
    acc = np.full((t_n + 1, f_n + 1), np.inf)
    acc[0, 0] = 0.0
    move = np.zeros((t_n + 1, f_n + 1), dtype=np.int8)
    for t in range(1, t_n + 1):
        for f in range(1, f_n + 1):
            # Candidates in tie order: advancing the frame wins ties, then the diagonal.
            frame, diag, token = acc[t, f - 1], acc[t - 1, f - 1], acc[t - 1, f]
            if frame <= diag and frame <= token:
                best, how = frame, _FRAME
            elif diag <= token:
                best, how = diag, _DIAGONAL
            else:
                best, how = token, _TOKEN
            acc[t, f] = cost[t - 1, f - 1] + best
            move[t, f] = how
    path = []
    t, f = t_n, f_n
    while t > 0 and f > 0:
        path.append((t - 1, f - 1))
        how = move[t, f]
        if how == _DIAGONAL:
            t, f = t - 1, f - 1
        elif how == _TOKEN:
            t -= 1
        else:
            f -= 1
    return np.array(path[::-1], dtype=np.int64)
