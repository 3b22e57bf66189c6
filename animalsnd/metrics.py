"""Classification metrics of a held-out set, and their spread across folds.

All functions take integer class ids (indices into ``classes``) and return
plain Python numbers, lists and dicts, ready for JSON.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SUMMARY_KEYS: tuple[str, ...] = ("accuracy", "macro_f1", "weighted_f1")


def _as_ids(y: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr.astype(int, copy=False)


def confusion(y_true: Sequence[int], y_pred: Sequence[int], *, n_classes: int) -> np.ndarray:
    """Confusion matrix: rows are true classes, columns predicted classes.

    Returns
    -------
    np.ndarray, shape (n_classes, n_classes), int
    """
    from sklearn.metrics import confusion_matrix

    t, p = _as_ids(y_true, "y_true"), _as_ids(y_pred, "y_pred")
    return confusion_matrix(t, p, labels=np.arange(n_classes)).astype(int)


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], *, classes: Sequence[str]
) -> dict:
    """Accuracy, macro/weighted F1, per-class scores and the confusion matrix.

    Macro F1 averages the classes present in ``y_true`` or ``y_pred`` (a class
    absent from both says nothing about the model); weighted F1 weights each
    class by its support. Undefined precision/recall (nothing predicted, or
    no support) count as 0.

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``weighted_f1``, ``n``,
        ``per_class`` ({label: {precision, recall, f1, support}}, in the order
        of ``classes``) and ``confusion`` (list of rows, true x predicted).
    """
    from sklearn.metrics import precision_recall_fscore_support

    t, p = _as_ids(y_true, "y_true"), _as_ids(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} differ in length")
    n_classes = len(classes)
    if t.size == 0:
        raise ValueError("no examples to score")
    labels = np.arange(n_classes)
    prec, rec, f1, support = precision_recall_fscore_support(
        t, p, labels=labels, zero_division=0
    )
    present = np.isin(labels, np.union1d(t, p))
    return {
        "accuracy": float(np.mean(t == p)),
        "macro_f1": float(f1[present].mean()),
        "weighted_f1": float(np.average(f1, weights=support)) if support.sum() else 0.0,
        "n": int(t.size),
        "per_class": {
            str(c): {
                "precision": float(prec[i]),
                "recall": float(rec[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
        "confusion": confusion(t, p, n_classes=n_classes).tolist(),
    }


def aggregate(
    results: Sequence[dict], *, keys: Sequence[str] = SUMMARY_KEYS
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and (population, ``ddof=0``) standard deviation of ``keys``.

    Parameters
    ----------
    results : sequence of dict
        One dict per fold holding at least ``keys``.

    Returns
    -------
    mean, std : dict[str, float]
    """
    if not results:
        raise ValueError("no results to aggregate")
    mean, std = {}, {}
    for k in keys:
        v = np.array([float(r[k]) for r in results], dtype=np.float64)
        mean[k] = float(v.mean())
        std[k] = float(v.std())
    return mean, std


def condition_summary(scores: dict[str, Sequence[dict]]) -> dict[str, dict]:
    """Per condition (``"clean"``, an SNR, a recording chain): the mean of
    ``SUMMARY_KEYS`` over the runs, plus ``std`` and the runs themselves
    (``folds``) when there is more than one."""
    out = {}
    for label, rows in scores.items():
        mean, std = aggregate(rows)
        entry = dict(mean)
        if len(rows) > 1:
            entry.update(std=std, folds=list(rows))
        out[label] = entry
    return out
