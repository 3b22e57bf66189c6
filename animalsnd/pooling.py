"""Pooling of overlapping windows' scores: a call cut in two by the window grid keeps its best score.

Used by ``predict`` (``--pool``, and a model's own default) and by the
detection scores of ``eval --annotations``.
"""

from __future__ import annotations

import numpy as np

from animalsnd.errors import ConfigError

__all__ = ["POOLING", "check_pooling", "pool_windows"]

POOLING = ("none", "max", "mean")


def pool_windows(spans_s: np.ndarray, probs: np.ndarray, *, mode: str = "max",
                 min_overlap: float = 0.5) -> np.ndarray:
    """Each window's probabilities pooled with those of the windows that overlap it.

    A call that straddles two overlapping windows is heard whole by neither;
    its class keeps the better of their scores (``max``), or their mean
    (``mean``). Neighbours are the windows that overlap window ``i`` by at
    least ``min_overlap`` of its length: with the default 0.5 and a hop of
    half a window, the one before and the one after; with windows that do
    not overlap (hop = window), none, and nothing changes.

    Parameters
    ----------
    spans_s : np.ndarray, shape (n, 2)
        Start and end of each window, in seconds, in time order.
    probs : np.ndarray, shape (n, n_classes)
    mode : {"none", "max", "mean"}
    min_overlap : float
        In (0, 1]: the share of a window a neighbour must cover.

    Returns
    -------
    np.ndarray, shape (n, n_classes)
        ``probs`` itself for ``mode="none"``.
    """
    check_pooling(mode, flag="pooling")
    if not 0.0 < min_overlap <= 1.0:
        raise ConfigError(f"min_overlap={min_overlap} must be in (0, 1]")
    probs = np.asarray(probs)
    spans_s = np.asarray(spans_s, dtype=float).reshape(-1, 2)
    if mode == "none" or len(probs) < 2:
        return probs
    need = min_overlap * (spans_s[:, 1] - spans_s[:, 0]) - 1e-9
    total = probs.astype(np.float64).copy()
    count = np.ones(len(probs))
    for d in range(1, len(probs)):
        ov = _overlap(spans_s[:-d, 0], spans_s[:-d, 1], spans_s[d:, 0], spans_s[d:, 1])
        back, fwd = ov >= need[d:], ov >= need[:-d]  # window i+d pools i; window i pools i+d
        if not (back.any() or fwd.any()):
            break
        for rows, src, ok in ((slice(d, None), slice(None, -d), back), (slice(None, -d), slice(d, None), fwd)):
            target, other = total[rows], probs[src]
            if mode == "max":
                target[ok] = np.maximum(target[ok], other[ok])
            else:
                target[ok] += other[ok]
                count[rows][ok] += 1
    out = total if mode == "max" else total / count[:, None]
    return out.astype(probs.dtype)


def check_pooling(mode: str, *, flag: str = "--pool") -> str:
    """``mode`` if it is one of :data:`POOLING`; a ConfigError naming ``flag`` otherwise."""
    if mode not in POOLING:
        raise ConfigError(f"{flag} {mode!r} must be one of {', '.join(POOLING)}")
    return mode


def _overlap(a0, a1, b0: float, b1: float):
    return np.maximum(0.0, np.minimum(a1, b1) - np.maximum(a0, b0))
