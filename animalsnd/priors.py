"""How common each class is in a folder of recordings, estimated from the folder itself.

A model learns its classes in the proportions it was trained with (every default recipe
weights classes equally, as if each were as common as the others). A folder of a user's
clips rarely holds them so: most sites have a few of the classes, in their own
proportions. :func:`folder_weights` estimates those proportions from the model's own
probabilities on the folder by expectation-maximisation (Saerens, Latinne & Decaestecker,
2002, "Adjusting the outputs of a classifier to new a priori probabilities"), and
:func:`reweight` moves every clip's probabilities towards them. The weights are damped
(``strength`` 0.5: the square root of the estimated ratio), which measured as well as the
full estimate where the folder holds a few classes and better where it holds them all or
few clips (docs/results.md, "A folder's own class proportions").

``eval --data`` and ``predict --per-file`` apply it to folders of at least
:data:`MIN_CLIPS` clips (``--no-adapt`` turns it off) of a model trained with class weights
(:func:`answers_evenly`); the model's own held-out folds, the cross-validation figures,
never are.
"""

from __future__ import annotations

import numpy as np

MIN_CLIPS = 10  #: smaller folders are scored as they are: too few clips to estimate proportions
STRENGTH = 0.5  #: exponent on the estimated ratio of a class's share to its training share


def answers_evenly(meta: dict) -> bool:
    """Whether a bundle's probabilities treat every class as equally common, the starting point
    of :func:`folder_weights`: trained with class weights (every recipe but the study's
    ``cnn1d`` baseline, whose probabilities carry its training proportions)."""
    return bool((meta.get("train") or {}).get("class_weights", False))


def folder_weights(proba: np.ndarray, *, strength: float = STRENGTH, iters: int = 200,
                   tol: float = 1e-7) -> np.ndarray:
    """Per-class weights ``(n_classes,)`` for the clips of one folder.

    ``proba`` ``(n_clips, n_classes)`` are the model's probabilities of each clip (rows
    summing to one), made as if every class were equally common. Returns
    ``(share / (1 / n_classes)) ** strength`` for the estimated share of every class in the
    folder: ones when ``strength`` is 0 or the folder has fewer than :data:`MIN_CLIPS` clips.
    """
    p = np.asarray(proba, dtype=np.float64)
    k = p.shape[1] if p.ndim == 2 else 0
    if p.ndim != 2 or len(p) < MIN_CLIPS or k < 2 or strength == 0:
        return np.ones(k)
    p = np.clip(p, 1e-12, None)
    p /= p.sum(axis=1, keepdims=True)
    share = np.full(k, 1.0 / k)
    for _ in range(iters):
        q = p * share  # posteriors under the current shares (the training shares are equal)
        q /= q.sum(axis=1, keepdims=True)
        new = q.mean(axis=0)
        done = np.abs(new - share).max() < tol
        share = new
        if done:
            break
    return (share * k) ** strength


def reweight(proba: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``proba`` with every class's column multiplied by its weight, rows renormalised."""
    q = np.asarray(proba, dtype=np.float64) * np.asarray(weights, dtype=np.float64)
    s = q.sum(axis=-1, keepdims=True)
    return np.divide(q, s, out=np.zeros_like(q), where=s > 0)
