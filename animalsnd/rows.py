"""Rules that turn a file's window probabilities into the rows ``predict`` reports.

* **Short tail** (:func:`drop_padded_tail`): the last window of a file may
  hold less audio than the others; the model then sees it padded. When it
  holds less than half a window (:data:`MIN_TAIL_FRACTION`) and is not the
  only window, it is mostly padding and is dropped.
* **Per file** (:func:`per_file_rows`, ``predict --per-file``): one row per
  recording, spanning the whole file, with the label, confidence and top-k
  of its most confident window. Meant for folders of short clips, where
  window rows of one clip may disagree.
* **Merged detections** (:func:`separate`, ``predict --merge``): windows
  overlap, so consecutive detections with different labels would overlap
  too; the boundary between two overlapping detections is moved to the
  middle of their overlap, so detections never overlap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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


def per_file_rows(file: str, duration_s: float, probs: np.ndarray, classes: Sequence[str], **options) -> list:
    """One row for the whole file: its most confident window's label and top-k.

    ``options`` are those of :func:`animalsnd.predict.detections`
    (``min_confidence``, ``top_k``, ``unknown_below``), applied to that
    window; no row when the file has no window or it falls below
    ``min_confidence``.
    """
    from animalsnd.predict import detections

    probs = np.asarray(probs)
    if len(probs) == 0:
        return []
    best = int(np.argmax(probs.max(axis=1)))
    return detections(file, np.array([[0.0, duration_s]]), probs[best:best + 1], classes, **options)


def separate(rows: list) -> list:
    """Merged rows of one file, with each overlap split at its middle.

    Rows are in time order, as :func:`animalsnd.predict.detections` makes
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
