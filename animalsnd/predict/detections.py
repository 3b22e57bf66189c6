"""Rows from window probabilities: thresholds, top-k, unknown, merging and the rules of a file's rows.

:func:`detections` turns a file's window probabilities into :class:`Detection`
rows (minimum confidence, per-class thresholds, ``unknown`` below a
confidence, top-k, merged runs of one label). The rules around it:

* **Short tail** (:func:`drop_padded_tail`): the last window of a file may
  hold less audio than the others; the model then sees it padded. When it
  holds less than half a window (:data:`MIN_TAIL_FRACTION`) and is not the
  only window, it is mostly padding and is dropped.
* **Per file** (:func:`per_file_rows`, ``predict --per-file``): one row per
  recording, spanning the whole file, with the label, confidence and top-k
  of its most confident window, an animal by default. Meant for folders of
  short clips, where window rows of one clip may disagree.
* **Merged detections** (:func:`separate`, ``predict --merge``): windows
  overlap, so consecutive detections with different labels would overlap
  too; the boundary between two overlapping detections is moved to the
  middle of their overlap, so detections never overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from animalsnd.background import BACKGROUND, without_background

__all__ = ["MIN_TAIL_FRACTION", "UNKNOWN", "Detection", "detections", "drop_padded_tail", "file_window",
           "per_file_rows", "separate"]

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Detection:
    """One output row: a window, or a run of merged windows, of one file."""

    file: str
    start_s: float
    end_s: float
    label: str
    confidence: float
    top: tuple[tuple[str, float], ...] = ()  # (label, probability), best first


def detections(
    file: str,
    spans_s: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    *,
    min_confidence: float = 0.0,
    top_k: int = 1,
    unknown_below: float = 0.0,
    merge: bool = False,
    thresholds: dict[str, float] | None = None,
    support: np.ndarray | None = None,
    min_support: int = 1,
    keep: np.ndarray | None = None,
) -> list[Detection]:
    """Turn window probabilities into rows.

    Parameters
    ----------
    file : str
        Written into every row.
    spans_s : np.ndarray, shape (n, 2)
        Start and end (seconds) of each window, in order.
    probs : np.ndarray, shape (n, n_classes)
    min_confidence : float
        Windows whose top probability is below this are dropped.
        Windows whose top class is the reserved ``background`` are dropped
        too: background is never reported as a detection.
    top_k : int
        Number of (label, probability) pairs kept per row.
    unknown_below : float
        A window whose top probability is below this is labelled ``unknown``
        (its confidence stays the top probability).
    thresholds : dict, optional
        Per-class confidence thresholds (:mod:`animalsnd.calibration`): a
        window whose top class is ``c`` is dropped below ``thresholds[c]``.
    merge : bool
        Join runs of consecutive kept windows with the same label into one
        row spanning them; its confidence and top-k are those of the run's
        most confident window. Overlapping rows are then split at the middle
        of their overlap (:func:`separate`).
    support, min_support : np.ndarray of int, int
        Each window's best class before pooling; with ``min_support`` > 1 a
        window whose top class is ``c`` is dropped unless ``c`` is the best
        class of at least ``min_support`` of the raw windows ``i-1, i, i+1``
        (a persistence rule: a call fills the windows around it, a stray
        sound one).
    keep : np.ndarray of bool, optional
        Windows that may be reported; the others are dropped (``birdnet-head``'s
        context check, :mod:`animalsnd.families.birdnet_context`).

    Returns
    -------
    list of Detection
    """
    probs = np.asarray(probs, dtype=np.float64)
    rows: list[tuple[int, Detection]] = []
    for i, p in enumerate(probs):
        order = np.argsort(-p, kind="stable")[:top_k]
        conf = float(p[order[0]])
        if conf < min_confidence or classes[order[0]] == BACKGROUND:
            continue
        if keep is not None and not keep[i]:
            continue
        if thresholds and conf < thresholds.get(classes[order[0]], 0.0):
            continue
        if min_support > 1 and support is not None \
                and int(np.sum(support[max(0, i - 1): i + 2] == order[0])) < min_support:
            continue
        label = classes[order[0]] if conf >= unknown_below else UNKNOWN
        top = tuple((classes[j], float(p[j])) for j in order)
        rows.append((i, Detection(file, float(spans_s[i][0]), float(spans_s[i][1]), label, conf, top)))
    if not merge:
        return [d for _, d in rows]
    out: list[Detection] = []
    prev_i = None
    for i, d in rows:
        if out and prev_i == i - 1 and out[-1].label == d.label:
            best = out[-1] if out[-1].confidence >= d.confidence else d
            out[-1] = Detection(file, out[-1].start_s, d.end_s, d.label, best.confidence, best.top)
        else:
            out.append(d)
        prev_i = i
    return separate(out)


#: A last window holding less than this fraction of a window is dropped.
MIN_TAIL_FRACTION = 0.5


def drop_padded_tail(spans_s: np.ndarray, probs: np.ndarray, *, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``spans_s``/``probs`` without a last window that is mostly padding.

    The last window is dropped when there are several and it holds less than
    ``MIN_TAIL_FRACTION * window_s`` seconds of audio.
    """
    spans_s = np.asarray(spans_s, dtype=np.float64).reshape(-1, 2)
    if len(spans_s) > 1 and spans_s[-1, 1] - spans_s[-1, 0] < MIN_TAIL_FRACTION * window_s - 1e-9:
        return spans_s[:-1], probs[:-1]
    return spans_s, probs


def per_file_rows(file: str, duration_s: float, probs: np.ndarray, classes: Sequence[str], *,
                  animals_only: bool = True, **options) -> list:
    """One row for the whole file: the label and top-k of its most confident animal window.

    With ``animals_only`` (the default) a model's background class is never chosen: every
    window's probabilities are renormalised over the animal classes, and the file gets the
    most likely animal of its most confident window even when every window sounds like
    background (a folder of clips, each known to hold a call; ``eval``'s "among the animal
    classes"). Without it, the window is the most confident of those whose top class is not
    ``background`` (a confident stretch of wind does not hide a call elsewhere in the clip),
    and a file with no such window gets a ``background`` row from its most confident
    background window. ``options`` are those of :func:`detections` for one window
    (``min_confidence``, ``top_k``, ``unknown_below``, ``thresholds``), applied to that
    window; no row when it falls below them.
    """
    chosen = file_window(probs, classes, animals_only=animals_only)
    if chosen is None:
        return []
    p, classes = chosen
    if BACKGROUND in classes and int(np.argmax(p)) == classes.index(BACKGROUND):
        return _background_row(file, duration_s, p, classes, **options)  # no animal anywhere: the row says so
    return detections(file, np.array([[0.0, duration_s]]), p[None, :], classes, **options)


def file_window(probs: np.ndarray, classes: Sequence[str], *, animals_only: bool = True):
    """``(p, classes)``: the probabilities of the window that speaks for a file in
    :func:`per_file_rows` (over the animal classes with ``animals_only``), or None for no window.

    The most confident window; without ``animals_only``, the most confident whose top class is
    not background, or the surest background window when every window is background."""
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0:
        return None
    if animals_only:
        probs, classes = without_background(probs, classes)
    classes = list(classes)
    top = probs.max(axis=1)
    if BACKGROUND in classes:  # --allow-background
        b = classes.index(BACKGROUND)
        called = probs.argmax(axis=1) == b
        if called.all():
            return probs[int(np.argmax(probs[:, b]))], classes
        top = np.where(called, -np.inf, top)
    return probs[int(np.argmax(top))], classes


def _background_row(file: str, duration_s: float, p: np.ndarray, classes: list[str], *, min_confidence: float = 0.0,
                    top_k: int = 1, **_) -> list:
    """The one ``background`` row of a file none of whose windows is an animal (``p``: its
    surest background window); none below ``min_confidence``."""
    conf = float(p[classes.index(BACKGROUND)])
    if conf < min_confidence:
        return []
    order = np.argsort(-p, kind="stable")[:top_k]
    return [Detection(file, 0.0, float(duration_s), BACKGROUND, conf, tuple((classes[j], float(p[j])) for j in order))]


def separate(rows: list) -> list:
    """Merged rows of one file, with each overlap split at its middle.

    Rows are in time order, as :func:`detections` makes
    them; a row that starts before the previous one ends gets its start, and
    the previous row its end, at the middle of their overlap.
    """
    from dataclasses import replace

    out = list(rows)
    for i in range(1, len(out)):
        a, b = out[i - 1], out[i]
        if b.start_s < a.end_s:
            cut = round((a.end_s + b.start_s) / 2, 6)
            out[i - 1] = replace(a, end_s=cut)
            out[i] = replace(b, start_s=cut)
    return out
